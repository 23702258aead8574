//! The local lineage store: every event dk emits (and every event `dk lineage serve` receives)
//! lands here, so `dk lineage` answers with nothing else running.
//!
//! Ingestion is idempotent (an event is keyed by run, type and time, or by a digest when it has
//! neither; see [`crate::event::Received`]): a re-delivered event changes nothing. Each job keeps
//! the inputs and outputs of its latest run.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use uuid::Uuid;

use crate::event::{
    DatasetHead, EventHead, JobHead, Received, ReceivedKind, RunEvent, normalized_time,
};
use crate::graph::{self, Direction, Neighbourhood};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("lineage store {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("lineage store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("lineage store: an event that is not OpenLineage JSON: {0}")]
    Event(#[from] serde_json::Error),
    #[error("lineage store: cannot create {path}: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
    #[error("lineage store: cannot sync {path} to disk: {message}")]
    Sync { path: String, message: String },
    #[error("lineage store (PostgreSQL): {0}")]
    Postgres(#[from] postgres::Error),
    #[error("lineage store (PostgreSQL): {0}")]
    Database(String),
    #[error("lineage store inbox {path}: {source}")]
    Inbox {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "lineage store {path} is served by another `dk lineage serve`, or another dk is indexing what one left (it holds {path}-inbox/lock): stop that server, or serve another store"
    )]
    InUse { path: String },
}

/// The tables, and the indexes of stores from before [`MIGRATIONS`]. Few indexes: every one is
/// written by each ingested event. Events of a run are found by their key, which starts with the
/// run id (`<runId>:<type>:<time>`).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    key TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    event_time TEXT NOT NULL,
    job_namespace TEXT NOT NULL,
    job_name TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    job_namespace TEXT NOT NULL,
    job_name TEXT NOT NULL,
    state TEXT NOT NULL,
    started_at TEXT,
    ended_at TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    last_run_id TEXT NOT NULL,
    last_state TEXT NOT NULL,
    last_time TEXT NOT NULL,
    created_at TEXT NOT NULL,
    streaming INTEGER NOT NULL,
    PRIMARY KEY (namespace, name)
);
CREATE TABLE IF NOT EXISTS datasets (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    alias TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (namespace, name)
);
CREATE TABLE IF NOT EXISTS job_io (
    job_namespace TEXT NOT NULL,
    job_name TEXT NOT NULL,
    dataset_namespace TEXT NOT NULL,
    dataset_name TEXT NOT NULL,
    direction TEXT NOT NULL,
    PRIMARY KEY (job_namespace, job_name, dataset_namespace, dataset_name, direction)
);
CREATE INDEX IF NOT EXISTS job_io_by_dataset ON job_io (dataset_namespace, dataset_name, direction);
CREATE TABLE IF NOT EXISTS deliveries (
    event_key TEXT NOT NULL,
    target TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (event_key, target)
);
CREATE INDEX IF NOT EXISTS runs_by_job ON runs (job_namespace, job_name, updated_at);
CREATE TABLE IF NOT EXISTS event_times (
    at TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (at, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS appearances (
    kind TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    at TEXT NOT NULL,
    event_key TEXT NOT NULL,
    role TEXT NOT NULL,
    run_id TEXT,
    PRIMARY KEY (kind, namespace, name, at, event_key, role)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dataset_tags (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    field TEXT NOT NULL,
    tag TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (namespace, name, field, tag)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dataset_tags_by_tag ON dataset_tags (tag);
";

/// What a store gains over the versions of dk, in order: a store's `user_version` is the number
/// of migrations it has had, so each runs once per store (in the transaction that records it)
/// and a store written by any older dk is brought up to date when it is opened.
const MIGRATIONS: &[Migration] = &[
    // 1: the events a store recorded before it had event times, appearances and tags.
    Migration::Reindex,
    // 2: what `dk lineage NAME` and the API look nodes up by, so that a lookup costs the same at
    // a million datasets as at ten: a job or dataset by its bare name or DataSet name (the
    // primary keys only serve `namespace` + `name`). Written once per new job or dataset, not
    // per event; the alias index holds only datasets that have one.
    Migration::Sql(
        "CREATE INDEX IF NOT EXISTS jobs_by_name ON jobs (name);
         CREATE INDEX IF NOT EXISTS datasets_by_name ON datasets (name);
         CREATE INDEX IF NOT EXISTS datasets_by_alias ON datasets (alias) WHERE alias IS NOT NULL;",
    ),
    // 3: events `dk lineage serve` acknowledged and had not indexed yet, before its inbox was
    // a folder of its own (`crate::inbox`): still settled when a store is opened.
    Migration::Sql(
        "CREATE TABLE IF NOT EXISTS inbox (id INTEGER PRIMARY KEY, payload TEXT NOT NULL);",
    ),
];

enum Migration {
    Reindex,
    Sql(&'static str),
}

/// An event on its way into the store: a RunEvent (dk's own, or received) or a static one.
pub(crate) enum Entry<'a> {
    Run {
        head: &'a EventHead,
        key: Cow<'a, str>,
        /// As recorded: empty for a received RunEvent without `eventType`.
        event_type: &'static str,
    },
    Dataset {
        key: &'a str,
        time: &'a str,
        dataset: &'a DatasetHead,
    },
    Job {
        key: &'a str,
        time: &'a str,
        job: &'a JobHead,
        inputs: &'a [DatasetHead],
        outputs: &'a [DatasetHead],
    },
}

impl<'a> Entry<'a> {
    pub(crate) fn datasets(&self) -> Vec<&'a DatasetHead> {
        match self {
            Entry::Run { head, .. } => head.inputs.iter().chain(&head.outputs).collect(),
            Entry::Dataset { dataset, .. } => vec![*dataset],
            Entry::Job {
                inputs, outputs, ..
            } => inputs.iter().chain(outputs.iter()).collect(),
        }
    }

    pub(crate) fn received(event: &'a Received) -> Entry<'a> {
        match &event.kind {
            ReceivedKind::Run { head, typed } => Entry::Run {
                head,
                key: Cow::Borrowed(&event.key),
                event_type: if *typed { head.event_type.as_str() } else { "" },
            },
            ReceivedKind::Dataset {
                event_time,
                dataset,
            } => Entry::Dataset {
                key: &event.key,
                time: event_time,
                dataset,
            },
            ReceivedKind::Job {
                event_time,
                job,
                inputs,
                outputs,
            } => Entry::Job {
                key: &event.key,
                time: event_time,
                job,
                inputs,
                outputs,
            },
        }
    }
}

/// One row of `appearances` an event makes: kind, namespace, name, role and run id.
pub(crate) type Appearance<'a> = (&'static str, &'a str, &'a str, &'static str, Option<String>);

/// Where the jobs and datasets of an event appear (for their facets and versions). A RunEvent's
/// rows carry its run id only when its job owns the run (`owns_run`): another job's event would
/// otherwise credit the run with the datasets it names, as versions the run made.
pub(crate) fn appearances<'a>(entry: &Entry<'a>, owns_run: bool) -> Vec<Appearance<'a>> {
    let (run_id, job, datasets): (Option<String>, Option<&JobHead>, Vec<(&str, &DatasetHead)>) =
        match entry {
            Entry::Run { head, .. } => (
                Some(head.run.run_id.to_string()),
                Some(&head.job),
                roles(&head.inputs, &head.outputs),
            ),
            Entry::Dataset { dataset, .. } => (None, None, vec![("static", *dataset)]),
            Entry::Job {
                job,
                inputs,
                outputs,
                ..
            } => (None, Some(*job), roles(inputs, outputs)),
        };
    let mut rows = Vec::with_capacity(datasets.len() + 1);
    let role = if run_id.is_some() { "run" } else { "static" };
    let run_id = run_id.filter(|_| owns_run);
    if let Some(job) = job {
        rows.push((
            "job",
            job.namespace.as_str(),
            job.name.as_str(),
            role,
            run_id.clone(),
        ));
    }
    for (role, dataset) in datasets {
        rows.push((
            "dataset",
            dataset.namespace.as_str(),
            dataset.name.as_str(),
            role,
            run_id.clone(),
        ));
    }
    rows
}

/// Where jobs and datasets appear (for their facets and versions), and event times in time
/// order; the normalised time of the event.
fn index_event(
    transaction: &rusqlite::Transaction<'_>,
    entry: &Entry<'_>,
    key: &str,
    time: &str,
    owns_run: bool,
) -> Result<String, StoreError> {
    let at = normalized_time(time);
    transaction
        .prepare_cached("INSERT OR IGNORE INTO event_times (at, key) VALUES (?2, ?1)")?
        .execute(params![key, at])?;
    let mut appear = transaction.prepare_cached(
        "INSERT OR IGNORE INTO appearances (kind, namespace, name, at, event_key, role, run_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (kind, namespace, name, role, run_id) in appearances(entry, owns_run) {
        appear.execute(params![kind, namespace, name, at, key, role, run_id])?;
    }
    Ok(at)
}

pub(crate) fn roles<'a>(
    inputs: &'a [DatasetHead],
    outputs: &'a [DatasetHead],
) -> Vec<(&'static str, &'a DatasetHead)> {
    let inputs = inputs.iter().map(|d| ("input", d));
    inputs
        .chain(outputs.iter().map(|d| ("output", d)))
        .collect()
}

/// The newest tags of each dataset in a batch, with the normalised time that set them.
pub(crate) type BatchTags = HashMap<(String, String), (String, crate::event::Tags)>;

/// A fresh event, for the tag index: its normalised time, JSON and datasets.
pub(crate) struct Tagged<'a> {
    pub(crate) at: String,
    pub(crate) payload: &'a str,
    pub(crate) datasets: Vec<&'a DatasetHead>,
}

