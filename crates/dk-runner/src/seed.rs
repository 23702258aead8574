//! `dk dev seed`: sample rows from a DataSet's `dev.seed` (inline, or a CSV/JSON file, per
//! profile) written into its store. A checksum of the rows is kept with the data (the
//! `_dk_seed_meta` table, or `.dk-seed-meta.json` beside files): unchanged data is skipped,
//! changed data replaced.
//!
//! Seeding is synchronous: the PostgreSQL client runs its own small runtime and must not be
//! called from inside an async one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use dk_manifest::model::{DataSet, Field, Format};

use crate::contract::ResolvedStore;
use crate::plan::DatasetPlan;

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("dataset '{dataset}': seed profile `{profile}` does not exist")]
    UnknownProfile { dataset: String, profile: String },
    #[error("dataset '{dataset}': cannot read seed file {}: {message}", path.display())]
    File {
        dataset: String,
        path: PathBuf,
        message: String,
    },
    #[error("dataset '{dataset}': cannot seed a {store_type} store")]
    Unsupported { dataset: String, store_type: String },
    #[error("dataset '{dataset}': {message}")]
    Write { dataset: String, message: String },
    /// The store did not answer or refused the connection: an external failure, not the rows'.
    #[error("dataset '{dataset}': cannot connect to its store: {message}")]
    Connect { dataset: String, message: String },
    #[error("dataset '{dataset}': {}", match .python { Some(python) => format!("the Python that seeds DuckDB, {}, has no `{module}` module", python.display()), None => "seeding DuckDB needs Python 3, and there is no python3 on PATH".to_owned() })]
    MissingModule {
        dataset: String,
        python: Option<PathBuf>,
        module: &'static str,
    },
}

impl SeedError {
    /// What to do about it, when the message alone does not say.
    pub fn hint(&self) -> Option<String> {
        match self {
            SeedError::MissingModule {
                python: Some(python),
                module,
                ..
            } => Some(format!(
                "install it there (`{} -m pip install {module}`), or put the bin directory of dbt's environment (with dbt-duckdb) first on PATH: dk uses the Python its `dbt` runs on",
                python.display()
            )),
            SeedError::MissingModule { python: None, .. } => Some(
                "install Python 3 with dbt-duckdb (pip install dbt-duckdb) and put it on PATH"
                    .into(),
            ),
            SeedError::Connect { .. } => Some(
                "check that the store is running and reachable (dk store show NAME; dk dev status)"
                    .into(),
            ),
            _ => None,
        }
    }

    /// Whether another system failed, rather than the package's seed rows or settings.
    pub fn is_external(&self) -> bool {
        matches!(self, SeedError::Connect { .. })
    }
}

/// The largest `.dk-seed-meta.json` read: one checksum per seeded file.
const SEED_META_LIMIT: u64 = 1 << 20;

/// What to seed.
#[derive(Debug, Clone, Default)]
pub struct SeedOptions {
    pub profile: Option<String>,
    /// Reload even when the rows did not change.
    pub force: bool,
    /// Remove seeded rows instead of loading them.
    pub clean: bool,
    /// A Python with the `duckdb` module, for DuckDB stores (dk links no DuckDB itself).
    pub duckdb_python: Option<PathBuf>,
}

/// What happened to one DataSet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Seeded {
    pub dataset: String,
    pub location: String,
    pub profile: String,
    pub rows: usize,
    /// Loaded, skipped because unchanged, or cleaned.
    pub action: SeedAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SeedAction {
    Loaded,
    Unchanged,
    Cleaned,
}

/// A DataSet to seed, with its resolved store.
#[derive(Debug, Clone)]
pub struct SeedTarget<'a> {
    pub dataset: &'a DataSet,
    pub store: &'a ResolvedStore,
    /// Table, path or prefix within the store.
    pub locator: &'a str,
    /// The locator resolved against the store (absolute path for files).
    pub location: &'a str,
    pub package_dir: &'a Path,
}

impl<'a> SeedTarget<'a> {
    /// A dataset of a run plan.
    pub fn of(dataset: &'a DatasetPlan, package_dir: &'a Path) -> SeedTarget<'a> {
        SeedTarget {
            dataset: &dataset.dataset,
            store: &dataset.store,
            locator: &dataset.locator.1,
            location: &dataset.location,
            package_dir,
        }
    }

    fn name(&self) -> &str {
        &self.dataset.metadata.name
    }

    fn error(&self, message: impl std::fmt::Display) -> SeedError {
        SeedError::Write {
            dataset: self.name().to_owned(),
            message: message.to_string(),
        }
    }
}

