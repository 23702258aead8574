//! What the store knows of namespaces, jobs and datasets, for listings (the Marquez-compatible
//! API of `dk lineage serve`).

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::event::normalized_time;

use crate::graph::{self, Direction, Neighbourhood, NodeKind};
use crate::store::{LineageStore, StoreError};

/// A namespace: one of jobs or datasets, with the times of its first and latest events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct NamespaceRecord {
    pub name: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A `namespace` and `name` pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Name {
    pub namespace: String,
    pub name: String,
}

/// A run as the store last saw it; `state` is the OpenLineage event type that set it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RunRecord {
    pub id: String,
    pub state: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub updated_at: String,
}

/// A job as of its latest run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct JobRecord {
    pub namespace: String,
    pub name: String,
    pub created_at: String,
    pub updated_at: String,
    pub streaming: bool,
    pub inputs: Vec<Name>,
    pub outputs: Vec<Name>,
    pub latest_run: Option<RunRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct DatasetRecord {
    pub namespace: String,
    pub name: String,
    /// The DataSet manifest name.
    pub alias: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// One page of a listing and how many there are in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: usize,
}

/// Namespaces with the times of their first and latest events, before `GROUP BY namespace`.
/// Each table is grouped on its own, in the order of its primary key (namespace first): no
/// sort of every job and dataset.
const NAMESPACES: &str = "SELECT namespace, MIN(created_at), MAX(updated_at) FROM (
      SELECT namespace, MIN(created_at) AS created_at, MAX(last_time) AS updated_at FROM jobs
        GROUP BY namespace
      UNION ALL SELECT namespace, MIN(created_at), MAX(updated_at) FROM datasets
        GROUP BY namespace)";

fn namespace_record(row: &Row<'_>) -> rusqlite::Result<NamespaceRecord> {
    Ok(NamespaceRecord {
        name: row.get(0)?,
        created_at: row.get(1)?,
        updated_at: row.get(2)?,
    })
}

fn run_record(row: &Row<'_>) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        id: row.get(0)?,
        state: row.get(1)?,
        started_at: row.get(2)?,
        ended_at: row.get(3)?,
        updated_at: row.get(4)?,
    })
}

/// Facets by name.
pub type Facets = Map<String, Value>;

/// How many of the newest events naming a job or a dataset its facets are gathered from.
pub const FACET_HORIZON: usize = 16;

/// The most event JSON one read of facets parses (the newest event always counts, at most the
/// server's body limit): events come from outside, one run or job may have many large ones, and
/// parsed they take up to 50 times their size (a megabyte of `{"a":1}` objects, 50 MB) while the
/// store's read lock is held. Hundreds of ordinary events fit.
pub const FACET_BYTES: usize = 1 << 20;

/// The first of `items` (stored events, newest first) whose sizes add up to at most
/// [`FACET_BYTES`], and always the first: lazily, so that rows past the budget are not read.
pub(crate) fn within_facet_budget<T>(
    items: impl IntoIterator<Item = Result<T, StoreError>>,
    size: impl Fn(&T) -> usize,
) -> impl Iterator<Item = Result<T, StoreError>> {
    let mut bytes: Option<usize> = None;
    items.into_iter().take_while(move |item| {
        let Ok(item) = item else { return true };
        let total = bytes.unwrap_or(0) + size(item);
        let keep = bytes.is_none() || total <= FACET_BYTES;
        bytes = Some(total);
        keep
    })
}

/// A version of a dataset: what one run wrote to it, or one DatasetEvent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct VersionRecord {
    /// A UUID derived from the dataset and the run id (or the DatasetEvent's key), so that it is
    /// the same every time it is asked for.
    pub version: Uuid,
    pub run_id: Option<String>,
    /// The event key of a DatasetEvent's version.
    pub event_key: Option<String>,
    pub created_at: String,
}

/// A job or a dataset found by [`LineageStore::search`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Found {
    pub kind: NodeKind,
    pub namespace: String,
    pub name: String,
    pub updated_at: String,
}