/// The tags of each dataset as of its newest `tags` facet among `events`. Events are read
/// newest first, and an event's facets are parsed only while one of its datasets has no tags
/// yet: parsing costs more than the rest of ingestion.
pub(crate) fn newest_tags(mut events: Vec<Tagged<'_>>) -> BatchTags {
    events.sort_by(|a, b| b.at.cmp(&a.at));
    let mut tags = BatchTags::new();
    // Borrowed names: a lookup per dataset per event must not copy them.
    let mut known: HashSet<(&str, &str)> = HashSet::new();
    for event in &events {
        if event
            .datasets
            .iter()
            .all(|d| known.contains(&(d.namespace.as_str(), d.name.as_str())))
        {
            continue;
        }
        for (namespace, name, found) in crate::event::dataset_tags(event.payload) {
            tags.entry((namespace, name))
                .or_insert_with(|| (event.at.clone(), found));
        }
        // A dataset without a facet here may have one in an older event; one with a facet
        // is settled.
        for dataset in &event.datasets {
            if tags.contains_key(&(dataset.namespace.clone(), dataset.name.clone())) {
                known.insert((dataset.namespace.as_str(), dataset.name.as_str()));
            }
        }
    }
    tags
}

/// A dataset's tags become those of its newest `tags` facet: once per dataset per batch, and
/// rewritten only when they changed.
fn replace_tags(
    transaction: &rusqlite::Transaction<'_>,
    tags: BatchTags,
) -> Result<(), StoreError> {
    let mut stored = transaction.prepare_cached(
        "SELECT field, tag, at FROM dataset_tags WHERE namespace = ?1 AND name = ?2 ORDER BY field, tag",
    )?;
    let mut touch = transaction
        .prepare_cached("UPDATE dataset_tags SET at = ?3 WHERE namespace = ?1 AND name = ?2")?;
    let mut clear = transaction
        .prepare_cached("DELETE FROM dataset_tags WHERE namespace = ?1 AND name = ?2")?;
    let mut insert = transaction.prepare_cached(
        "INSERT OR IGNORE INTO dataset_tags (namespace, name, field, tag, at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for ((namespace, name), (at, mut found)) in tags {
        let rows = stored.query_map(params![namespace, name], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?;
        let (mut current, mut newest) = (Vec::new(), None::<String>);
        for row in rows {
            let (field, tag, time) = row?;
            newest = Some(newest.map_or(time.clone(), |n| n.max(time)));
            current.push((field, tag));
        }
        if newest.as_deref().is_some_and(|newest| newest > at.as_str()) {
            continue;
        }
        found.sort();
        found.dedup();
        if !current.is_empty() && current == found {
            touch.execute(params![namespace, name, at])?;
            continue;
        }
        if !current.is_empty() {
            clear.execute(params![namespace, name])?;
        }
        for (field, tag) in &found {
            insert.execute(params![namespace, name, field, tag, at])?;
        }
    }
    Ok(())
}

/// A JobEvent: the job is recorded (without a run), and the inputs and outputs it declares
/// become its own unless a newer event of the job is known.
fn static_job(
    transaction: &rusqlite::Transaction<'_>,
    time: &str,
    job: &JobHead,
    inputs: &[DatasetHead],
    outputs: &[DatasetHead],
) -> Result<(), StoreError> {
    let latest: Option<String> = transaction
        .prepare_cached("SELECT last_time FROM jobs WHERE namespace = ?1 AND name = ?2")?
        .query_row(params![job.namespace, job.name], |row| row.get(0))
        .optional()?;
    if latest.as_deref().is_some_and(|latest| latest > time) {
        return Ok(());
    }
    transaction
        .prepare_cached(
            "INSERT INTO jobs (namespace, name, last_run_id, last_state, last_time, created_at, streaming)
             VALUES (?1, ?2, '', '', ?3, ?3, ?4)
             ON CONFLICT (namespace, name) DO UPDATE SET last_time = excluded.last_time,
               streaming = excluded.streaming",
        )?
        .execute(params![job.namespace, job.name, time, job.streaming()])?;
    if inputs.is_empty() && outputs.is_empty() {
        return Ok(());
    }
    transaction
        .prepare_cached("DELETE FROM job_io WHERE job_namespace = ?1 AND job_name = ?2")?
        .execute(params![job.namespace, job.name])?;
    for (direction, dataset) in roles(inputs, outputs) {
        upsert_dataset(transaction, dataset, time)?;
        transaction
            .prepare_cached(
                "INSERT OR IGNORE INTO job_io (job_namespace, job_name, dataset_namespace, dataset_name, direction) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![job.namespace, job.name, dataset.namespace, dataset.name, direction])?;
    }
    Ok(())
}

fn upsert_dataset(
    transaction: &rusqlite::Transaction<'_>,
    dataset: &DatasetHead,
    time: &str,
) -> Result<(), StoreError> {
    transaction
        .prepare_cached(UPSERT_DATASET)?
        .execute(params![
            dataset.namespace,
            dataset.name,
            dataset.alias(),
            time
        ])?;
    Ok(())
}

const UPSERT_DATASET: &str = "INSERT INTO datasets (namespace, name, alias, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (namespace, name) DO UPDATE SET alias = COALESCE(excluded.alias, datasets.alias),
           updated_at = MAX(datasets.updated_at, excluded.updated_at)";

/// What an ingestion did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Ingested {
    pub new: usize,
    pub duplicate: usize,
}

/// Where an event stands with a delivery target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    Pending,
    /// Being sent: marked before the request, so that a flush killed while it waits for the
    /// answer re-sends only this event.
    Sending,
    Delivered,
    /// The backend refused it (4xx); retrying the same event will not help.
    Rejected,
}