/// Whether a DataSet declares seed rows at all.
pub fn has_seed(dataset: &DataSet) -> bool {
    dataset
        .spec
        .dev
        .as_ref()
        .and_then(|dev| dev.seed.as_ref())
        .is_some()
}

fn read_rows(target: &SeedTarget<'_>, path: &str) -> Result<Vec<Map<String, Value>>, SeedError> {
    let path = target.package_dir.join(path);
    let fail = |message: String| SeedError::File {
        dataset: target.name().to_owned(),
        path: path.clone(),
        message,
    };
    let text = dk_fs::read_to_string(&path, crate::PACKAGE_FILE_LIMIT)
        .map_err(|err| fail(err.to_string()))?;
    if path.extension().is_some_and(|ext| ext == "csv") {
        let mut lines = text.lines().filter(|line| !line.trim().is_empty());
        let header: Vec<String> = lines.next().map(split_csv).unwrap_or_default();
        return Ok(lines
            .map(|line| {
                header
                    .iter()
                    .cloned()
                    .zip(split_csv(line).into_iter().map(Value::String))
                    .collect()
            })
            .collect());
    }
    let value: Value = serde_json::from_str(&text).map_err(|err| fail(err.to_string()))?;
    match value {
        Value::Array(rows) => Ok(rows
            .into_iter()
            .filter_map(|row| row.as_object().cloned())
            .collect()),
        _ => Err(fail("expected a JSON array of objects".into())),
    }
}

/// A CSV line's fields (quoted fields may hold commas and doubled quotes).
fn split_csv(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// The rows of the chosen profile.
fn rows(
    target: &SeedTarget<'_>,
    profile: Option<&str>,
) -> Result<Vec<Map<String, Value>>, SeedError> {
    let Some(seed) = target
        .dataset
        .spec
        .dev
        .as_ref()
        .and_then(|dev| dev.seed.as_ref())
    else {
        return Ok(Vec::new());
    };
    let (inline, file) = match profile {
        None => (&seed.inline, &seed.file),
        Some(name) => {
            let chosen = seed
                .profiles
                .get(name)
                .ok_or_else(|| SeedError::UnknownProfile {
                    dataset: target.name().to_owned(),
                    profile: name.to_owned(),
                })?;
            (&chosen.inline, &chosen.file)
        }
    };
    let mut rows: Vec<Map<String, Value>> = inline
        .iter()
        .filter_map(|row| row.as_object().cloned())
        .collect();
    if let Some(file) = file {
        rows.extend(read_rows(target, file)?);
    }
    Ok(rows)
}

/// The columns to write: the schema's fields, else the rows' keys in order of appearance.
fn columns(schema: &[Field], rows: &[Map<String, Value>]) -> Vec<(String, String)> {
    if !schema.is_empty() {
        return schema
            .iter()
            .map(|f| (f.name.clone(), f.field_type.to_ascii_lowercase()))
            .collect();
    }
    let mut names: Vec<String> = Vec::new();
    for row in rows {
        for key in row.keys() {
            if !names.contains(key) {
                names.push(key.clone());
            }
        }
    }
    names
        .into_iter()
        .map(|name| (name, "string".to_owned()))
        .collect()
}

fn checksum(rows: &[Map<String, Value>]) -> String {
    hex::encode(Sha256::digest(serde_json::to_vec(rows).unwrap_or_default()))
}

/// A value as text, the way every writer passes it (databases cast it to the column type).
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `schema.table` quoted for SQL.
fn qualified(table: &str) -> String {
    table
        .split('.')
        .map(quote_ident)
        .collect::<Vec<_>>()
        .join(".")
}

/// Seeds every target; a target without seed rows is left alone.
pub fn seed(targets: &[SeedTarget<'_>], options: &SeedOptions) -> Result<Vec<Seeded>, SeedError> {
    let mut results = Vec::new();
    for target in targets.iter().filter(|t| has_seed(t.dataset)) {
        let rows = rows(target, options.profile.as_deref())?;
        let sum = checksum(&rows);
        let columns = columns(&target.dataset.spec.schema, &rows);
        let action = match target.store.store_type.as_str() {
            "postgres" | "postgresql" => postgres(target, &rows, &columns, &sum, options)?,
            "sqlite" => sqlite(target, &rows, &columns, &sum, options)?,
            "file" => file(target, &rows, &columns, &sum, options)?,
            "duckdb" => duckdb(target, &rows, &columns, &sum, options)?,
            other => {
                return Err(SeedError::Unsupported {
                    dataset: target.name().to_owned(),
                    store_type: other.to_owned(),
                });
            }
        };
        results.push(Seeded {
            dataset: target.name().to_owned(),
            location: target.location.to_owned(),
            profile: options.profile.clone().unwrap_or_else(|| "default".into()),
            rows: rows.len(),
            action,
        });
    }
    Ok(results)
}

/// The SQL databases seeded from Rust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Postgres,
    Sqlite,
    Duckdb,
}

/// Column types by dialect (PostgreSQL, SQLite, DuckDB) for the schema types of DataSets;
/// anything else is text.
const SQL_TYPES: &[(&[&str], [&str; 3])] = &[
    (
        &["integer", "int", "bigint", "long"],
        ["bigint", "INTEGER", "BIGINT"],
    ),
    (
        &["float", "double", "real"],
        ["double precision", "REAL", "DOUBLE"],
    ),
    (
        &["decimal", "numeric"],
        ["numeric", "REAL", "DECIMAL(38, 9)"],
    ),
    (&["boolean", "bool"], ["boolean", "INTEGER", "BOOLEAN"]),
    (&["date"], ["date", "TEXT", "DATE"]),
    (
        &["timestamp", "datetime"],
        ["timestamptz", "TEXT", "TIMESTAMP"],
    ),
    (&["json"], ["jsonb", "TEXT", "VARCHAR"]),
];

fn sql_type(dialect: Dialect, field_type: &str) -> &'static str {
    let column = dialect as usize;
    SQL_TYPES
        .iter()
        .find(|(names, _)| names.contains(&field_type))
        .map_or(["text", "TEXT", "VARCHAR"][column], |(_, types)| {
            types[column]
        })
}