/// A search's statement for a store: its matches, as rows of `(kind, namespace, name,
/// updated)`, and their order. `param(n)` writes the store's n-th text parameter: 1 the
/// pattern, 2 and 3 the `before` and `after` dates, 4 the namespace (only when there is one).
/// The filters are in each branch of the union, so a search of one namespace reads only its
/// rows, and one of one kind reads one table.
pub(crate) fn search_sql(
    query: &SearchQuery,
    like: &str,
    param: fn(usize) -> String,
) -> (String, &'static str) {
    let (pattern, before, after) = (param(1), param(2), param(3));
    let namespace = match query.namespace {
        Some(_) => format!("namespace = {} AND ", param(4)),
        None => String::new(),
    };
    let matching = |column: &str| format!("{column} {like} '%' || {pattern} || '%' ESCAPE '\\'");
    let dates = |column: &str| {
        format!(
            "({before} IS NULL OR substr({column}, 1, 10) <= {before})
             AND ({after} IS NULL OR substr({column}, 1, 10) >= {after})"
        )
    };
    let job = format!(
        "SELECT 'job' AS kind, namespace, name, last_time AS updated FROM jobs
         WHERE {namespace}{} AND {}",
        matching("name"),
        dates("last_time")
    );
    let dataset = format!(
        "SELECT 'dataset' AS kind, namespace, name, updated_at AS updated FROM datasets
         WHERE {namespace}({} OR {}) AND {}",
        matching("name"),
        matching("alias"),
        dates("updated_at")
    );
    let matches = match query.kind {
        Some(NodeKind::Job) => job,
        Some(NodeKind::Dataset) => dataset,
        None => format!("{job} UNION ALL {dataset}"),
    };
    let order = if query.by_update {
        "updated DESC, name"
    } else {
        "name, namespace"
    };
    (matches, order)
}

/// What [`LineageStore::search`] looks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    /// Text found anywhere in the name, or the DataSet name of a dataset, ignoring ASCII case;
    /// `%` and `_` are themselves, not wildcards (see [`like_literal`]).
    pub pattern: String,
    pub kind: Option<NodeKind>,
    pub namespace: Option<String>,
    /// `YYYY-MM-DD` bounds on the time it was last updated (inclusive).
    pub before: Option<String>,
    pub after: Option<String>,
    pub by_update: bool,
    pub limit: usize,
}

/// `text` as a `LIKE ... ESCAPE '\'` pattern that matches only itself: a wildcard in a search
/// would let one request backtrack over every name in the store (`%a%a%a%a%b` tries each way of
/// placing four `a`s in a name).
pub(crate) fn like_literal(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern
}

/// The most event JSON one page of [`LineageStore::events_by_time`] holds: events are up to the
/// server's body limit each, so `limit` alone does not bound an answer. A page always holds at
/// least one event; the next starts at `offset` + the events given.
pub const EVENT_PAGE_BYTES: usize = 16 << 20;

/// Events by time, as `/events/lineage` lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    /// Only events strictly before, or at or after, these RFC 3339 times.
    pub before: Option<String>,
    pub after: Option<String>,
    pub ascending: bool,
    pub limit: usize,
    pub offset: usize,
}

/// The version id of what `origin` (a run id or an event key) made of a job or a dataset.
pub(crate) fn version_id(namespace: &str, name: &str, origin: &str) -> Uuid {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{namespace}\0{name}\0{origin}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// Merges facets found in events newest first: each facet as the newest event sent it.
fn merge_facets<'a>(merged: &mut Facets, found: impl IntoIterator<Item = &'a Value>) {
    for facets in found {
        if let Some(facets) = facets.as_object() {
            for (name, facet) in facets {
                merged.entry(name.clone()).or_insert_with(|| facet.clone());
            }
        }
    }
}

/// The facets at `pointer` (`/job/facets`) of events, newest first, merged.
pub(crate) fn facets_at<'a>(events: impl IntoIterator<Item = &'a Value>, pointer: &str) -> Facets {
    let mut merged = Facets::new();
    merge_facets(
        &mut merged,
        events.into_iter().filter_map(|e| e.pointer(pointer)),
    );
    merged
}

/// The facets events, newest first, give a dataset, merged.
pub(crate) fn dataset_facets_of<'a>(
    events: impl IntoIterator<Item = &'a Value>,
    namespace: &str,
    name: &str,
) -> Facets {
    let mut merged = Facets::new();
    for event in events {
        merge_facets(&mut merged, dataset_facets_in(event, namespace, name));
    }
    merged
}

/// The facets a payload gives a dataset: as the DatasetEvent's dataset, an output or an input.
fn dataset_facets_in<'a>(
    payload: &'a Value,
    namespace: &str,
    name: &str,
) -> impl Iterator<Item = &'a Value> {
    let listed = ["outputs", "inputs"]
        .into_iter()
        .filter_map(|list| payload.get(list).and_then(Value::as_array))
        .flatten();
    payload
        .get("dataset")
        .into_iter()
        .chain(listed)
        .filter(move |d| d["namespace"] == namespace && d["name"] == name)
        .filter_map(|d| d.get("facets"))
}