impl DeliveryState {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Sending => "sending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Rejected => "rejected",
        }
    }

    fn parse(text: &str) -> DeliveryState {
        match text {
            "delivered" => DeliveryState::Delivered,
            "rejected" => DeliveryState::Rejected,
            "sending" => DeliveryState::Sending,
            _ => DeliveryState::Pending,
        }
    }
}

/// An event as `dk lineage events` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoredEvent {
    pub key: String,
    pub run_id: String,
    pub event_type: String,
    pub event_time: String,
    pub job: String,
    pub deliveries: Vec<Delivery>,
    /// The OpenLineage RunEvent as recorded.
    pub event: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub target: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// SQLite's page cache of a store, in KiB.
const CACHE_KIB: i64 = 64 << 10;
/// The page cache while a flush stores a backlog: the indexes of a hundred thousand runs (jobs,
/// datasets and appearances by name, in no order a spool follows) are about 250 MB, and each of
/// their pages that falls out of the cache is read back and written again.
const BULK_CACHE_KIB: i64 = 256 << 10;
/// SQLite's default: a checkpoint once the write-ahead log is past this many pages.
const AUTOCHECKPOINT_PAGES: i64 = 1000;

/// Makes a store's commits durable (see [`LineageStore::syncer`]).
#[derive(Debug, Clone)]
pub struct Syncer {
    /// The write-ahead log; `None` for a store in memory.
    wal: Option<std::path::PathBuf>,
}