/// One seeding transaction, whatever the driver.
trait SeedTransaction {
    fn dialect(&self) -> Dialect;
    /// Statements without parameters or results.
    fn run(&mut self, sql: &str) -> Result<(), String>;
    fn checksum(&mut self, dataset: &str) -> Result<Option<String>, String>;
    fn forget(&mut self, dataset: &str) -> Result<(), String>;
    fn insert(&mut self, sql: &str, rows: &[Vec<Option<String>>]) -> Result<(), String>;
    fn remember(&mut self, dataset: &str, checksum: &str, rows: i64) -> Result<(), String>;
    fn commit(self) -> Result<(), String>;
}

impl SeedTransaction for postgres::Transaction<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn run(&mut self, sql: &str) -> Result<(), String> {
        self.batch_execute(sql).map_err(|err| err.to_string())
    }

    fn checksum(&mut self, dataset: &str) -> Result<Option<String>, String> {
        self.query_opt(
            "SELECT checksum FROM _dk_seed_meta WHERE dataset = $1",
            &[&dataset],
        )
        .map(|row| row.map(|row| row.get(0)))
        .map_err(|err| err.to_string())
    }

    fn forget(&mut self, dataset: &str) -> Result<(), String> {
        self.execute("DELETE FROM _dk_seed_meta WHERE dataset = $1", &[&dataset])
            .map(drop)
            .map_err(|err| err.to_string())
    }

    fn insert(&mut self, sql: &str, rows: &[Vec<Option<String>>]) -> Result<(), String> {
        let insert = self.prepare(sql).map_err(|err| err.to_string())?;
        for row in rows {
            let params: Vec<&(dyn postgres::types::ToSql + Sync)> = row
                .iter()
                .map(|value| value as &(dyn postgres::types::ToSql + Sync))
                .collect();
            self.execute(&insert, &params)
                .map_err(|err| err.to_string())?;
        }
        Ok(())
    }

    fn remember(&mut self, dataset: &str, checksum: &str, rows: i64) -> Result<(), String> {
        self.execute(
            "INSERT INTO _dk_seed_meta (dataset, checksum, rows) VALUES ($1, $2, $3) ON CONFLICT (dataset) DO UPDATE SET checksum = excluded.checksum, rows = excluded.rows, seeded_at = now()",
            &[&dataset, &checksum, &rows],
        )
        .map(drop)
        .map_err(|err| err.to_string())
    }

    fn commit(self) -> Result<(), String> {
        postgres::Transaction::commit(self).map_err(|err| err.to_string())
    }
}

