//! The reads of the SQLite store (catalog.rs, graph.rs, governance.rs) in PostgreSQL's SQL:
//! the same tables, the same answers.

use std::sync::Arc;

use postgres::Row;
use postgres::types::ToSql;
use serde_json::Value;

use super::PgStore;
use crate::backend::Lineage;
use crate::catalog::{
    DatasetRecord, EVENT_PAGE_BYTES, EventQuery, FACET_BYTES, FACET_HORIZON, Facets, Found,
    JobRecord, Name, NamespaceRecord, Page, RunRecord, SearchQuery, VersionRecord,
    dataset_facets_of, facets_at, like_literal, search_sql, version_id, within_facet_budget,
};
use crate::event::{Received, normalized_time};
use crate::governance::{
    FLOWS_FROM_PII, PiiFlow, PiiFlows, TaggedDataset, fields, within_flow_budget,
};
use crate::graph::{self, DATASET_COLUMNS, Direction, JOB_COLUMNS, Neighbourhood, Node, NodeKind};
use crate::store::{EventCache, Ingested, StoreError};

type Params<'a> = [&'a (dyn ToSql + Sync)];

const NAMESPACES: &str = "SELECT namespace, MIN(created_at), MAX(updated_at) FROM (
      SELECT namespace, created_at, last_time AS updated_at FROM jobs
      UNION ALL SELECT namespace, created_at, updated_at FROM datasets) AS n";

fn namespace_record(row: &Row) -> NamespaceRecord {
    NamespaceRecord {
        name: row.get(0),
        created_at: row.get(1),
        updated_at: row.get(2),
    }
}

fn run_record(row: &Row) -> RunRecord {
    RunRecord {
        id: row.get(0),
        state: row.get(1),
        started_at: row.get(2),
        ended_at: row.get(3),
        updated_at: row.get(4),
    }
}

fn dataset_record(row: &Row) -> DatasetRecord {
    DatasetRecord {
        namespace: row.get(0),
        name: row.get(1),
        alias: row.get(2),
        created_at: row.get(3),
        updated_at: row.get(4),
    }
}

fn job_node(row: &Row) -> Node {
    Node {
        kind: NodeKind::Job,
        namespace: row.get(0),
        name: row.get(1),
        alias: None,
        last_run: row.get(2),
        last_state: row.get(3),
        last_time: row.get(4),
    }
}

fn dataset_node(row: &Row) -> Node {
    Node {
        kind: NodeKind::Dataset,
        namespace: row.get(0),
        name: row.get(1),
        alias: row.get(2),
        last_run: None,
        last_state: None,
        last_time: None,
    }
}

fn kind_text(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Job => "job",
        NodeKind::Dataset => "dataset",
    }
}

impl PgStore {
    fn page<T>(
        &self,
        count: &str,
        select: &str,
        params: &Params<'_>,
        paging: (usize, usize),
        read: impl Fn(&Row) -> T,
    ) -> Result<Page<T>, StoreError> {
        let total = self.count(count, params)?;
        let items = self.rows_of_page(select, params, paging)?;
        Ok(Page {
            items: items.iter().map(read).collect(),
            total,
        })
    }

    /// `select`'s rows with the page's `LIMIT` and `OFFSET` as its last two parameters.
    fn rows_of_page(
        &self,
        select: &str,
        params: &Params<'_>,
        (limit, offset): (usize, usize),
    ) -> Result<Vec<Row>, StoreError> {
        let (limit, offset) = (limit as i64, offset as i64);
        let mut all: Vec<&(dyn ToSql + Sync)> = params.to_vec();
        all.push(&limit);
        all.push(&offset);
        self.query(select, &all)
    }

    /// A page of a short list (a job's runs, a dataset's versions) and its total in one query:
    /// `select` ends with `COUNT(*) OVER ()`. An empty page past the end asks `count`.
    fn counted_page<T>(
        &self,
        [count, select]: [&str; 2],
        params: &Params<'_>,
        paging: (usize, usize),
        read: impl Fn(&Row) -> T,
    ) -> Result<Page<T>, StoreError> {
        let rows = self.rows_of_page(select, params, paging)?;
        let total = match rows.first() {
            Some(row) => row.get::<_, i64>(row.len() - 1) as usize,
            None if paging.1 == 0 => 0,
            None => self.count(count, params)?,
        };
        let items = rows.iter().map(read).collect();
        Ok(Page { items, total })
    }