impl Syncer {
    /// Makes every commit made before the call durable: what must hold before the spool, the
    /// record of last resort, gives up an event. Commits are not synced one by one
    /// (`synchronous=NORMAL`, for ingest speed): until a checkpoint (which syncs the database
    /// file) they are in the write-ahead log, and syncing it is what `synchronous=FULL` does at
    /// every commit.
    pub fn sync(&self) -> Result<(), StoreError> {
        let Some(wal) = &self.wal else {
            return Ok(());
        };
        let failed = |message: String| StoreError::Sync {
            path: wal.display().to_string(),
            message,
        };
        match dk_fs::open_own(wal, false) {
            Ok(file) => file.sync_data().map_err(|err| failed(err.to_string())),
            Err(err) if err.io_kind() == Some(std::io::ErrorKind::NotFound) => Ok(()),
            Err(err) => Err(failed(err.to_string())),
        }
    }
}

/// The local lineage store.
#[derive(Debug)]
pub struct LineageStore {
    pub(crate) connection: Connection,
    /// Events parsed during [`LineageStore::sharing_events`].
    pub(crate) parsed: EventCache,
}

/// Parsed events by key, kept while a read that visits many nodes runs: one event naming
/// thousands of datasets is then parsed once, not once per dataset.
#[derive(Debug, Default)]
pub struct EventCache {
    /// While on: the events by key, and the bytes of their text.
    events: std::cell::RefCell<Option<(ParsedEvents, usize)>>,
}

type ParsedEvents = HashMap<String, std::sync::Arc<serde_json::Value>>;

/// The most event text one read keeps parsed.
const EVENT_CACHE_BYTES: usize = 64 << 20;

impl EventCache {
    /// Keeps what is parsed from now on (`true`) until told to stop (`false`, which drops it).
    pub(crate) fn share(&self, on: bool) {
        *self.events.borrow_mut() = on.then(|| (HashMap::new(), 0));
    }

    pub(crate) fn parse(
        &self,
        key: String,
        text: &str,
    ) -> Result<std::sync::Arc<serde_json::Value>, StoreError> {
        let mut events = self.events.borrow_mut();
        if let Some((cache, _)) = events.as_ref()
            && let Some(event) = cache.get(&key)
        {
            return Ok(event.clone());
        }
        let event = std::sync::Arc::new(serde_json::from_str(text)?);
        if let Some((cache, bytes)) = events.as_mut()
            && *bytes + text.len() <= EVENT_CACHE_BYTES
        {
            *bytes += text.len();
            cache.insert(key, std::sync::Arc::clone(&event));
        }
        Ok(event)
    }
}

/// Indexes the events a store recorded before it had event times, appearances and tags: they
/// are all RunEvents with a type, keyed as before.
fn index_older_events(transaction: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    let mut statement = transaction.prepare("SELECT key, payload FROM events")?;
    let rows = statement.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })?;
    let rows: Vec<(String, String)> = rows.collect::<Result<_, _>>()?;
    let heads: Vec<(&str, &str, EventHead)> = rows
        .iter()
        .filter_map(|(key, payload)| {
            Some((
                key.as_str(),
                payload.as_str(),
                EventHead::parse(payload).ok()?,
            ))
        })
        .collect();
    let mut tagged = Vec::with_capacity(heads.len());
    for (key, payload, head) in &heads {
        let entry = Entry::Run {
            head,
            key: Cow::Borrowed(key),
            event_type: head.event_type.as_str(),
        };
        // These stores predate run ownership: each event keeps its run.
        let at = index_event(transaction, &entry, key, &head.event_time, true)?;
        tagged.push(Tagged {
            at,
            payload,
            datasets: entry.datasets(),
        });
    }
    replace_tags(transaction, newest_tags(tagged))
}

/// Each job's newest event, and the events of each run.
pub(crate) type NewestRuns<'a> = (
    HashMap<(&'a str, &'a str), &'a EventHead>,
    HashMap<Uuid, Vec<&'a EventHead>>,
);

/// Each job's newest event among `events` (the later of equal times), and the events of each run.
pub(crate) fn newest_runs<'a>(events: &[&'a EventHead]) -> NewestRuns<'a> {
    let mut newest: HashMap<(&str, &str), &EventHead> = HashMap::new();
    let mut by_run: HashMap<Uuid, Vec<&EventHead>> = HashMap::new();
    for &event in events {
        by_run.entry(event.run.run_id).or_default().push(event);
        newest
            .entry((&event.job.namespace, &event.job.name))
            .and_modify(|current| {
                if event.event_time >= current.event_time {
                    *current = event;
                }
            })
            .or_insert(event);
    }
    (newest, by_run)
}