impl SeedTransaction for rusqlite::Transaction<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn run(&mut self, sql: &str) -> Result<(), String> {
        self.execute_batch(sql).map_err(|err| err.to_string())
    }

    fn checksum(&mut self, dataset: &str) -> Result<Option<String>, String> {
        use rusqlite::OptionalExtension;
        self.query_row(
            "SELECT checksum FROM _dk_seed_meta WHERE dataset = ?1",
            [dataset],
            |row| row.get(0),
        )
        .optional()
        .map_err(|err| err.to_string())
    }

    fn forget(&mut self, dataset: &str) -> Result<(), String> {
        self.execute("DELETE FROM _dk_seed_meta WHERE dataset = ?1", [dataset])
            .map(drop)
            .map_err(|err| err.to_string())
    }

    fn insert(&mut self, sql: &str, rows: &[Vec<Option<String>>]) -> Result<(), String> {
        let mut insert = self.prepare(sql).map_err(|err| err.to_string())?;
        for row in rows {
            insert
                .execute(rusqlite::params_from_iter(row))
                .map_err(|err| err.to_string())?;
        }
        Ok(())
    }

    fn remember(&mut self, dataset: &str, checksum: &str, rows: i64) -> Result<(), String> {
        self.execute(
            "INSERT INTO _dk_seed_meta (dataset, checksum, rows) VALUES (?1, ?2, ?3) ON CONFLICT (dataset) DO UPDATE SET checksum = excluded.checksum, rows = excluded.rows, seeded_at = CURRENT_TIMESTAMP",
            rusqlite::params![dataset, checksum, rows],
        )
        .map(drop)
        .map_err(|err| err.to_string())
    }

    fn commit(self) -> Result<(), String> {
        rusqlite::Transaction::commit(self).map_err(|err| err.to_string())
    }
}