    fn node(
        &self,
        kind: NodeKind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Node>, StoreError> {
        Ok(match kind {
            NodeKind::Job => self
                .query_opt(
                    &format!("SELECT {JOB_COLUMNS} FROM jobs j WHERE j.namespace = $1 AND j.name = $2"),
                    &[&namespace, &name],
                )?
                .as_ref()
                .map(job_node),
            NodeKind::Dataset => self
                .query_opt(
                    &format!(
                        "SELECT {DATASET_COLUMNS} FROM datasets d WHERE d.namespace = $1 AND d.name = $2"
                    ),
                    &[&namespace, &name],
                )?
                .as_ref()
                .map(dataset_node),
        })
    }

    /// See graph.rs `neighbours`.
    fn neighbours(&self, node: &Node, upstream: bool) -> Result<Vec<Node>, StoreError> {
        let direction = match (node.kind, upstream) {
            (NodeKind::Job, true) | (NodeKind::Dataset, false) => "input",
            (NodeKind::Job, false) | (NodeKind::Dataset, true) => "output",
        };
        let limit = graph::MAX_NODES as i64;
        let params: &Params<'_> = &[&node.namespace, &node.name, &direction, &limit];
        Ok(match node.kind {
            NodeKind::Job => self
                .query(
                    &format!(
                        "SELECT {DATASET_COLUMNS} FROM job_io io JOIN datasets d
                           ON d.namespace = io.dataset_namespace AND d.name = io.dataset_name
                         WHERE io.job_namespace = $1 AND io.job_name = $2 AND io.direction = $3 LIMIT $4"
                    ),
                    params,
                )?
                .iter()
                .map(dataset_node)
                .collect(),
            NodeKind::Dataset => self
                .query(
                    &format!(
                        "SELECT {JOB_COLUMNS} FROM job_io io JOIN jobs j
                           ON j.namespace = io.job_namespace AND j.name = io.job_name
                         WHERE io.dataset_namespace = $1 AND io.dataset_name = $2 AND io.direction = $3 LIMIT $4"
                    ),
                    params,
                )?
                .iter()
                .map(job_node)
                .collect(),
        })
    }

    /// The payloads of the newest events naming a job or a dataset, newest first, as catalog.rs's
    /// `appearing` chooses them.
    fn appearing(
        &self,
        kind: NodeKind,
        namespace: &str,
        name: &str,
    ) -> Result<Vec<Arc<Value>>, StoreError> {
        // As in `run_payloads`: those past the budget are not fetched.
        let (horizon, budget) = (FACET_HORIZON as i64, FACET_BYTES as i64);
        let rows = self.query(
            "SELECT key, payload FROM (
               SELECT e.key, e.payload, a.at, a.event_key,
                 SUM(octet_length(e.payload)) OVER (ORDER BY a.at DESC, a.event_key DESC) AS upto
               FROM (SELECT DISTINCT at, event_key FROM appearances
                     WHERE kind = $1 AND namespace = $2 AND name = $3
                     ORDER BY at DESC, event_key DESC LIMIT $4) a
               JOIN events e ON e.key = a.event_key) AS newest
             WHERE upto - octet_length(payload) < $5 ORDER BY at DESC, event_key DESC",
            &[&kind_text(kind), &namespace, &name, &horizon, &budget],
        )?;
        let rows = rows
            .iter()
            .map(|row| Ok((row.get(0), row.get::<_, &str>(1))));
        within_facet_budget(rows, |(_, text)| text.len())
            .map(|row| {
                let (key, text) = row?;
                self.parsed.parse(key, text)
            })
            .collect()
    }

