//! Column lineage over SQL snippets: what resolves, what masks, and what is reported as
//! unresolved instead of guessed.

use dk_sql::{Dialect, Lineage, Masking, Origin, Schemas, column_lineage};

fn schemas() -> Schemas {
    [
        (
            "db.raw.customers",
            vec!["id", "first_name", "email", "country"],
        ),
        ("db.raw.orders", vec!["id", "customer_id", "amount"]),
    ]
    .into_iter()
    .map(|(t, c)| (t.to_owned(), c.into_iter().map(str::to_owned).collect()))
    .collect()
}

fn lineage(sql: &str) -> Lineage {
    column_lineage(sql, Dialect::Duckdb, &schemas()).expect("parses")
}

fn from(table: &str, column: &str, masked: bool) -> Origin {
    Origin {
        relation: table.to_owned(),
        column: column.to_owned(),
        masked: masked.then_some(Masking::Aggregate),
    }
}

fn of<'a>(lineage: &'a Lineage, column: &str) -> &'a [Origin] {
    &lineage
        .columns
        .iter()
        .find(|(name, _)| name == column)
        .unwrap_or_else(|| panic!("no output column {column}: {lineage:?}"))
        .1
}

#[test]
fn select_lists_aliases_and_quoted_names_resolve() {
    let l = lineage(
        r#"select c.id as customer_id, lower("email") as email, country from "db"."raw"."customers" as c"#,
    );
    let names: Vec<&str> = l.columns.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["customer_id", "email", "country"]);
    assert_eq!(
        of(&l, "customer_id"),
        [from("db.raw.customers", "id", false)]
    );
    assert_eq!(of(&l, "email"), [from("db.raw.customers", "email", false)]);
    assert!(l.unresolved.is_empty(), "{l:?}");
}

#[test]
fn ctes_joins_and_star_expand_through_known_schemas() {
    let l = lineage(
        "with c as (select * from db.raw.customers), \
              o as (select customer_id, sum(amount) as total, max(amount) as biggest from db.raw.orders group by 1) \
         select c.*, o.total, o.biggest from c left join o on o.customer_id = c.id",
    );
    let names: Vec<&str> = l.columns.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["id", "first_name", "email", "country", "total", "biggest"]
    );
    assert_eq!(
        of(&l, "first_name"),
        [from("db.raw.customers", "first_name", false)]
    );
    // sum destroys the value; max returns one of the inputs.
    assert_eq!(of(&l, "total"), [from("db.raw.orders", "amount", true)]);
    assert_eq!(of(&l, "biggest"), [from("db.raw.orders", "amount", false)]);
    assert!(l.unresolved.is_empty(), "{l:?}");
}

#[test]
fn only_value_destroying_functions_mask() {
    let l = lineage(
        "select md5(email) as h, count(distinct email) as n, avg(id) as a, \
                min(email) as lo, any_value(email) as anyv, string_agg(first_name, ',') as names, \
                array_agg(email) as emails, coalesce(md5(email), first_name) as mixed \
         from db.raw.customers",
    );
    let masking = |column| of(&l, column).iter().map(|o| o.masked).collect::<Vec<_>>();
    assert_eq!(masking("h"), [Some(Masking::Hash)]);
    assert_eq!(masking("n"), [Some(Masking::Aggregate)]);
    assert_eq!(masking("a"), [Some(Masking::Aggregate)]);
    for carried in ["lo", "anyv", "names", "emails"] {
        assert!(
            of(&l, carried).iter().all(|o| o.masked.is_none()),
            "{carried}: {l:?}"
        );
    }
    assert_eq!(masking("mixed"), [Some(Masking::Hash), None]);
}

#[test]
fn subqueries_and_unions_resolve_by_position() {
    let l = lineage(
        "select p.amount from (select customer_id, sum(amount) as amount from db.raw.orders group by 1) as p \
         union all select id from db.raw.customers",
    );
    assert_eq!(
        of(&l, "amount"),
        [
            from("db.raw.customers", "id", false),
            from("db.raw.orders", "amount", true)
        ]
    );
}

#[test]
fn what_cannot_be_resolved_is_reported_not_guessed() {
    // The columns of an unknown table cannot be expanded.
    let l = lineage("select * from db.raw.unknown");
    assert!(l.columns.is_empty());
    assert!(l.unresolved[0].1.contains("db.raw.unknown"), "{l:?}");

    // An unqualified column that a known relation has and one of unknown shape may have is
    // ambiguous; one that only the unknown one can have is its.
    let l =
        lineage("select id, mystery from db.raw.customers c join db.raw.unknown u on u.x = c.id");
    assert!(
        l.unresolved
            .iter()
            .any(|(column, reason)| column == "id" && reason.contains("ambiguous")),
        "{l:?}"
    );
    assert_eq!(of(&l, "id"), []);
    assert_eq!(
        of(&l, "mystery"),
        [from("db.raw.unknown", "mystery", false)]
    );

    // A column no relation has, and a qualifier naming nothing.
    let l = lineage("select nope, z.id from db.raw.customers");
    let reasons: Vec<&str> = l.unresolved.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(reasons, ["nope", "id"], "{l:?}");

    // A column of a table whose schema is unknown resolves to that table: it is the only one.
    let l = lineage("select x from db.raw.unknown");
    assert_eq!(of(&l, "x"), [from("db.raw.unknown", "x", false)]);
}

#[test]
fn what_is_not_a_query_is_an_error() {
    assert!(column_lineage("select (1", Dialect::Postgres, &schemas()).is_err());
    assert!(column_lineage("delete from t", Dialect::Postgres, &schemas()).is_err());
    assert!(column_lineage("select 1; select 2", Dialect::Sqlite, &schemas()).is_err());
}
