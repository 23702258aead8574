//! Column lineage from SQL: for each output column of a `SELECT`, the input columns it is
//! computed from, resolved through select lists, aliases, CTEs, subqueries, joins and `*`
//! (expanded from the schemas the caller knows), and whether a value-destroying function
//! (a hash, `count`, `sum`, `avg`) stands between them. `min`, `max`, `any_value`, `string_agg`
//! and `array_agg` return input values, so they carry them unmasked. What cannot be resolved is
//! a [`Lineage::unresolved`] entry, never a guess.
//!
//! [`dbt`] adopts a dbt project (`dk init --from-dbt`) and derives its models' column lineage
//! from their compiled SQL.

pub mod dbt;

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, Function, ObjectName, ObjectNamePart, Query, Select, SelectItem,
    SelectItemQualifiedWildcardKind, SetExpr, Statement, TableFactor, Visit, Visitor,
};
use sqlparser::dialect::{DuckDbDialect, GenericDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;

/// The SQL dialect of the warehouse the query runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Duckdb,
    Postgres,
    Sqlite,
    Generic,
}

impl Dialect {
    /// The dialect of a dbt adapter or dk store type.
    pub fn of(name: &str) -> Dialect {
        match name {
            "duckdb" => Dialect::Duckdb,
            "postgres" | "postgresql" => Dialect::Postgres,
            "sqlite" => Dialect::Sqlite,
            _ => Dialect::Generic,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SqlError {
    #[error("cannot parse the SQL: {0}")]
    Parse(String),
    #[error("the SQL is not a single SELECT query")]
    NotAQuery,
}

/// One input column an output column is computed from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    /// The relation as the query names it, lower-cased, quotes removed (`db.main.customers`).
    pub relation: String,
    pub column: String,
    /// The value-destroying function between the input and the output, if any.
    pub masked: Option<Masking>,
}

/// How a function destroys its input's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Masking {
    /// A hash (`md5`, `sha256`, ...).
    Hash,
    /// An aggregate of many values (`count`, `sum`, `avg`).
    Aggregate,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Lineage {
    /// Output columns in select-list order, each with its origins (empty for constants).
    pub columns: Vec<(String, Vec<Origin>)>,
    /// Output columns, or references, that could not be resolved, with the reason.
    pub unresolved: Vec<(String, String)>,
}

/// Functions whose result does not reveal their input's value.
const HASHES: [&str; 8] = [
    "md5", "sha1", "sha256", "sha512", "sha2", "hash", "xxhash", "crc32",
];
const AGGREGATES: [&str; 4] = ["count", "sum", "avg", "approx_count_distinct"];

/// The columns of a relation the caller knows (an upstream model, a source, a seed), by the
/// relation's name as [`Origin::relation`] spells it.
pub type Schemas = BTreeMap<String, Vec<String>>;

fn normalize(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => ident.value.to_lowercase(),
            other => other.to_string().to_lowercase(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The columns a relation in scope provides: each with its own origins.
#[derive(Debug, Clone)]
struct Relation {
    alias: String,
    /// `None` when the relation's columns are not known (a table without a schema).
    columns: Option<Vec<(String, Vec<Origin>)>>,
    /// The base table's name, for columns of a relation whose schema is unknown.
    table: Option<String>,
}

struct Resolver<'a> {
    schemas: &'a Schemas,
    unresolved: Vec<(String, String)>,
}

/// Parses `sql` and works out the lineage of its output columns.
pub fn column_lineage(sql: &str, dialect: Dialect, schemas: &Schemas) -> Result<Lineage, SqlError> {
    let statements = match dialect {
        Dialect::Duckdb => Parser::parse_sql(&DuckDbDialect {}, sql),
        Dialect::Postgres => Parser::parse_sql(&PostgreSqlDialect {}, sql),
        Dialect::Sqlite => Parser::parse_sql(&SQLiteDialect {}, sql),
        Dialect::Generic => Parser::parse_sql(&GenericDialect {}, sql),
    }
    .map_err(|err| SqlError::Parse(err.to_string()))?;
    let [Statement::Query(query)] = statements.as_slice() else {
        return Err(SqlError::NotAQuery);
    };
    let mut resolver = Resolver {
        schemas,
        unresolved: Vec::new(),
    };
    let columns = resolver.query(query, &BTreeMap::new());
    Ok(Lineage {
        columns,
        unresolved: resolver.unresolved,
    })
}

type Ctes = BTreeMap<String, Vec<(String, Vec<Origin>)>>;

impl Resolver<'_> {
    fn query(&mut self, query: &Query, outer: &Ctes) -> Vec<(String, Vec<Origin>)> {
        let mut ctes = outer.clone();
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                let mut columns = self.query(&cte.query, &ctes);
                for (column, alias) in columns.iter_mut().zip(&cte.alias.columns) {
                    column.0 = alias.name.value.to_lowercase();
                }
                ctes.insert(cte.alias.name.value.to_lowercase(), columns);
            }
        }
        self.set_expr(&query.body, &ctes)
    }