    /// The newest stored events of a run, newest first, as catalog.rs's `run_payloads` chooses
    /// them: the running total of their sizes (which PostgreSQL knows without reading them) keeps
    /// those past the budget from being fetched at all.
    fn run_payloads(&self, run_id: &str) -> Result<Vec<Value>, StoreError> {
        let (horizon, budget) = (FACET_HORIZON as i64, FACET_BYTES as i64);
        let rows = self.query(
            "SELECT payload FROM (
               SELECT e.payload, e.event_time, e.seq,
                 SUM(octet_length(e.payload)) OVER (ORDER BY e.event_time DESC, e.seq DESC) AS upto
               FROM events e JOIN runs r ON r.run_id = $1
               WHERE e.key > $1 AND e.key < $1 || ';'
                 AND e.job_namespace = r.job_namespace AND e.job_name = r.job_name
               ORDER BY e.event_time DESC, e.seq DESC LIMIT $2) AS newest
             WHERE upto - octet_length(payload) < $3 ORDER BY event_time DESC, seq DESC",
            &[&run_id, &horizon, &budget],
        )?;
        within_facet_budget(rows.iter().map(|row| Ok(row.get::<_, &str>(0))), |t| {
            t.len()
        })
        .map(|text| Ok(serde_json::from_str(text?)?))
        .collect()
    }
}

fn parse_payloads(rows: &[Row]) -> Result<Vec<Value>, StoreError> {
    rows.iter()
        .map(|row| Ok(serde_json::from_str(row.get::<_, &str>(0))?))
        .collect()
}

/// The `pii` table of governance.rs's `FLOWS_FROM_PII` in PostgreSQL.
const PII: &str = "WITH pii AS (
    SELECT namespace, name, json_agg(field ORDER BY field)::text AS fields
    FROM (SELECT DISTINCT namespace, name, field FROM dataset_tags WHERE tag = 'pii') AS f
    GROUP BY namespace, name
)";

impl Lineage for PgStore {
    fn ingest(&mut self, events: &[(&Received, &str)]) -> Result<Ingested, StoreError> {
        self.ingest_received(events)
    }

    fn namespaces(&self, limit: usize, offset: usize) -> Result<Page<NamespaceRecord>, StoreError> {
        self.page(
            "SELECT COUNT(*) FROM (SELECT namespace FROM jobs UNION SELECT namespace FROM datasets) AS n",
            &format!("{NAMESPACES} GROUP BY namespace ORDER BY namespace LIMIT $1 OFFSET $2"),
            &[],
            (limit, offset),
            namespace_record,
        )
    }

    fn namespace(&self, name: &str) -> Result<Option<NamespaceRecord>, StoreError> {
        Ok(self
            .query_opt(
                &format!("{NAMESPACES} WHERE namespace = $1 GROUP BY namespace"),
                &[&name],
            )?
            .as_ref()
            .map(namespace_record))
    }

    fn jobs(
        &self,
        namespace: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Page<JobRecord>, StoreError> {
        let names = self.page(
            "SELECT COUNT(*) FROM jobs WHERE namespace = $1",
            "SELECT name FROM jobs WHERE namespace = $1 ORDER BY name LIMIT $2 OFFSET $3",
            &[&namespace],
            (limit, offset),
            |row| row.get::<_, String>(0),
        )?;
        let mut items = Vec::with_capacity(names.items.len());
        for name in names.items {
            items.extend(self.job(namespace, &name)?);
        }
        Ok(Page {
            items,
            total: names.total,
        })
    }

    /// One query (a round trip each is most of a graph's cost over HTTP: 21 nodes, each
    /// described).
    fn job(&self, namespace: &str, name: &str) -> Result<Option<JobRecord>, StoreError> {
        let io = |direction: &str, column: &str| {
            format!(
                "ARRAY(SELECT {column} FROM job_io
                   WHERE job_namespace = $1 AND job_name = $2 AND direction = '{direction}'
                   ORDER BY dataset_namespace, dataset_name)"
            )
        };
        let Some(row) = self.query_opt(
            &format!(
                "SELECT j.created_at, j.last_time, j.streaming, {}, {}, {}, {},
                   r.run_id, r.state, r.started_at, r.ended_at, r.updated_at
                 FROM jobs j LEFT JOIN runs r ON r.run_id = j.last_run_id
                 WHERE j.namespace = $1 AND j.name = $2",
                io("input", "dataset_namespace"),
                io("input", "dataset_name"),
                io("output", "dataset_namespace"),
                io("output", "dataset_name"),
            ),
            &[&namespace, &name],
        )?
        else {
            return Ok(None);
        };
        let names = |at: usize| -> Vec<Name> {
            let namespaces: Vec<String> = row.get(at);
            let names: Vec<String> = row.get(at + 1);
            namespaces
                .into_iter()
                .zip(names)
                .map(|(namespace, name)| Name { namespace, name })
                .collect()
        };
        let latest_run = row.get::<_, Option<String>>(7).map(|id| RunRecord {
            id,
            state: row.get(8),
            started_at: row.get(9),
            ended_at: row.get(10),
            updated_at: row.get(11),
        });
        Ok(Some(JobRecord {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            created_at: row.get(0),
            updated_at: row.get(1),
            streaming: row.get(2),
            inputs: names(3),
            outputs: names(5),
            latest_run,
        }))
    }

