//! The lineage store in PostgreSQL: the tables, keys and rules of the SQLite store (store.rs),
//! for a team server that several `dk lineage serve` replicas share.
//!
//! - Ingestion is idempotent across replicas: an event is inserted by its key with
//!   `ON CONFLICT DO NOTHING`, and what it derives (runs, jobs, datasets, tags) is written by one
//!   replica at a time (a transaction-level advisory lock), so that the read-then-write rules of
//!   the SQLite store (a newer run wins) hold across replicas.
//! - The schema is versioned in `dk_lineage_migrations`; migrations run under an advisory lock,
//!   once, whichever replica starts first.
//! - Text columns compare bytewise (`COLLATE "C"`), as SQLite does: orderings and the key ranges
//!   of a run's events are the same in both stores.

mod ingest;
mod read;
mod url;

use std::cell::RefCell;
use std::collections::HashMap;

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, Row, Statement};

use crate::store::{EventCache, StoreError};

pub use url::PgUrl;

/// `pg_advisory_xact_lock` keys: schema migrations, and ingestion.
const MIGRATION_LOCK: i64 = 0x646b_6c69_6e65_0001;
const INGEST_LOCK: i64 = 0x646b_6c69_6e65_0002;

/// The schema, one step per version; a step never changes once released.
const MIGRATIONS: &[(i32, &str)] = &[(1, SCHEMA_V1), (2, SCHEMA_V2)];

const SCHEMA_V1: &str = r#"
CREATE TABLE events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    key TEXT COLLATE "C" PRIMARY KEY,
    run_id TEXT COLLATE "C" NOT NULL,
    event_type TEXT COLLATE "C" NOT NULL,
    event_time TEXT COLLATE "C" NOT NULL,
    job_namespace TEXT COLLATE "C" NOT NULL,
    job_name TEXT COLLATE "C" NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE runs (
    run_id TEXT COLLATE "C" PRIMARY KEY,
    job_namespace TEXT COLLATE "C" NOT NULL,
    job_name TEXT COLLATE "C" NOT NULL,
    state TEXT COLLATE "C" NOT NULL,
    started_at TEXT COLLATE "C",
    ended_at TEXT COLLATE "C",
    updated_at TEXT COLLATE "C" NOT NULL
);
CREATE INDEX runs_by_job ON runs (job_namespace, job_name, updated_at);
CREATE TABLE jobs (
    namespace TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    last_run_id TEXT COLLATE "C" NOT NULL,
    last_state TEXT COLLATE "C" NOT NULL,
    last_time TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    streaming BOOLEAN NOT NULL,
    PRIMARY KEY (namespace, name)
);
CREATE INDEX jobs_by_name ON jobs (name);
CREATE INDEX jobs_by_full_name ON jobs ((namespace || '/' || name));
CREATE TABLE datasets (
    namespace TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    alias TEXT COLLATE "C",
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (namespace, name)
);
CREATE INDEX datasets_by_name ON datasets (name);
CREATE INDEX datasets_by_alias ON datasets (alias);
CREATE INDEX datasets_by_full_name ON datasets ((namespace || '/' || name));
CREATE TABLE job_io (
    job_namespace TEXT COLLATE "C" NOT NULL,
    job_name TEXT COLLATE "C" NOT NULL,
    dataset_namespace TEXT COLLATE "C" NOT NULL,
    dataset_name TEXT COLLATE "C" NOT NULL,
    direction TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (job_namespace, job_name, dataset_namespace, dataset_name, direction)
);
CREATE INDEX job_io_by_dataset ON job_io (dataset_namespace, dataset_name, direction);
CREATE TABLE event_times (
    at TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (at, key)
);
CREATE TABLE appearances (
    kind TEXT COLLATE "C" NOT NULL,
    namespace TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    at TEXT COLLATE "C" NOT NULL,
    event_key TEXT COLLATE "C" NOT NULL,
    role TEXT COLLATE "C" NOT NULL,
    run_id TEXT COLLATE "C",
    PRIMARY KEY (kind, namespace, name, at, event_key, role)
);
CREATE TABLE dataset_tags (
    namespace TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    field TEXT COLLATE "C" NOT NULL,
    tag TEXT COLLATE "C" NOT NULL,
    at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (namespace, name, field, tag)
);
CREATE INDEX dataset_tags_by_tag ON dataset_tags (tag);
"#;

/// Fewer index entries per event: every entry is a B-tree insert on ingest. Events are ordered
/// by `seq` but never looked up by it, and most datasets have no alias (`alias = $1` still uses
/// the partial index: it implies `alias IS NOT NULL`).
const SCHEMA_V2: &str = r#"
ALTER TABLE events DROP CONSTRAINT events_seq_key;
DROP INDEX datasets_by_alias;
CREATE INDEX datasets_by_alias ON datasets (alias) WHERE alias IS NOT NULL;
"#;