    fn set_expr(&mut self, body: &SetExpr, ctes: &Ctes) -> Vec<(String, Vec<Origin>)> {
        match body {
            SetExpr::Select(select) => self.select(select, ctes),
            SetExpr::Query(query) => self.query(query, ctes),
            // A union's columns come from every branch, by position.
            SetExpr::SetOperation { left, right, .. } => {
                let mut columns = self.set_expr(left, ctes);
                let right = self.set_expr(right, ctes);
                for (column, (_, origins)) in columns.iter_mut().zip(right) {
                    column.1.extend(origins);
                    column.1.sort();
                    column.1.dedup();
                }
                columns
            }
            other => {
                self.unresolved
                    .push(("*".into(), format!("unsupported query body `{other}`")));
                Vec::new()
            }
        }
    }

    fn relation(&mut self, factor: &TableFactor, ctes: &Ctes) -> Option<Relation> {
        match factor {
            TableFactor::Table { name, alias, .. } => {
                let table = normalize(name);
                let short = name
                    .0
                    .last()
                    .map(|p| match p {
                        ObjectNamePart::Identifier(i) => i.value.to_lowercase(),
                        other => other.to_string(),
                    })
                    .unwrap_or_default();
                let alias = alias
                    .as_ref()
                    .map(|a| a.name.value.to_lowercase())
                    .unwrap_or(short);
                if name.0.len() == 1
                    && let Some(columns) = ctes.get(&table)
                {
                    return Some(Relation {
                        alias,
                        columns: Some(columns.clone()),
                        table: None,
                    });
                }
                let columns = self.schemas.get(&table).map(|columns| {
                    columns
                        .iter()
                        .map(|c| {
                            let c = c.to_lowercase();
                            let origin = Origin {
                                relation: table.clone(),
                                column: c.clone(),
                                masked: None,
                            };
                            (c, vec![origin])
                        })
                        .collect()
                });
                Some(Relation {
                    alias,
                    columns,
                    table: Some(table),
                })
            }
            TableFactor::Derived {
                subquery, alias, ..
            } => {
                let columns = self.query(subquery, ctes);
                Some(Relation {
                    alias: alias
                        .as_ref()
                        .map(|a| a.name.value.to_lowercase())
                        .unwrap_or_default(),
                    columns: Some(columns),
                    table: None,
                })
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => self.relation(&table_with_joins.relation, ctes),
            other => {
                self.unresolved
                    .push(("*".into(), format!("unsupported FROM item `{other}`")));
                None
            }
        }
    }

    fn select(&mut self, select: &Select, ctes: &Ctes) -> Vec<(String, Vec<Origin>)> {
        let mut scope = Vec::new();
        for table in &select.from {
            scope.extend(self.relation(&table.relation, ctes));
            for join in &table.joins {
                scope.extend(self.relation(&join.relation, ctes));
            }
        }
        let mut out = Vec::new();
        for item in &select.projection {
            match item {
                SelectItem::UnnamedExpr(expr) => {
                    let name = match expr {
                        Expr::Identifier(ident) => ident.value.to_lowercase(),
                        Expr::CompoundIdentifier(parts) => parts
                            .last()
                            .map(|i| i.value.to_lowercase())
                            .unwrap_or_default(),
                        other => other.to_string().to_lowercase(),
                    };
                    let origins = self.expr(expr, &scope, &name);
                    out.push((name, origins));
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    let name = alias.value.to_lowercase();
                    let origins = self.expr(expr, &scope, &name);
                    out.push((name, origins));
                }
                SelectItem::Wildcard(_) => {
                    for relation in &scope {
                        out.extend(self.expand(relation));
                    }
                }
                SelectItem::QualifiedWildcard(kind, _) => {
                    let SelectItemQualifiedWildcardKind::ObjectName(name) = kind else {
                        self.unresolved
                            .push((kind.to_string(), "a wildcard over an expression".into()));
                        continue;
                    };
                    let alias = normalize(name);
                    match scope.iter().find(|r| r.alias == alias) {
                        Some(relation) => out.extend(self.expand(relation)),
                        None => self.unresolved.push((
                            format!("{alias}.*"),
                            format!("no relation `{alias}` in FROM"),
                        )),
                    }
                }
            }
        }
        out
    }

    fn expand(&mut self, relation: &Relation) -> Vec<(String, Vec<Origin>)> {
        match &relation.columns {
            Some(columns) => columns.clone(),
            None => {
                self.unresolved.push((
                    format!("{}.*", relation.alias),
                    format!(
                        "the columns of {} are not known, so `*` cannot be expanded",
                        relation.table.as_deref().unwrap_or(&relation.alias)
                    ),
                ));
                Vec::new()
            }
        }
    }

    /// The origins of the columns `expr` reads, masked where a masking function encloses them.
    fn expr(&mut self, expr: &Expr, scope: &[Relation], output: &str) -> Vec<Origin> {
        let mut refs = References::default();
        let _ = expr.visit(&mut refs);
        let mut origins = Vec::new();
        for (path, masked) in refs.found {
            match self.reference(&path, scope) {
                Ok(found) => origins.extend(found.into_iter().map(|mut o| {
                    o.masked = o.masked.or(masked);
                    o
                })),
                Err(reason) => self.unresolved.push((output.to_owned(), reason)),
            }
        }
        origins.sort();
        origins.dedup();
        origins
    }

    fn reference(&self, path: &[String], scope: &[Relation]) -> Result<Vec<Origin>, String> {
        let (qualifier, column) = match path {
            [column] => (None, column.as_str()),
            [.., qualifier, column] => (Some(qualifier.as_str()), column.as_str()),
            [] => return Err("an empty column reference".into()),
        };
        let candidates: Vec<&Relation> = scope
            .iter()
            .filter(|r| qualifier.is_none_or(|q| r.alias == q))
            .collect();
        if candidates.is_empty() {
            return Err(format!("`{}` names no relation in FROM", path.join(".")));
        }
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for relation in &candidates {
            match &relation.columns {
                Some(columns) => {
                    if let Some((_, origins)) = columns.iter().find(|(name, _)| name == column) {
                        known.push(origins.clone());
                    }
                }
                None => unknown.push(*relation),
            }
        }
        match (known.len(), unknown.as_slice()) {
            (1, []) => Ok(known.remove(0)),
            (0, [relation]) => Ok(vec![Origin {
                relation: relation.table.clone().unwrap_or_default(),
                column: column.to_owned(),
                masked: None,
            }]),
            (0, []) => Err(format!("no relation in FROM has a column `{column}`")),
            _ => Err(format!(
                "`{column}` is ambiguous: more than one relation in FROM may have it"
            )),
        }
    }
}

/// Column references in an expression, each with whether a masking function encloses it.
/// Subqueries inside the expression are not entered: their columns are theirs.
#[derive(Default)]
struct References {
    found: Vec<(Vec<String>, Option<Masking>)>,
    /// The masking functions enclosing the visited expression, outermost first.
    masking: Vec<Masking>,
    subquery: usize,
}

fn masks(function: &Function) -> Option<Masking> {
    let name = function
        .name
        .0
        .last()
        .map(|p| p.to_string().to_lowercase())
        .unwrap_or_default();
    let name = name.trim_matches('"');
    if HASHES.contains(&name) {
        Some(Masking::Hash)
    } else if AGGREGATES.contains(&name) {
        Some(Masking::Aggregate)
    } else {
        None
    }
}

impl Visitor for References {
    type Break = ();

    fn pre_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.subquery += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.subquery -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if self.subquery > 0 {
            return ControlFlow::Continue(());
        }
        let enclosing = self.masking.first().copied();
        match expr {
            Expr::Function(function) => self.masking.extend(masks(function)),
            Expr::Identifier(ident) => self
                .found
                .push((vec![ident.value.to_lowercase()], enclosing)),
            Expr::CompoundIdentifier(parts) => self.found.push((
                parts.iter().map(|p| p.value.to_lowercase()).collect(),
                enclosing,
            )),
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if self.subquery == 0
            && let Expr::Function(function) = expr
            && masks(function).is_some()
        {
            self.masking.pop();
        }
        ControlFlow::Continue(())
    }
}