    fn datasets(
        &self,
        namespace: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Page<DatasetRecord>, StoreError> {
        self.page(
            "SELECT COUNT(*) FROM datasets WHERE namespace = $1",
            "SELECT namespace, name, alias, created_at, updated_at FROM datasets
             WHERE namespace = $1 ORDER BY name LIMIT $2 OFFSET $3",
            &[&namespace],
            (limit, offset),
            dataset_record,
        )
    }

    fn dataset(&self, namespace: &str, name: &str) -> Result<Option<DatasetRecord>, StoreError> {
        Ok(self
            .query_opt(
                "SELECT namespace, name, alias, created_at, updated_at FROM datasets WHERE namespace = $1 AND name = $2",
                &[&namespace, &name],
            )?
            .as_ref()
            .map(dataset_record))
    }

    fn neighbourhood(
        &self,
        query: &str,
        direction: Direction,
        depth: usize,
    ) -> Result<Vec<Neighbourhood>, StoreError> {
        // As graph.rs's `find`: a node's id names only it.
        if let Some((kind, namespace, name)) = graph::parse_id(query)
            && let Some(found) = self.neighbourhood_of(kind, &namespace, &name, direction, depth)?
        {
            return Ok(vec![found]);
        }
        let mut roots: Vec<Node> = self
            .query(
                &format!(
                    "SELECT {JOB_COLUMNS} FROM jobs j WHERE j.name = $1
                     UNION SELECT {JOB_COLUMNS} FROM jobs j WHERE j.namespace || '/' || j.name = $1"
                ),
                &[&query],
            )?
            .iter()
            .map(job_node)
            .collect();
        roots.extend(
            self.query(
                &format!(
                    "SELECT {DATASET_COLUMNS} FROM datasets d WHERE d.name = $1
                     UNION SELECT {DATASET_COLUMNS} FROM datasets d WHERE d.alias = $1
                     UNION SELECT {DATASET_COLUMNS} FROM datasets d WHERE d.namespace || '/' || d.name = $1"
                ),
                &[&query],
            )?
            .iter()
            .map(dataset_node),
        );
        roots
            .iter()
            .map(|root| graph::walk(root, direction, depth, |n, up| self.neighbours(n, up)))
            .collect()
    }

    fn neighbourhood_of(
        &self,
        kind: NodeKind,
        namespace: &str,
        name: &str,
        direction: Direction,
        depth: usize,
    ) -> Result<Option<Neighbourhood>, StoreError> {
        self.node(kind, namespace, name)?
            .map(|root| graph::walk(&root, direction, depth, |n, up| self.neighbours(n, up)))
            .transpose()
    }

    fn labels(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .query(
                "SELECT name FROM jobs UNION SELECT COALESCE(alias, name) FROM datasets",
                &[],
            )?
            .iter()
            .map(|row| row.get(0))
            .collect())
    }

    fn job_facets(&self, namespace: &str, name: &str) -> Result<Facets, StoreError> {
        let events = self.appearing(NodeKind::Job, namespace, name)?;
        Ok(facets_at(events.iter().map(|e| &**e), "/job/facets"))
    }

    fn dataset_facets(&self, namespace: &str, name: &str) -> Result<Facets, StoreError> {
        let events = self.appearing(NodeKind::Dataset, namespace, name)?;
        Ok(dataset_facets_of(
            events.iter().map(|e| &**e),
            namespace,
            name,
        ))
    }