/// Moves each job of `events` to its newest run, as of the newest of these events (unless the
/// store already knows a newer one). A later event of the same run may add datasets; a new run
/// replaces them. Events without datasets change no inputs or outputs.
fn update_jobs(
    transaction: &rusqlite::Transaction<'_>,
    events: &[&EventHead],
) -> Result<(), StoreError> {
    let (newest, by_run) = newest_runs(events);
    let mut job_latest = transaction.prepare_cached(
        "SELECT last_time, last_run_id FROM jobs WHERE namespace = ?1 AND name = ?2",
    )?;
    let mut upsert_job = transaction.prepare_cached(
        "INSERT INTO jobs (namespace, name, last_run_id, last_state, last_time, created_at, streaming)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)
         ON CONFLICT (namespace, name) DO UPDATE SET last_run_id = excluded.last_run_id,
           last_state = CASE WHEN excluded.last_state = 'OTHER' AND jobs.last_run_id = excluded.last_run_id
             THEN jobs.last_state ELSE excluded.last_state END,
           last_time = excluded.last_time,
           streaming = excluded.streaming",
    )?;
    let mut clear_io = transaction
        .prepare_cached("DELETE FROM job_io WHERE job_namespace = ?1 AND job_name = ?2")?;
    let mut insert_io = transaction.prepare_cached(
        "INSERT OR IGNORE INTO job_io (job_namespace, job_name, dataset_namespace, dataset_name, direction) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut upsert_dataset = transaction.prepare_cached(UPSERT_DATASET)?;
    let mut datasets_seen = HashSet::new();
    for ((namespace, name), event) in newest {
        let run_id = event.run.run_id.to_string();
        let latest: Option<(String, String)> = job_latest
            .query_row(params![namespace, name], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()?;
        if latest
            .as_ref()
            .is_some_and(|(time, _)| time.as_str() > event.event_time.as_str())
        {
            continue;
        }
        upsert_job.execute(params![
            namespace,
            name,
            run_id,
            event.event_type.as_str(),
            event.event_time,
            event.job.streaming()
        ])?;
        let run_events = &by_run[&event.run.run_id];
        if run_events
            .iter()
            .all(|e| e.inputs.is_empty() && e.outputs.is_empty())
        {
            continue;
        }
        // A job without a row has no inputs or outputs to clear (they are only written with
        // it): a batch of new jobs spares a delete each.
        if latest.is_some_and(|(_, latest_run)| latest_run != run_id) {
            clear_io.execute(params![namespace, name])?;
        }
        for run_event in run_events {
            for (direction, datasets) in
                [("input", &run_event.inputs), ("output", &run_event.outputs)]
            {
                for dataset in datasets {
                    let alias = dataset.alias();
                    if datasets_seen.insert((&dataset.namespace, &dataset.name, alias)) {
                        upsert_dataset.execute(params![
                            dataset.namespace,
                            dataset.name,
                            alias,
                            run_event.event_time
                        ])?;
                    }
                    insert_io.execute(params![
                        namespace,
                        name,
                        dataset.namespace,
                        dataset.name,
                        direction
                    ])?;
                }
            }
        }
    }
    Ok(())
}

impl LineageStore {
    /// Opens (creating) the store at `path`.
    pub fn open(path: &Path) -> Result<LineageStore, StoreError> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            crate::private::dir(dir).map_err(|source| StoreError::Directory {
                path: dir.display().to_string(),
                source,
            })?;
        }
        // Created private: SQLite gives its journal files the database's permissions.
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(StoreError::Directory {
                    path: path.display().to_string(),
                    source,
                });
            }
        }
        for file in ["", "-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(file);
            crate::private::path(Path::new(&name)).map_err(|source| StoreError::Directory {
                path: Path::new(&name).display().to_string(),
                source,
            })?;
        }
        let connection = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source,
        })?;
        // WAL lets a reader (dk lineage) and a writer (a run) work at once; NORMAL sync is
        // durable enough because the spool, not the store, is the record of last resort.
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        // Events are a few KiB of JSON each: large pages keep them in one page, not an overflow
        // chain (applies when the file is created).
        connection.pragma_update(None, "page_size", 16384)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        // A flush ingests thousands of events in one transaction; a larger page cache keeps
        // SQLite from spilling pages to the WAL before the commit.
        connection.pragma_update(None, "cache_size", -CACHE_KIB)?;
        connection.execute_batch(SCHEMA)?;
        let mut store = LineageStore {
            connection,
            parsed: EventCache::default(),
        };
        store.migrate()?;
        store.settle_inbox(path)?;
        Ok(store)
    }

    /// Indexes what a `dk lineage serve` stopped (or killed) before indexing left in its inbox
    /// (see [`crate::inbox`]), and in the inbox table of the store itself, which dk used before
    /// the inbox was a folder of its own. A running server's inbox is its own to index.
    fn settle_inbox(&mut self, path: &Path) -> Result<(), StoreError> {
        let legacy: Vec<(i64, String)> = self
            .connection
            .prepare("SELECT id, payload FROM inbox ORDER BY id")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        if let Some(&(upto, _)) = legacy.last() {
            self.settle_payloads(legacy.iter().map(|(_, json)| json.as_str()), Some(upto))?;
        }
        crate::inbox::index_leftovers(path, self)
    }

    /// [`LineageStore::settle`] of events as received. They were checked then, so one that no
    /// longer parses is dropped, not retried.
    pub(crate) fn settle_payloads<'a>(
        &mut self,
        payloads: impl IntoIterator<Item = &'a str>,
        staged: Option<i64>,
    ) -> Result<(), StoreError> {
        let events: Vec<(Received, &str)> = payloads
            .into_iter()
            .filter_map(|json| Some((Received::parse_storable(json).ok()?, json)))
            .collect();
        self.settle(events.iter().map(|(event, json)| (event, *json)), staged)?;
        Ok(())
    }

    /// Runs the [`MIGRATIONS`] the store has not had, each in the transaction that records it:
    /// a store opened by two processes at once is migrated once (the second waits for the
    /// first's write lock, then finds nothing left to do).
    fn migrate(&mut self) -> Result<(), StoreError> {
        let transaction = self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: i64 =
            transaction.pragma_query_value(None, "user_version", |row| row.get(0))?;
        let pending = MIGRATIONS
            .iter()
            .skip(usize::try_from(version).unwrap_or(MIGRATIONS.len()));
        for migration in pending {
            match migration {
                Migration::Reindex => index_older_events(&transaction)?,
                Migration::Sql(sql) => transaction.execute_batch(sql)?,
            }
        }
        if version < MIGRATIONS.len() as i64 {
            transaction.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
        }
        transaction.commit()?;
        Ok(())
    }

    /// An in-memory store (tests, benchmarks).
    pub fn in_memory() -> Result<LineageStore, StoreError> {
        let connection = Connection::open_in_memory()?;
        connection.execute_batch(SCHEMA)?;
        let mut store = LineageStore {
            connection,
            parsed: EventCache::default(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Ingests events in one transaction; events already present are skipped.
    pub fn ingest(&mut self, events: &[RunEvent]) -> Result<Ingested, StoreError> {
        let mut entries = Vec::with_capacity(events.len());
        for event in events {
            let json = serde_json::to_string(event)?;
            entries.push((EventHead::parse(&json)?, json));
        }
        self.ingest_json(entries.iter().map(|(head, json)| (head, json.as_str())))
    }

    /// [`LineageStore::ingest`] of events with their JSON as it was spooled, which spares
    /// serialising them again.
    ///
    /// Jobs and their inputs and outputs change once per job per batch, from its newest event:
    /// a batch of many runs costs one update per job, not one per event.
    pub fn ingest_json<'a>(
        &mut self,
        events: impl IntoIterator<Item = (&'a EventHead, &'a str)>,
    ) -> Result<Ingested, StoreError> {
        self.ingest_entries(
            events.into_iter().map(|(head, payload)| {
                let entry = Entry::Run {
                    head,
                    key: Cow::Owned(head.key()),
                    event_type: head.event_type.as_str(),
                };
                (entry, payload)
            }),
            None,
        )
    }

    /// Runs `ingest` (a flush storing a spool batch after batch) with a larger page cache and
    /// no checkpoint until it returns, then checkpoints once. A checkpoint syncs the log and the
    /// database file: after every batch it made the flush wait on a disk that the release of the
    /// batches before keeps busy, and it wrote the indexes' pages each batch touched, most of
    /// them every batch.
    pub fn bulk<T>(
        &mut self,
        ingest: impl FnOnce(&mut LineageStore) -> T,
    ) -> Result<T, StoreError> {
        self.connection
            .pragma_update(None, "cache_size", -BULK_CACHE_KIB)?;
        self.connection
            .pragma_update(None, "wal_autocheckpoint", 0)?;
        let ingested = ingest(self);
        self.connection
            .pragma_update(None, "wal_autocheckpoint", AUTOCHECKPOINT_PAGES)?;
        self.connection
            .pragma_update(None, "cache_size", -CACHE_KIB)?;
        self.checkpoint()?;
        Ok(ingested)
    }

    /// Ingests events received from outside, of any kind, in one transaction; events already
    /// present (by [`Received::key`]) are skipped.
    pub fn ingest_received<'a>(
        &mut self,
        events: impl IntoIterator<Item = (&'a Received, &'a str)>,
    ) -> Result<Ingested, StoreError> {
        self.settle(events, None)
    }

    /// [`LineageStore::ingest_received`], removing the inbox table of older dks up to `staged`
    /// in the same transaction.
    pub(crate) fn settle<'a>(
        &mut self,
        events: impl IntoIterator<Item = (&'a Received, &'a str)>,
        staged: Option<i64>,
    ) -> Result<Ingested, StoreError> {
        self.ingest_entries(
            events
                .into_iter()
                .map(|(event, payload)| (Entry::received(event), payload)),
            staged,
        )
    }

    /// Ingests events in one transaction, which also removes the inbox up to `settled`.
    fn ingest_entries<'a>(
        &mut self,
        events: impl IntoIterator<Item = (Entry<'a>, &'a str)>,
        settled: Option<i64>,
    ) -> Result<Ingested, StoreError> {
        let transaction = self.connection.transaction()?;
        if let Some(upto) = settled {
            transaction
                .prepare_cached("DELETE FROM inbox WHERE id <= ?1")?
                .execute(params![upto])?;
        }
        let mut ingested = Ingested::default();
        {
            let mut insert_event = transaction.prepare_cached(
                "INSERT OR IGNORE INTO events (key, run_id, event_type, event_time, job_namespace, job_name, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            // OTHER (and a RunEvent without a type) adds to a run without changing its state.
            let mut upsert_run = transaction.prepare_cached(
                "INSERT INTO runs (run_id, job_namespace, job_name, state, started_at, ended_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, CASE WHEN ?4 = 'START' THEN ?5 END, CASE WHEN ?4 IN ('COMPLETE', 'FAIL', 'ABORT') THEN ?5 END, ?5)
                 ON CONFLICT (run_id) DO UPDATE SET
                   state = CASE WHEN excluded.state <> 'OTHER' AND (runs.state = 'OTHER' OR excluded.updated_at >= runs.updated_at)
                     THEN excluded.state ELSE runs.state END,
                   started_at = COALESCE(runs.started_at, excluded.started_at),
                   ended_at = COALESCE(excluded.ended_at, runs.ended_at),
                   updated_at = MAX(runs.updated_at, excluded.updated_at)
                 WHERE runs.job_namespace = excluded.job_namespace AND runs.job_name = excluded.job_name",
            )?;
            let mut fresh = Vec::new();
            let mut tagged = Vec::new();
            for (entry, payload) in events {
                let (key, run_id, kind, time, job_namespace, job_name) = match &entry {
                    Entry::Run {
                        head,
                        key,
                        event_type,
                    } => (
                        key.as_ref(),
                        head.run.run_id.to_string(),
                        *event_type,
                        head.event_time.as_str(),
                        head.job.namespace.as_str(),
                        head.job.name.as_str(),
                    ),
                    Entry::Dataset { key, time, .. } => (*key, String::new(), "", *time, "", ""),
                    Entry::Job { key, time, job, .. } => (
                        *key,
                        String::new(),
                        "",
                        *time,
                        job.namespace.as_str(),
                        job.name.as_str(),
                    ),
                };
                let added = insert_event.execute(params![
                    key,
                    run_id,
                    kind,
                    time,
                    job_namespace,
                    job_name,
                    payload
                ])?;
                if added == 0 {
                    ingested.duplicate += 1;
                    continue;
                }
                ingested.new += 1;
                // A run belongs to the job that first reported it: an event of another job with
                // its id is stored, but changes neither the run nor that job.
                let owns_run = match &entry {
                    Entry::Run { head, .. } => {
                        upsert_run.execute(params![
                            run_id,
                            job_namespace,
                            job_name,
                            head.event_type.as_str(),
                            time
                        ])? == 1
                    }
                    _ => false,
                };
                let at = index_event(&transaction, &entry, key, time, owns_run)?;
                tagged.push(Tagged {
                    at,
                    payload,
                    datasets: entry.datasets(),
                });
                match entry {
                    Entry::Run { head, .. } => {
                        if owns_run {
                            fresh.push(head);
                        }
                    }
                    Entry::Dataset { time, dataset, .. } => {
                        upsert_dataset(&transaction, dataset, time)?
                    }
                    Entry::Job {
                        time,
                        job,
                        inputs,
                        outputs,
                        ..
                    } => static_job(&transaction, time, job, inputs, outputs)?,
                }
            }
            update_jobs(&transaction, &fresh)?;
            replace_tags(&transaction, newest_tags(tagged))?;
        }
        transaction.commit()?;
        Ok(ingested)
    }

    /// Records the outcome of delivering an event to a target after `requests` requests.
    pub fn record_delivery(
        &mut self,
        key: &str,
        target: &str,
        state: DeliveryState,
        error: Option<&str>,
        requests: u32,
    ) -> Result<(), StoreError> {
        let now = crate::event::format_time(chrono::Utc::now());
        self.connection.execute(
            "INSERT INTO deliveries (event_key, target, state, attempts, last_error, updated_at) VALUES (?1, ?2, ?3, ?6, ?4, ?5)
             ON CONFLICT (event_key, target) DO UPDATE SET state = excluded.state, attempts = deliveries.attempts + excluded.attempts,
               last_error = excluded.last_error, updated_at = excluded.updated_at",
            params![key, target, state.as_str(), error, now, requests],
        )?;
        Ok(())
    }

    /// Whether an event was delivered to (or refused by) a target, so it is not sent again.
    pub fn is_settled(&self, key: &str, target: &str) -> Result<bool, StoreError> {
        // Prepared once per store: a flush asks this of every event it read.
        let state: Option<String> = self
            .connection
            .prepare_cached("SELECT state FROM deliveries WHERE event_key = ?1 AND target = ?2")?
            .query_row(params![key, target], |row| row.get(0))
            .optional()?;
        Ok(state.is_some_and(|state| {
            matches!(
                DeliveryState::parse(&state),
                DeliveryState::Delivered | DeliveryState::Rejected
            )
        }))
    }

    /// Puts events (stored already) in the queue for a target, unless they are there already.
    /// From then on the store, not the spool, says what is still to be sent: an event whose
    /// spool file was truncated or replaced is still delivered from its stored copy.
    pub fn enqueue(
        &mut self,
        keys: impl IntoIterator<Item = String>,
        target: &str,
    ) -> Result<(), StoreError> {
        let now = crate::event::format_time(chrono::Utc::now());
        let transaction = self.connection.transaction()?;
        {
            let mut insert = transaction.prepare_cached(
                "INSERT OR IGNORE INTO deliveries (event_key, target, state, attempts, last_error, updated_at)
                 VALUES (?1, ?2, 'pending', 0, NULL, ?3)",
            )?;
            for key in keys {
                insert.execute(params![key, target, now])?;
            }
        }
        transaction.commit()?;
        Ok(())
    }

    /// The events still to be sent to a target (pending, or sending when a flush stopped), oldest
    /// first, with their JSON as stored.
    pub fn outbox(&self, target: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut statement = self.connection.prepare(
            "SELECT d.event_key, e.payload FROM deliveries d JOIN events e ON e.key = d.event_key
             WHERE d.target = ?1 AND d.state IN ('pending', 'sending') ORDER BY e.event_time, e.rowid",
        )?;
        let rows = statement.query_map(params![target], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// How many events are still to be sent to a target.
    pub fn pending(&self, target: &str) -> Result<usize, StoreError> {
        Ok(self.connection.query_row(
            "SELECT COUNT(*) FROM deliveries WHERE target = ?1 AND state IN ('pending', 'sending')",
            params![target],
            |row| row.get::<_, i64>(0),
        )? as usize)
    }

    /// Gives up the events still to be sent to every target but `keep`: they are marked
    /// rejected with `why`, so that their spool files can go. What a user does when a backend
    /// is gone for good, or events were meant for another one. Returns how many.
    pub fn drop_pending(&mut self, keep: Option<&str>, why: &str) -> Result<usize, StoreError> {
        let now = crate::event::format_time(chrono::Utc::now());
        Ok(self.connection.execute(
            "UPDATE deliveries SET state = 'rejected', last_error = ?2, updated_at = ?3
             WHERE state IN ('pending', 'sending') AND (?1 IS NULL OR target <> ?1)",
            params![keep, why, now],
        )?)
    }

    /// Marks an event as being sent, committed before the request goes out.
    pub fn claim(&mut self, key: &str, target: &str) -> Result<(), StoreError> {
        let now = crate::event::format_time(chrono::Utc::now());
        self.connection.execute(
            "UPDATE deliveries SET state = 'sending', updated_at = ?3 WHERE event_key = ?1 AND target = ?2",
            params![key, target, now],
        )?;
        Ok(())
    }

    /// What makes the store's commits durable, for another thread to use while this store goes
    /// on writing (see [`Syncer::sync`]).
    pub fn syncer(&self) -> Syncer {
        Syncer {
            wal: self
                .connection
                .path()
                .filter(|path| !path.is_empty())
                .map(|path| std::path::PathBuf::from(format!("{path}-wal"))),
        }
    }

    /// Copies what it can of the write-ahead log into the database file without waiting for
    /// readers or writers (a passive checkpoint).
    pub(crate) fn checkpoint(&self) -> Result<(), StoreError> {
        self.connection
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Whether the store knows the run (`None` when it holds none of its events) and, if so,
    /// whether it has ended.
    pub fn run_state(&self, run: Uuid) -> Result<Option<bool>, StoreError> {
        Ok(self
            .connection
            .prepare_cached("SELECT ended_at IS NOT NULL FROM runs WHERE run_id = ?1")?
            .query_row(params![run.to_string()], |row| row.get::<_, bool>(0))
            .optional()?)
    }

    /// Whether the store holds a terminal event of the run (its spool file may have lost it).
    pub fn has_ended(&self, run: Uuid) -> Result<bool, StoreError> {
        Ok(self.run_state(run)?.unwrap_or(false))
    }

    /// Events, oldest first, with their delivery states; one run's only with `run`.
    pub fn events(&self, run: Option<Uuid>) -> Result<Vec<StoredEvent>, StoreError> {
        let mut statement = self.connection.prepare(
            "SELECT key, run_id, event_type, event_time, job_namespace, job_name, payload FROM events
             WHERE ?1 IS NULL OR (key > ?1 AND key < ?1 || ';') ORDER BY event_time, rowid",
        )?;
        let run = run.map(|id| id.to_string());
        let rows = statement.query_map(params![run], |row| {
            Ok(StoredEvent {
                key: row.get(0)?,
                run_id: row.get(1)?,
                event_type: row.get(2)?,
                event_time: row.get(3)?,
                job: format!("{}/{}", row.get::<_, String>(4)?, row.get::<_, String>(5)?),
                deliveries: Vec::new(),
                event: serde_json::from_str(&row.get::<_, String>(6)?).unwrap_or_default(),
            })
        })?;
        let mut events = rows.collect::<Result<Vec<_>, _>>()?;
        let mut deliveries = self
            .connection
            .prepare("SELECT target, state, attempts, last_error FROM deliveries WHERE event_key = ?1 ORDER BY target")?;
        for event in &mut events {
            event.deliveries = deliveries
                .query_map(params![event.key], |row| {
                    Ok(Delivery {
                        target: row.get(0)?,
                        state: DeliveryState::parse(&row.get::<_, String>(1)?),
                        attempts: row.get(2)?,
                        last_error: row.get(3)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
        }
        Ok(events)
    }

    /// The stored events of a run, parsed.
    pub fn run_events(&self, run: Uuid) -> Result<Vec<RunEvent>, StoreError> {
        let mut statement = self
            .connection
            .prepare("SELECT payload FROM events WHERE key > ?1 AND key < ?1 || ';' ORDER BY event_time, rowid")?;
        let payloads =
            statement.query_map(params![run.to_string()], |row| row.get::<_, String>(0))?;
        Ok(payloads
            .filter_map(Result::ok)
            .filter_map(|payload| serde_json::from_str(&payload).ok())
            .collect())
    }

    /// The neighbourhood of every job or dataset named `query` (a job name, a dataset name or
    /// DataSet name, or `namespace/name`): more than one when the name is ambiguous, none when
    /// nothing by that name was recorded.
    pub fn neighbourhood(
        &self,
        query: &str,
        direction: Direction,
        depth: usize,
    ) -> Result<Vec<Neighbourhood>, StoreError> {
        graph::find(&self.connection, query)?
            .iter()
            .map(|root| graph::around(&self.connection, root, direction, depth))
            .collect()
    }

    /// Runs `read` with the events it parses kept for its duration: for reads that render many
    /// nodes (a lineage graph), whose events are often shared.
    pub fn sharing_events<T>(&self, read: impl FnOnce(&LineageStore) -> T) -> T {
        self.parsed.share(true);
        let result = read(self);
        self.parsed.share(false);
        result
    }

    /// Every name a job or dataset can be found by (for suggestions).
    pub fn labels(&self) -> Result<Vec<String>, StoreError> {
        graph::labels(&self.connection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::EventQuery;

    #[test]
    fn events_recorded_before_the_indexes_are_indexed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lineage.db");
        let event: RunEvent = serde_json::from_value(serde_json::json!({
            "eventType": "COMPLETE", "eventTime": "2026-11-26T10:00:00Z",
            "run": {"runId": "01a22e4e-0000-7000-8000-000000000001"},
            "job": {"namespace": "n", "name": "j"},
            "outputs": [{"namespace": "n", "name": "d", "facets": {"schema": {"fields": []},
                "tags": {"tags": [{"key": "pii", "value": "true", "field": "email"}]}}}],
            "producer": "p", "schemaURL": "s",
        }))
        .unwrap();
        let mut store = LineageStore::open(&path).unwrap();
        store.ingest(&[event]).unwrap();
        // What a store written by an older dk holds: events, no indexes, user_version 0.
        store
            .connection
            .execute_batch(
                "DELETE FROM event_times; DELETE FROM appearances; PRAGMA user_version = 0",
            )
            .unwrap();
        drop(store);
        let store = LineageStore::open(&path).unwrap();
        let events = store.events_by_time(&EventQuery {
            limit: 10,
            ..EventQuery::default()
        });
        assert_eq!(events.unwrap().total, 1);
        assert!(
            store
                .dataset_facets("n", "d")
                .unwrap()
                .contains_key("schema")
        );
    }
}
