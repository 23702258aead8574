//! The lineage graph recorded in the store: datasets feed jobs (inputs), jobs produce datasets
//! (outputs), as of each job's latest run. Walks query the store hop by hop through indexes, so
//! their cost follows the neighbourhood, not the size of the graph.

use std::collections::{HashMap, VecDeque};

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    Job,
    Dataset,
}

/// A job or a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    pub kind: NodeKind,
    pub namespace: String,
    pub name: String,
    /// The DataSet manifest name of a dataset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// For a job: its latest run's id, state and time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_time: Option<String>,
}

/// The id of a job or a dataset, as Marquez writes them (`job:<namespace>:<name>`,
/// `dataset:<namespace>:<name>`) but with `%`, `:` and `#` in the name written `%25`, `%3A` and
/// `%23`. Namespaces hold colons (`postgres://host:5432`) and names hold slashes, so joined as
/// they are two nodes could share an id (`hr` + `etl:load` and `hr:etl` + `load`); with the name
/// escaped it is what follows the last colon ([`parse_node_id`]), and every node has its own id.
/// Names without those characters (nearly all) have exactly Marquez's id.
pub fn node_id(kind: NodeKind, namespace: &str, name: &str) -> String {
    let kind = match kind {
        NodeKind::Job => "job",
        NodeKind::Dataset => "dataset",
    };
    format!("{kind}:{namespace}:{}", escape_name(name))
}