    fn run_facets(&self, run_id: &str) -> Result<Facets, StoreError> {
        Ok(facets_at(&self.run_payloads(run_id)?, "/run/facets"))
    }

    fn job_runs(
        &self,
        namespace: &str,
        name: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Page<RunRecord>, StoreError> {
        self.counted_page(
            [
                "SELECT COUNT(*) FROM runs WHERE job_namespace = $1 AND job_name = $2",
                "SELECT run_id, state, started_at, ended_at, updated_at, COUNT(*) OVER () FROM runs
                 WHERE job_namespace = $1 AND job_name = $2 ORDER BY updated_at DESC LIMIT $3 OFFSET $4",
            ],
            &[&namespace, &name],
            (limit, offset),
            run_record,
        )
    }

    fn run(&self, run_id: &str) -> Result<Option<(Name, RunRecord)>, StoreError> {
        Ok(self
            .query_opt(
                "SELECT run_id, state, started_at, ended_at, updated_at, job_namespace, job_name FROM runs WHERE run_id = $1",
                &[&run_id],
            )?
            .map(|row| {
                let name = Name {
                    namespace: row.get(5),
                    name: row.get(6),
                };
                (name, run_record(&row))
            }))
    }

    fn dataset_versions(
        &self,
        namespace: &str,
        name: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Page<VersionRecord>, StoreError> {
        const VERSIONS: &str =
            "SELECT run_id, CASE WHEN run_id IS NULL THEN event_key END AS event_key, MIN(at), MAX(at) AS newest
             FROM appearances WHERE kind = 'dataset' AND namespace = $1 AND name = $2
               AND role IN ('output', 'static')
             GROUP BY run_id, CASE WHEN run_id IS NULL THEN event_key END";
        self.counted_page(
            [
                &format!("SELECT COUNT(*) FROM ({VERSIONS}) AS v"),
                &format!(
                    "SELECT v.*, COUNT(*) OVER () FROM ({VERSIONS}) AS v ORDER BY newest DESC LIMIT $3 OFFSET $4"
                ),
            ],
            &[&namespace, &name],
            (limit, offset),
            |row| {
                let run_id: Option<String> = row.get(0);
                let event_key: Option<String> = row.get(1);
                let origin = run_id
                    .clone()
                    .or_else(|| event_key.clone())
                    .unwrap_or_default();
                VersionRecord {
                    version: version_id(namespace, name, &origin),
                    run_id,
                    event_key,
                    created_at: row.get(2),
                }
            },
        )
    }

    fn version_facets(
        &self,
        namespace: &str,
        name: &str,
        version: &VersionRecord,
    ) -> Result<Facets, StoreError> {
        let events = match (&version.run_id, &version.event_key) {
            (Some(run_id), _) => self.run_payloads(run_id)?,
            (None, Some(key)) => {
                parse_payloads(&self.query("SELECT payload FROM events WHERE key = $1", &[key])?)?
            }
            (None, None) => Vec::new(),
        };
        Ok(dataset_facets_of(&events, namespace, name))
    }

    fn tags(&self, limit: usize, offset: usize) -> Result<Page<String>, StoreError> {
        self.page(
            "SELECT COUNT(DISTINCT tag) FROM dataset_tags",
            "SELECT DISTINCT tag FROM dataset_tags ORDER BY tag LIMIT $1 OFFSET $2",
            &[],
            (limit, offset),
            |row| row.get(0),
        )
    }

    fn sources(&self, limit: usize, offset: usize) -> Result<Page<NamespaceRecord>, StoreError> {
        self.page(
            "SELECT COUNT(DISTINCT namespace) FROM datasets",
            "SELECT namespace, MIN(created_at), MAX(updated_at) FROM datasets
             GROUP BY namespace ORDER BY namespace LIMIT $1 OFFSET $2",
            &[],
            (limit, offset),
            namespace_record,
        )
    }

    fn search(&self, query: &SearchQuery) -> Result<Page<Found>, StoreError> {
        // SQLite's LIKE ignores ASCII case; ILIKE does too.
        let (matches, order) = search_sql(query, "ILIKE", |n| format!("${n}::text"));
        let pattern = like_literal(&query.pattern);
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&pattern, &query.before, &query.after];
        if let Some(namespace) = &query.namespace {
            params.push(namespace);
        }
        let total = self.count(&format!("SELECT COUNT(*) FROM ({matches}) AS m"), &params)?;
        let limit = query.limit as i64;
        params.push(&limit);
        let items = self
            .query(
                &format!(
                    "SELECT kind, namespace, name, updated FROM ({matches}) AS m ORDER BY {order} LIMIT ${}",
                    params.len()
                ),
                &params,
            )?
            .iter()
            .map(|row| Found {
                kind: if row.get::<_, &str>(0) == "job" {
                    NodeKind::Job
                } else {
                    NodeKind::Dataset
                },
                namespace: row.get(1),
                name: row.get(2),
                updated_at: row.get(3),
            })
            .collect();
        Ok(Page { items, total })
    }

    fn events_by_time(&self, query: &EventQuery) -> Result<Page<Value>, StoreError> {
        let before = query.before.as_deref().map(normalized_time);
        let after = query.after.as_deref().map(normalized_time);
        let filter = "WHERE ($1::text IS NULL OR t.at < $1) AND ($2::text IS NULL OR t.at >= $2)";
        let total = self.count(
            &format!("SELECT COUNT(*) FROM event_times t {filter}"),
            &[&before, &after],
        )?;
        let direction = if query.ascending { "ASC" } else { "DESC" };
        let (limit, offset) = (query.limit as i64, query.offset as i64);
        let rows = self.query(
            &format!(
                "SELECT e.payload FROM event_times t JOIN events e ON e.key = t.key {filter}
                 ORDER BY t.at {direction}, t.key {direction} LIMIT $3 OFFSET $4"
            ),
            &[&before, &after, &limit, &offset],
        )?;
        let (mut items, mut bytes) = (Vec::new(), 0);
        for row in &rows {
            let payload: &str = row.get(0);
            if !items.is_empty() && bytes + payload.len() > EVENT_PAGE_BYTES {
                break;
            }
            bytes += payload.len();
            items.push(serde_json::from_str(payload)?);
        }
        Ok(Page { items, total })
    }

    fn pii_flows(&self, limit: usize) -> Result<PiiFlows, StoreError> {
        let wanted = limit.saturating_add(1) as i64;
        let sql = format!("{PII}, {}", FLOWS_FROM_PII.replace("?1", "$1"));
        self.query_each(&sql, &[&wanted], |rows| {
            let flows = rows.map(|row| {
                let row = row?;
                let job = match (row.get(5), row.get(6)) {
                    (Some(namespace), Some(name)) => Some(Name { namespace, name }),
                    _ => None,
                };
                let target = match (row.get(8), row.get(9)) {
                    (Some(namespace), Some(name)) => Some(TaggedDataset {
                        namespace,
                        name,
                        alias: row.get(10),
                        pii_fields: fields(row.get(11)),
                        classification: row.get(12),
                    }),
                    _ => None,
                };
                Ok(PiiFlow {
                    source: TaggedDataset {
                        namespace: row.get(0),
                        name: row.get(1),
                        alias: row.get(2),
                        pii_fields: fields(row.get(3)),
                        classification: row.get(4),
                    },
                    job,
                    job_state: row.get(7),
                    target,
                })
            });
            within_flow_budget(flows, limit)
        })?
    }

    fn badges(&self, namespace: &str, name: &str) -> Result<(usize, Option<String>), StoreError> {
        let row = self.query_opt(
            "SELECT COUNT(DISTINCT CASE WHEN tag = 'pii' THEN field END),
                    MIN(CASE WHEN field = '' AND tag LIKE 'classification:%' THEN substr(tag, 16) END)
             FROM dataset_tags WHERE namespace = $1 AND name = $2",
            &[&namespace, &name],
        )?;
        Ok(row.map_or((0, None), |row| (row.get::<_, i64>(0) as usize, row.get(1))))
    }

    fn event_count(&self) -> Result<usize, StoreError> {
        self.count("SELECT COUNT(*) FROM events", &[])
    }

    fn event_cache(&self) -> &EventCache {
        &self.parsed
    }
}