/// Seeds one table in `transaction`: the checksum table and the target table are created when
/// missing; unchanged rows are left alone (unless forced), changed ones replace the table's rows.
fn seed_table(
    mut transaction: impl SeedTransaction,
    target: &SeedTarget<'_>,
    rows: &[Map<String, Value>],
    columns: &[(String, String)],
    sum: &str,
    options: &SeedOptions,
) -> Result<SeedAction, String> {
    let dialect = transaction.dialect();
    let (table, meta, clear) = match dialect {
        Dialect::Postgres => (
            qualified(target.locator),
            "CREATE TABLE IF NOT EXISTS _dk_seed_meta (dataset text PRIMARY KEY, checksum text NOT NULL, rows bigint NOT NULL, seeded_at timestamptz NOT NULL DEFAULT now())",
            "TRUNCATE",
        ),
        Dialect::Sqlite | Dialect::Duckdb => (
            qualified(target.locator.trim_start_matches("main.")),
            "CREATE TABLE IF NOT EXISTS _dk_seed_meta (dataset TEXT PRIMARY KEY, checksum TEXT NOT NULL, rows INTEGER NOT NULL, seeded_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)",
            "DELETE FROM",
        ),
    };
    transaction.run(meta)?;
    if dialect == Dialect::Postgres
        && let Some((schema, _)) = target.locator.split_once('.')
    {
        transaction.run(&format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            quote_ident(schema)
        ))?;
    }
    let definition = columns
        .iter()
        .map(|(name, ty)| format!("{} {}", quote_ident(name), sql_type(dialect, ty)))
        .collect::<Vec<_>>()
        .join(", ");
    transaction.run(&format!(
        "CREATE TABLE IF NOT EXISTS {table} ({definition})"
    ))?;
    let previous = transaction.checksum(target.name())?;
    if options.clean {
        transaction.run(&format!("{clear} {table}"))?;
        transaction.forget(target.name())?;
        transaction.commit()?;
        return Ok(SeedAction::Cleaned);
    }
    if previous.as_deref() == Some(sum) && !options.force {
        return Ok(SeedAction::Unchanged);
    }
    transaction.run(&format!("{clear} {table}"))?;
    let names = columns
        .iter()
        .map(|(name, _)| quote_ident(name))
        .collect::<Vec<_>>()
        .join(", ");
    // Values go in as text; PostgreSQL needs the cast, SQLite applies column affinity.
    let values = columns
        .iter()
        .enumerate()
        .map(|(i, (_, ty))| match dialect {
            Dialect::Postgres => format!("${}::text::{}", i + 1, sql_type(dialect, ty)),
            Dialect::Sqlite | Dialect::Duckdb => format!("?{}", i + 1),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let texts: Vec<Vec<Option<String>>> = rows
        .iter()
        .map(|row| {
            columns
                .iter()
                .map(|(name, _)| text(row.get(name)))
                .collect()
        })
        .collect();
    transaction.insert(
        &format!("INSERT INTO {table} ({names}) VALUES ({values})"),
        &texts,
    )?;
    transaction.remember(target.name(), sum, rows.len() as i64)?;
    transaction.commit()?;
    Ok(SeedAction::Loaded)
}

fn postgres(
    target: &SeedTarget<'_>,
    rows: &[Map<String, Value>],
    columns: &[(String, String)],
    sum: &str,
    options: &SeedOptions,
) -> Result<SeedAction, SeedError> {
    let mut client =
        postgres::Client::connect(&target.store.dsn, postgres::NoTls).map_err(|err| {
            SeedError::Connect {
                dataset: target.name().to_owned(),
                message: err.to_string(),
            }
        })?;
    let transaction = client.transaction().map_err(|err| target.error(err))?;
    seed_table(transaction, target, rows, columns, sum, options).map_err(|err| target.error(err))
}

fn sqlite(
    target: &SeedTarget<'_>,
    rows: &[Map<String, Value>],
    columns: &[(String, String)],
    sum: &str,
    options: &SeedOptions,
) -> Result<SeedAction, SeedError> {
    let path = local_path(target)?;
    let mut connection = rusqlite::Connection::open(path).map_err(|err| target.error(err))?;
    let transaction = connection.transaction().map_err(|err| target.error(err))?;
    seed_table(transaction, target, rows, columns, sum, options).map_err(|err| target.error(err))
}

/// The database file of a sqlite or duckdb store, its directory created.
fn local_path<'a>(target: &SeedTarget<'a>) -> Result<&'a str, SeedError> {
    let path = target
        .store
        .connection
        .get("path")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if let Some(dir) = Path::new(path).parent() {
        std::fs::create_dir_all(dir).map_err(|err| target.error(err))?;
    }
    Ok(path)
}

/// DuckDB through Python's `duckdb` module: the request goes in on stdin as JSON, the action
/// comes back on stdout.
const DUCKDB_SEEDER: &str = r#"
import json, sys
import duckdb
r = json.load(sys.stdin)
con = duckdb.connect(r["path"])
con.execute("CREATE TABLE IF NOT EXISTS _dk_seed_meta (dataset VARCHAR PRIMARY KEY, checksum VARCHAR, rows BIGINT)")
if r["schema"]:
    con.execute(f'CREATE SCHEMA IF NOT EXISTS "{r["schema"]}"')
cols = ", ".join(f'"{n}" {t}' for n, t in r["columns"])
con.execute(f'CREATE TABLE IF NOT EXISTS {r["table"]} ({cols})')
prev = con.execute("SELECT checksum FROM _dk_seed_meta WHERE dataset = ?", [r["dataset"]]).fetchone()
if r["clean"]:
    con.execute(f'DELETE FROM {r["table"]}')
    con.execute("DELETE FROM _dk_seed_meta WHERE dataset = ?", [r["dataset"]])
    print("cleaned"); sys.exit(0)
if prev and prev[0] == r["checksum"] and not r["force"]:
    print("unchanged"); sys.exit(0)
con.execute(f'DELETE FROM {r["table"]}')
names = ", ".join(f'"{n}"' for n, _ in r["columns"])
marks = ", ".join(f"CAST(? AS {t})" for _, t in r["columns"])
if r["rows"]:
    con.executemany(f'INSERT INTO {r["table"]} ({names}) VALUES ({marks})', r["rows"])