/// The lineage store in a PostgreSQL database.
pub struct PgStore {
    url: PgUrl,
    /// Always `Some` but while dropped (see the `Drop` impl).
    client: RefCell<Option<Client>>,
    /// Statements prepared on this connection, by their SQL.
    statements: RefCell<HashMap<String, Statement>>,
    pub(crate) parsed: EventCache,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("url", &self.url).finish()
    }
}

/// Connects without TLS, as dk's other PostgreSQL clients do (`sslmode=prefer` falls back to a
/// plain connection; `require` fails).
fn connect(url: &PgUrl) -> Result<Client, StoreError> {
    url.config()
        .connect(postgres::NoTls)
        .map_err(|err| StoreError::Database(format!("cannot connect to {url}: {err}")))
}

impl PgStore {
    /// Connects and brings the schema to the newest version (once, under a lock, whichever
    /// replica gets there first). Blocking: call it off the async threads.
    pub fn connect(url: &PgUrl) -> Result<PgStore, StoreError> {
        let mut client = connect(url)?;
        migrate(&mut client)?;
        Ok(PgStore {
            url: url.clone(),
            client: RefCell::new(Some(client)),
            statements: RefCell::new(HashMap::new()),
            parsed: EventCache::default(),
        })
    }

    /// The schema versions applied, oldest first.
    pub fn migrations(&self) -> Result<Vec<i32>, StoreError> {
        let rows = self.query(
            "SELECT version FROM dk_lineage_migrations ORDER BY version",
            &[],
        )?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// A new connection when the last one broke (the database restarted): prepared statements
    /// went with it.
    fn reconnect_if_closed(&self) -> Result<(), StoreError> {
        if self.client.borrow().as_ref().is_none_or(Client::is_closed) {
            *self.client.borrow_mut() = Some(connect(&self.url)?);
            self.statements.borrow_mut().clear();
        }
        Ok(())
    }

    fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, StoreError> {
        self.reconnect_if_closed()?;
        let mut client = self.client.borrow_mut();
        let client = client.as_mut().expect("connected");
        let statement = prepared(&self.statements, client, sql)?;
        Ok(client.query(&statement, params)?)
    }

    fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// `read` given the rows of `sql` as they arrive: those it does not take are not kept.
    fn query_each<T>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        read: impl FnOnce(&mut dyn Iterator<Item = Result<Row, StoreError>>) -> T,
    ) -> Result<T, StoreError> {
        self.reconnect_if_closed()?;
        let mut client = self.client.borrow_mut();
        let client = client.as_mut().expect("connected");
        let statement = prepared(&self.statements, client, sql)?;
        let rows = client.query_raw(&statement, params.iter().copied())?;
        let mut rows = rows.iterator().map(|row| row.map_err(StoreError::from));
        Ok(read(&mut rows))
    }

    fn count(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<usize, StoreError> {
        let rows = self.query(sql, params)?;
        Ok(rows.first().map_or(0, |row| row.get::<_, i64>(0)) as usize)
    }
}

impl Drop for PgStore {
    /// The client's drop blocks on a runtime of its own, which cannot start on an async thread
    /// (where the server's last reference may go): there it is dropped on a thread of its own.
    fn drop(&mut self) {
        if let Some(client) = self.client.get_mut().take()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            std::thread::spawn(move || drop(client));
        }
    }
}

/// `sql` prepared on this connection (once): statements by their SQL.
fn prepared(
    statements: &RefCell<HashMap<String, Statement>>,
    client: &mut impl postgres::GenericClient,
    sql: &str,
) -> Result<Statement, StoreError> {
    if let Some(statement) = statements.borrow().get(sql) {
        return Ok(statement.clone());
    }
    let statement = client.prepare(sql)?;
    statements
        .borrow_mut()
        .insert(sql.to_owned(), statement.clone());
    Ok(statement)
}

/// Applies the migrations this database lacks, in one transaction under the migration lock:
/// replicas starting together wait for the first, then find nothing to do.
fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut transaction = client.transaction()?;
    transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    transaction.batch_execute(
        "CREATE TABLE IF NOT EXISTS dk_lineage_migrations (
            version INTEGER PRIMARY KEY,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
    )?;
    let applied: Option<i32> = transaction
        .query_one("SELECT MAX(version) FROM dk_lineage_migrations", &[])?
        .get(0);
    let applied = applied.unwrap_or(0);
    let newest = MIGRATIONS.last().map_or(0, |(version, _)| *version);
    if applied > newest {
        return Err(StoreError::Database(format!(
            "the database holds lineage schema version {applied}, newer than this dk knows ({newest}): upgrade dk"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > applied) {
        transaction.batch_execute(sql)?;
        transaction.execute(
            "INSERT INTO dk_lineage_migrations (version) VALUES ($1)",
            &[version],
        )?;
    }
    transaction.commit()?;
    Ok(())
}