/// `name` with `%`, `:` and `#` percent-encoded, for ids.
pub fn escape_name(name: &str) -> String {
    let mut escaped = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '%' => escaped.push_str("%25"),
            ':' => escaped.push_str("%3A"),
            '#' => escaped.push_str("%23"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// The namespace and name of an id's `<namespace>:<name>` (after its `job:` or `dataset:`), as
/// [`node_id`] writes it; `None` without a colon or with an escape other than `%25`, `%3A`, `%23`.
pub fn parse_node_id(rest: &str) -> Option<(String, String)> {
    let (namespace, escaped) = rest.rsplit_once(':')?;
    let mut parts = escaped.split('%');
    let mut name = parts.next().unwrap_or_default().to_owned();
    for part in parts {
        let (code, tail) = (part.get(..2)?, &part[2..]);
        name.push(match code.to_ascii_uppercase().as_str() {
            "25" => '%',
            "3A" => ':',
            "23" => '#',
            _ => return None,
        });
        name.push_str(tail);
    }
    Some((namespace.to_owned(), name))
}

/// The kind, namespace and name of a whole id (`job:...` or `dataset:...`, see [`node_id`]).
pub fn parse_id(id: &str) -> Option<(NodeKind, String, String)> {
    let (kind, rest) = match id.split_once(':')? {
        ("job", rest) => (NodeKind::Job, rest),
        ("dataset", rest) => (NodeKind::Dataset, rest),
        _ => return None,
    };
    let (namespace, name) = parse_node_id(rest)?;
    Some((kind, namespace, name))
}

impl Node {
    /// Its id: see [`node_id`].
    pub fn id(&self) -> String {
        node_id(self.kind, &self.namespace, &self.name)
    }

    /// The name people know it by.
    pub fn label(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Upstream,
    Downstream,
    Both,
}

/// An edge of a neighbourhood, by node id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Edge {
    pub from: String,
    pub to: String,
}

/// A node, how far it is from the start (negative: upstream), and the graph around it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Neighbourhood {
    pub root: Node,
    /// Nodes with their distance from the root: upstream negative, downstream positive.
    pub nodes: Vec<(Node, i64)>,
    pub edges: Vec<Edge>,
    /// The walk stopped at [`MAX_NODES`]: names come from unauthenticated events, and one event
    /// listing a million outputs must not make every read of its job walk them all.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// The most nodes a walk collects (and so the most any graph answer holds).
pub const MAX_NODES: usize = 500;

// A job recorded by a JobEvent alone has no run: its run and state are empty in the table.
pub(crate) const JOB_COLUMNS: &str =
    "j.namespace, j.name, NULLIF(j.last_run_id, ''), NULLIF(j.last_state, ''), j.last_time";
pub(crate) const DATASET_COLUMNS: &str = "d.namespace, d.name, d.alias";

fn job(row: &Row<'_>) -> rusqlite::Result<Node> {
    Ok(Node {
        kind: NodeKind::Job,
        namespace: row.get(0)?,
        name: row.get(1)?,
        alias: None,
        last_run: row.get(2)?,
        last_state: row.get(3)?,
        last_time: row.get(4)?,
    })
}

fn dataset(row: &Row<'_>) -> rusqlite::Result<Node> {
    Ok(Node {
        kind: NodeKind::Dataset,
        namespace: row.get(0)?,
        name: row.get(1)?,
        alias: row.get(2)?,
        last_run: None,
        last_state: None,
        last_time: None,
    })
}

/// Jobs and datasets matching `query`: a job name, a dataset name or DataSet name, or a full
/// `namespace/name`. Each is an indexed lookup: names by their own indexes, and
/// `namespace/name` by the primary key at each `/` (namespaces and names may both hold slashes),
/// so finding a node costs the same in any size of store. A node's id names only it: what to
/// pass when `namespace/name` names two (`hr` + `etl/load` and `hr/etl` + `load`).
pub(crate) fn find(connection: &Connection, query: &str) -> Result<Vec<Node>, StoreError> {
    if let Some((kind, namespace, name)) = parse_id(query)
        && let Some(found) = node(connection, kind, &namespace, &name)?
    {
        return Ok(vec![found]);
    }
    let mut jobs: Vec<Node> = connection
        .prepare_cached(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs j WHERE j.name = ?1"
        ))?
        .query_map(params![query], job)?
        .collect::<Result<_, _>>()?;
    let mut datasets: Vec<Node> = connection
        .prepare_cached(&format!(
            "SELECT {DATASET_COLUMNS} FROM datasets d WHERE d.name = ?1
             UNION SELECT {DATASET_COLUMNS} FROM datasets d WHERE d.alias = ?1"
        ))?
        .query_map(params![query], dataset)?
        .collect::<Result<_, _>>()?;
    for (index, _) in query.match_indices('/') {
        let (namespace, name) = (&query[..index], &query[index + 1..]);
        jobs.extend(node(connection, NodeKind::Job, namespace, name)?);
        datasets.extend(node(connection, NodeKind::Dataset, namespace, name)?);
    }
    let mut nodes = Vec::with_capacity(jobs.len() + datasets.len());
    for mut found in [jobs, datasets] {
        found.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        found.dedup_by(|a, b| (&a.namespace, &a.name) == (&b.namespace, &b.name));
        nodes.extend(found);
    }
    Ok(nodes)
}

/// The job or dataset with exactly this namespace and name.
pub(crate) fn node(
    connection: &Connection,
    kind: NodeKind,
    namespace: &str,
    name: &str,
) -> Result<Option<Node>, StoreError> {
    let (sql, read): (String, fn(&Row<'_>) -> rusqlite::Result<Node>) = match kind {
        NodeKind::Job => (
            format!("SELECT {JOB_COLUMNS} FROM jobs j WHERE j.namespace = ?1 AND j.name = ?2"),
            job,
        ),
        NodeKind::Dataset => (
            format!(
                "SELECT {DATASET_COLUMNS} FROM datasets d WHERE d.namespace = ?1 AND d.name = ?2"
            ),
            dataset,
        ),
    };
    Ok(connection
        .prepare_cached(&sql)?
        .query_row(params![namespace, name], read)
        .optional()?)
}

/// Every name a node can be found by, for "did you mean".
pub(crate) fn labels(connection: &Connection) -> Result<Vec<String>, StoreError> {
    let mut statement = connection
        .prepare("SELECT name FROM jobs UNION SELECT COALESCE(alias, name) FROM datasets")?;
    let labels = statement.query_map([], |row| row.get(0))?;
    Ok(labels.collect::<Result<_, _>>()?)
}

/// The nodes one hop from `node`: upstream, the inputs of a job or the jobs writing a dataset;
/// downstream, the outputs of a job or the jobs reading a dataset.
fn neighbours(
    connection: &Connection,
    node: &Node,
    upstream: bool,
) -> Result<Vec<Node>, StoreError> {
    let sql = match (node.kind, upstream) {
        (NodeKind::Job, _) => format!(
            "SELECT {DATASET_COLUMNS} FROM job_io io JOIN datasets d
               ON d.namespace = io.dataset_namespace AND d.name = io.dataset_name
             WHERE io.job_namespace = ?1 AND io.job_name = ?2 AND io.direction = ?3 LIMIT ?4"
        ),
        (NodeKind::Dataset, _) => format!(
            "SELECT {JOB_COLUMNS} FROM job_io io JOIN jobs j
               ON j.namespace = io.job_namespace AND j.name = io.job_name
             WHERE io.dataset_namespace = ?1 AND io.dataset_name = ?2 AND io.direction = ?3 LIMIT ?4"
        ),
    };
    // A job's upstream is what it reads; a dataset's upstream is who writes it.
    let direction = match (node.kind, upstream) {
        (NodeKind::Job, true) | (NodeKind::Dataset, false) => "input",
        (NodeKind::Job, false) | (NodeKind::Dataset, true) => "output",
    };
    let mut statement = connection.prepare_cached(&sql)?;
    let read = match node.kind {
        NodeKind::Job => dataset,
        NodeKind::Dataset => job,
    };
    let rows = statement.query_map(
        params![node.namespace, node.name, direction, MAX_NODES as i64],
        read,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The nodes within `depth` hops of `root` in `direction`.
pub(crate) fn around(
    connection: &Connection,
    root: &Node,
    direction: Direction,
    depth: usize,
) -> Result<Neighbourhood, StoreError> {
    walk(root, direction, depth, |node, upstream| {
        neighbours(connection, node, upstream)
    })
}

/// The nodes within `depth` hops of `root` in `direction`, one hop at a time through
/// `neighbours` (a node, and whether upstream): any store's walk.
pub(crate) fn walk(
    root: &Node,
    direction: Direction,
    depth: usize,
    mut neighbours: impl FnMut(&Node, bool) -> Result<Vec<Node>, StoreError>,
) -> Result<Neighbourhood, StoreError> {
    let mut found: HashMap<String, (Node, i64)> = HashMap::from([(root.id(), (root.clone(), 0))]);
    let mut edges = Vec::new();
    let mut truncated = false;
    let walks: &[(bool, i64)] = match direction {
        Direction::Upstream => &[(true, -1)],
        Direction::Downstream => &[(false, 1)],
        Direction::Both => &[(true, -1), (false, 1)],
    };
    for &(upstream, sign) in walks {
        let mut queue = VecDeque::from([(root.clone(), 0usize)]);
        let mut seen = std::collections::HashSet::from([root.id()]);
        while let Some((node, hops)) = queue.pop_front() {
            if hops == depth {
                continue;
            }
            let next_nodes = neighbours(&node, upstream)?;
            truncated |= next_nodes.len() >= MAX_NODES;
            for next in next_nodes {
                if !found.contains_key(&next.id()) && found.len() >= MAX_NODES {
                    truncated = true;
                    continue;
                }
                let (from, to) = if upstream {
                    (next.id(), node.id())
                } else {
                    (node.id(), next.id())
                };
                edges.push(Edge { from, to });
                if seen.insert(next.id()) {
                    found
                        .entry(next.id())
                        .or_insert_with(|| (next.clone(), sign * (hops as i64 + 1)));
                    queue.push_back((next, hops + 1));
                }
            }
        }
    }
    edges.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
    edges.dedup();
    let mut nodes: Vec<(Node, i64)> = found.into_values().collect();
    nodes.sort_by_key(|(node, distance)| (*distance, node.id()));
    Ok(Neighbourhood {
        root: root.clone(),
        nodes,
        edges,
        truncated,
    })
}