con.execute("INSERT OR REPLACE INTO _dk_seed_meta VALUES (?, ?, ?)", [r["dataset"], r["checksum"], len(r["rows"])])
con.close()
print("loaded")
"#;

fn duckdb(
    target: &SeedTarget<'_>,
    rows: &[Map<String, Value>],
    columns: &[(String, String)],
    sum: &str,
    options: &SeedOptions,
) -> Result<SeedAction, SeedError> {
    use std::io::Write;
    let missing = |python: Option<&PathBuf>| SeedError::MissingModule {
        dataset: target.name().to_owned(),
        python: python.cloned(),
        module: "duckdb",
    };
    let python = options
        .duckdb_python
        .as_ref()
        .ok_or_else(|| missing(None))?;
    let path = local_path(target)?;
    let request = serde_json::json!({
        "path": path,
        "dataset": target.name(),
        "schema": target.locator.split_once('.').map(|(schema, _)| schema),
        "table": qualified(target.locator),
        "columns": columns.iter().map(|(name, ty)| (name.clone(), sql_type(Dialect::Duckdb, ty))).collect::<Vec<_>>(),
        "rows": rows.iter().map(|row| columns.iter().map(|(name, _)| text(row.get(name))).collect::<Vec<_>>()).collect::<Vec<_>>(),
        "checksum": sum,
        "clean": options.clean,
        "force": options.force,
    });
    let mut child = std::process::Command::new(python)
        .args(["-c", DUCKDB_SEEDER])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|err| target.error(format!("{}: {err}", python.display())))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(request.to_string().as_bytes())
            .map_err(|err| target.error(err))?;
    }
    let output = child.wait_with_output().map_err(|err| target.error(err))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("No module named 'duckdb'") {
            return Err(missing(Some(python)));
        }
        let last = stderr.lines().last().unwrap_or("failed");
        return Err(target.error(format!("duckdb: {last}")));
    }
    Ok(match String::from_utf8_lossy(&output.stdout).trim() {
        "unchanged" => SeedAction::Unchanged,
        "cleaned" => SeedAction::Cleaned,
        _ => SeedAction::Loaded,
    })
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn file(
    target: &SeedTarget<'_>,
    rows: &[Map<String, Value>],
    columns: &[(String, String)],
    sum: &str,
    options: &SeedOptions,
) -> Result<SeedAction, SeedError> {
    let path = Path::new(target.location);
    let meta_path = path
        .parent()
        .unwrap_or(Path::new("."))
        .join(".dk-seed-meta.json");
    let mut meta: BTreeMap<String, String> = dk_fs::read_to_string(&meta_path, SEED_META_LIMIT)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    let key = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if options.clean {
        let _ = std::fs::remove_file(path);
        meta.remove(&key);
    } else if meta.get(&key).map(String::as_str) == Some(sum) && path.exists() && !options.force {
        return Ok(SeedAction::Unchanged);
    } else {
        let json = target.dataset.spec.format == Some(Format::Json)
            || path.extension().is_some_and(|e| e == "json");
        let contents = if json {
            serde_json::to_string_pretty(rows).unwrap_or_default() + "\n"
        } else {
            let mut out = columns
                .iter()
                .map(|(name, _)| csv_field(name))
                .collect::<Vec<_>>()
                .join(",")
                + "\n";
            for row in rows {
                let line: Vec<String> = columns
                    .iter()
                    .map(|(name, _)| csv_field(&text(row.get(name)).unwrap_or_default()))
                    .collect();
                out.push_str(&line.join(","));
                out.push('\n');
            }
            out
        };
        dk_fs::write_atomic(path, contents.as_bytes()).map_err(|err| target.error(err))?;
        meta.insert(key, sum.to_owned());
    }
    dk_fs::write_atomic(
        &meta_path,
        serde_json::to_string_pretty(&meta)
            .unwrap_or_default()
            .as_bytes(),
    )
    .map_err(|err| target.error(err))?;
    Ok(if options.clean {
        SeedAction::Cleaned
    } else {
        SeedAction::Loaded
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines_split_with_quotes() {
        assert_eq!(
            split_csv(r#"1,"Lovelace, Ada","say ""hi""",x"#),
            ["1", "Lovelace, Ada", "say \"hi\"", "x"]
        );
    }
}