fn payloads(
    statement: &mut rusqlite::CachedStatement<'_>,
    args: impl rusqlite::Params,
) -> Result<Vec<Value>, StoreError> {
    let rows = statement.query_map(args, |row| row.get::<_, String>(0))?;
    let mut payloads = Vec::new();
    for row in rows {
        payloads.push(serde_json::from_str(&row?)?);
    }
    Ok(payloads)
}

fn dataset_record(row: &Row<'_>) -> rusqlite::Result<DatasetRecord> {
    Ok(DatasetRecord {
        namespace: row.get(0)?,
        name: row.get(1)?,
        alias: row.get(2)?,
        created_at: row.get(3)?,
        updated_at: row.get(4)?,
    })
}

impl LineageStore {
    /// The namespaces, by name.
    pub fn namespaces(
        &self,
        limit: usize,
        offset: usize,
    ) -> Result<Page<NamespaceRecord>, StoreError> {
        let total: i64 = self.connection.query_row(
            "SELECT COUNT(*) FROM (SELECT namespace FROM jobs UNION SELECT namespace FROM datasets)",
            [],
            |row| row.get(0),
        )?;
        let items = self
            .connection
            .prepare_cached(&format!(
                "{NAMESPACES} GROUP BY namespace ORDER BY namespace LIMIT ?1 OFFSET ?2"
            ))?
            .query_map(params![limit as i64, offset as i64], namespace_record)?
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            total: total as usize,
        })
    }

    pub fn namespace(&self, name: &str) -> Result<Option<NamespaceRecord>, StoreError> {
        Ok(self
            .connection
            .prepare_cached(&format!(
                "SELECT * FROM ({NAMESPACES} WHERE namespace = ?1 GROUP BY namespace)"
            ))?
            .query_row(params![name], namespace_record)
            .optional()?)
    }

    /// The jobs of a namespace, by name.
    pub fn jobs(
        &self,
        namespace: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Page<JobRecord>, StoreError> {
        let total: i64 = self.connection.query_row(
            "SELECT COUNT(*) FROM jobs WHERE namespace = ?1",
            params![namespace],
            |row| row.get(0),
        )?;
        let names: Vec<String> = self
            .connection
            .prepare_cached(
                "SELECT name FROM jobs WHERE namespace = ?1 ORDER BY name LIMIT ?2 OFFSET ?3",
            )?
            .query_map(params![namespace, limit as i64, offset as i64], |row| {
                row.get(0)
            })?
            .collect::<Result<_, _>>()?;
        let mut items = Vec::with_capacity(names.len());
        for name in names {
            items.extend(self.job(namespace, &name)?);
        }
        Ok(Page {
            items,
            total: total as usize,
        })
    }

    pub fn job(&self, namespace: &str, name: &str) -> Result<Option<JobRecord>, StoreError> {
        let found = self
            .connection
            .prepare_cached(
                "SELECT created_at, last_time, streaming, last_run_id FROM jobs WHERE namespace = ?1 AND name = ?2",
            )?
            .query_row(params![namespace, name], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, bool>(2)?, row.get::<_, String>(3)?))
            })
            .optional()?;
        let Some((created_at, updated_at, streaming, run_id)) = found else {
            return Ok(None);
        };
        let mut io = self.connection.prepare_cached(
            "SELECT dataset_namespace, dataset_name FROM job_io
             WHERE job_namespace = ?1 AND job_name = ?2 AND direction = ?3
             ORDER BY dataset_namespace, dataset_name",
        )?;
        let mut datasets = |direction: &str| -> Result<Vec<Name>, StoreError> {
            let rows = io.query_map(params![namespace, name, direction], |row| {
                Ok(Name {
                    namespace: row.get(0)?,
                    name: row.get(1)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        };
        let (inputs, outputs) = (datasets("input")?, datasets("output")?);
        let latest_run = self
            .connection
            .prepare_cached(
                "SELECT state, started_at, ended_at, updated_at FROM runs WHERE run_id = ?1",
            )?
            .query_row(params![run_id], |row| {
                Ok(RunRecord {
                    id: run_id.clone(),
                    state: row.get(0)?,
                    started_at: row.get(1)?,
                    ended_at: row.get(2)?,
                    updated_at: row.get(3)?,
                })
            })
            .optional()?;
        Ok(Some(JobRecord {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            created_at,
            updated_at,
            streaming,
            inputs,
            outputs,
            latest_run,
        }))
    }

    /// The datasets of a namespace, by name.
    pub fn datasets(
        &self,
        namespace: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Page<DatasetRecord>, StoreError> {
        let total: i64 = self.connection.query_row(
            "SELECT COUNT(*) FROM datasets WHERE namespace = ?1",
            params![namespace],
            |row| row.get(0),
        )?;
        let items = self
            .connection
            .prepare_cached(
                "SELECT namespace, name, alias, created_at, updated_at FROM datasets
                 WHERE namespace = ?1 ORDER BY name LIMIT ?2 OFFSET ?3",
            )?
            .query_map(
                params![namespace, limit as i64, offset as i64],
                dataset_record,
            )?
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            total: total as usize,
        })
    }

    pub fn dataset(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<DatasetRecord>, StoreError> {
        Ok(self
            .connection
            .prepare_cached(
                "SELECT namespace, name, alias, created_at, updated_at FROM datasets WHERE namespace = ?1 AND name = ?2",
            )?
            .query_row(params![namespace, name], dataset_record)
            .optional()?)
    }

    /// The neighbourhood of one job or dataset, named exactly; `None` when it is not recorded.
    pub fn neighbourhood_of(
        &self,
        kind: NodeKind,
        namespace: &str,
        name: &str,
        direction: Direction,
        depth: usize,
    ) -> Result<Option<Neighbourhood>, StoreError> {
        match graph::node(&self.connection, kind, namespace, name)? {
            Some(root) => Ok(Some(graph::around(
                &self.connection,
                &root,
                direction,
                depth,
            )?)),
            None => Ok(None),
        }
    }
}

impl LineageStore {
    /// The payloads of the newest events naming a job or a dataset, newest first: at most
    /// [`FACET_HORIZON`] and [`FACET_BYTES`] of them (the newest always).
    fn appearing(
        &self,
        kind: NodeKind,
        namespace: &str,
        name: &str,
    ) -> Result<Vec<std::sync::Arc<Value>>, StoreError> {
        let kind = match kind {
            NodeKind::Job => "job",
            NodeKind::Dataset => "dataset",
        };
        // The newest keys are chosen in the primary key's order before any payload is read: a
        // sort over the joined rows would carry every payload naming the node through it.
        let mut statement = self.connection.prepare_cached(
            "SELECT e.key, e.payload FROM (
               SELECT DISTINCT a.at, a.event_key FROM appearances a
               WHERE a.kind = ?1 AND a.namespace = ?2 AND a.name = ?3
               ORDER BY a.at DESC, a.event_key DESC LIMIT ?4) n
             JOIN events e ON e.key = n.event_key ORDER BY n.at DESC, n.event_key DESC",
        )?;
        let rows = statement.query_map(
            params![kind, namespace, name, FACET_HORIZON as i64],
            |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
        )?;
        let rows = rows.map(|row| row.map_err(StoreError::from));
        within_facet_budget(rows, |(_, text)| text.len())
            .map(|row| {
                let (key, text) = row?;
                self.parsed.parse(key, &text)
            })
            .collect()
    }

    /// A job's facets, each as the newest of its last [`FACET_HORIZON`] events sent it.
    pub fn job_facets(&self, namespace: &str, name: &str) -> Result<Facets, StoreError> {
        let events = self.appearing(NodeKind::Job, namespace, name)?;
        Ok(facets_at(events.iter().map(|e| &**e), "/job/facets"))
    }

    /// A dataset's facets, each as the newest of its last [`FACET_HORIZON`] events sent it.
    pub fn dataset_facets(&self, namespace: &str, name: &str) -> Result<Facets, StoreError> {
        let events = self.appearing(NodeKind::Dataset, namespace, name)?;
        Ok(dataset_facets_of(
            events.iter().map(|e| &**e),
            namespace,
            name,
        ))
    }

    /// The newest stored events of a run, newest first: at most [`FACET_HORIZON`] and
    /// [`FACET_BYTES`] of them, and only those of the job the run belongs to (the first to
    /// report it: see `upsert_run` in store.rs).
    fn run_payloads(&self, run_id: &str) -> Result<Vec<Value>, StoreError> {
        // The newest are chosen by their times alone, before any payload is read.
        let mut statement = self.connection.prepare_cached(
            "SELECT payload FROM events WHERE rowid IN (
               SELECT e.rowid FROM events e JOIN runs r ON r.run_id = ?1
               WHERE e.key > ?1 AND e.key < ?1 || ';'
                 AND e.job_namespace = r.job_namespace AND e.job_name = r.job_name
               ORDER BY e.event_time DESC, e.rowid DESC LIMIT ?2)
             ORDER BY event_time DESC, rowid DESC",
        )?;
        // Rows are read as they are parsed: those past the budget are never read.
        let rows = statement.query_map(params![run_id, FACET_HORIZON as i64], |row| {
            row.get::<_, String>(0)
        })?;
        within_facet_budget(rows.map(|row| row.map_err(StoreError::from)), String::len)
            .map(|text| Ok(serde_json::from_str(&text?)?))
            .collect()
    }

    /// A run's facets, each as the newest of its newest events (see `run_payloads`) sent it.
    pub fn run_facets(&self, run_id: &str) -> Result<Facets, StoreError> {
        Ok(facets_at(&self.run_payloads(run_id)?, "/run/facets"))
    }

    /// A job's runs, newest first.
    pub fn job_runs(
        &self,
        namespace: &str,
        name: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Page<RunRecord>, StoreError> {
        let total: i64 = self
            .connection
            .prepare_cached("SELECT COUNT(*) FROM runs WHERE job_namespace = ?1 AND job_name = ?2")?
            .query_row(params![namespace, name], |row| row.get(0))?;
        let items = self
            .connection
            .prepare_cached(
                "SELECT run_id, state, started_at, ended_at, updated_at FROM runs
                 WHERE job_namespace = ?1 AND job_name = ?2 ORDER BY updated_at DESC LIMIT ?3 OFFSET ?4",
            )?
            .query_map(params![namespace, name, limit as i64, offset as i64], run_record)?
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            total: total as usize,
        })
    }

    /// A run by id, with its job.
    pub fn run(&self, run_id: &str) -> Result<Option<(Name, RunRecord)>, StoreError> {
        Ok(self
            .connection
            .prepare_cached(
                "SELECT run_id, state, started_at, ended_at, updated_at, job_namespace, job_name FROM runs WHERE run_id = ?1",
            )?
            .query_row(params![run_id], |row| {
                let name = Name {
                    namespace: row.get(5)?,
                    name: row.get(6)?,
                };
                Ok((name, run_record(row)?))
            })
            .optional()?)
    }

    /// A dataset's versions, newest first: what each run wrote to it, and each DatasetEvent.
    pub fn dataset_versions(
        &self,
        namespace: &str,
        name: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Page<VersionRecord>, StoreError> {
        const VERSIONS: &str =
            "SELECT run_id, CASE WHEN run_id IS NULL THEN event_key END, MIN(at), MAX(at)
             FROM appearances WHERE kind = 'dataset' AND namespace = ?1 AND name = ?2
               AND role IN ('output', 'static')
             GROUP BY COALESCE(run_id, event_key)";
        let total: i64 = self
            .connection
            .prepare_cached(&format!("SELECT COUNT(*) FROM ({VERSIONS})"))?
            .query_row(params![namespace, name], |row| row.get(0))?;
        let items = self
            .connection
            .prepare_cached(&format!(
                "{VERSIONS} ORDER BY MAX(at) DESC LIMIT ?3 OFFSET ?4"
            ))?
            .query_map(
                params![namespace, name, limit as i64, offset as i64],
                |row| {
                    let run_id: Option<String> = row.get(0)?;
                    let event_key: Option<String> = row.get(1)?;
                    let origin = run_id
                        .clone()
                        .or_else(|| event_key.clone())
                        .unwrap_or_default();
                    Ok(VersionRecord {
                        version: version_id(namespace, name, &origin),
                        run_id,
                        event_key,
                        created_at: row.get(2)?,
                    })
                },
            )?
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            total: total as usize,
        })
    }

    /// The facets of one version of a dataset: those its run's events (or its DatasetEvent) gave
    /// it, each as the newest sent it.
    pub fn version_facets(
        &self,
        namespace: &str,
        name: &str,
        version: &VersionRecord,
    ) -> Result<Facets, StoreError> {
        let events = match (&version.run_id, &version.event_key) {
            (Some(run_id), _) => self.run_payloads(run_id)?,
            (None, Some(key)) => {
                let mut statement = self
                    .connection
                    .prepare_cached("SELECT payload FROM events WHERE key = ?1")?;
                payloads(&mut statement, params![key])?
            }
            (None, None) => Vec::new(),
        };
        Ok(dataset_facets_of(&events, namespace, name))
    }

    /// Every tag some dataset or field has, by name.
    pub fn tags(&self, limit: usize, offset: usize) -> Result<Page<String>, StoreError> {
        let total: i64 = self.connection.query_row(
            "SELECT COUNT(DISTINCT tag) FROM dataset_tags",
            [],
            |row| row.get(0),
        )?;
        let items = self
            .connection
            .prepare_cached(
                "SELECT DISTINCT tag FROM dataset_tags ORDER BY tag LIMIT ?1 OFFSET ?2",
            )?
            .query_map(params![limit as i64, offset as i64], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            total: total as usize,
        })
    }

    /// The sources of datasets (their namespaces), by name.
    pub fn sources(
        &self,
        limit: usize,
        offset: usize,
    ) -> Result<Page<NamespaceRecord>, StoreError> {
        let total: i64 = self.connection.query_row(
            "SELECT COUNT(DISTINCT namespace) FROM datasets",
            [],
            |row| row.get(0),
        )?;
        let items = self
            .connection
            .prepare_cached(
                "SELECT namespace, MIN(created_at), MAX(updated_at) FROM datasets
                 GROUP BY namespace ORDER BY namespace LIMIT ?1 OFFSET ?2",
            )?
            .query_map(params![limit as i64, offset as i64], namespace_record)?
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            total: total as usize,
        })
    }

    /// Jobs and datasets whose name (or DataSet name) matches, by name or newest first.
    pub fn search(&self, query: &SearchQuery) -> Result<Page<Found>, StoreError> {
        let (matches, order) = search_sql(query, "LIKE", |n| format!("?{n}"));
        let pattern = like_literal(&query.pattern);
        let mut args: Vec<&dyn rusqlite::ToSql> = vec![&pattern, &query.before, &query.after];
        if let Some(namespace) = &query.namespace {
            args.push(namespace);
        }
        let total: i64 = self
            .connection
            .prepare_cached(&format!("SELECT COUNT(*) FROM ({matches}) AS m"))?
            .query_row(&args[..], |row| row.get(0))?;
        let limit = query.limit as i64;
        args.push(&limit);
        let items = self
            .connection
            .prepare_cached(&format!(
                "SELECT kind, namespace, name, updated FROM ({matches}) AS m ORDER BY {order} LIMIT ?{}",
                args.len()
            ))?
            .query_map(&args[..], |row| {
                Ok(Found {
                    kind: if row.get::<_, String>(0)? == "job" {
                        NodeKind::Job
                    } else {
                        NodeKind::Dataset
                    },
                    namespace: row.get(1)?,
                    name: row.get(2)?,
                    updated_at: row.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            total: total as usize,
        })
    }

    /// Stored events in time order (by their normalised times), as recorded.
    pub fn events_by_time(&self, query: &EventQuery) -> Result<Page<Value>, StoreError> {
        let before = query.before.as_deref().map(normalized_time);
        let after = query.after.as_deref().map(normalized_time);
        // Bounds the index can range over (`IS NULL OR` hides them from the planner): byte 0xFF
        // sorts after every UTF-8 text, so an unbounded end still holds every time.
        let filter = "WHERE t.at < COALESCE(?1, CAST(x'FF' AS TEXT)) AND t.at >= COALESCE(?2, '')";
        let total: i64 = self
            .connection
            .prepare_cached(&format!("SELECT COUNT(*) FROM event_times t {filter}"))?
            .query_row(params![before, after], |row| row.get(0))?;
        let direction = if query.ascending { "ASC" } else { "DESC" };
        let mut statement = self.connection.prepare_cached(&format!(
            "SELECT e.payload FROM event_times t JOIN events e ON e.key = t.key {filter}
             ORDER BY t.at {direction}, t.key {direction} LIMIT ?3 OFFSET ?4"
        ))?;
        let rows = statement.query_map(
            params![before, after, query.limit as i64, query.offset as i64],
            |row| row.get::<_, String>(0),
        )?;
        let (mut items, mut bytes) = (Vec::new(), 0);
        for row in rows {
            let payload = row?;
            if !items.is_empty() && bytes + payload.len() > EVENT_PAGE_BYTES {
                break;
            }
            bytes += payload.len();
            items.push(serde_json::from_str(&payload)?);
        }
        Ok(Page {
            items,
            total: total as usize,
        })
    }
}
