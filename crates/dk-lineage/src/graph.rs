//! The lineage graph recorded in the store: datasets feed jobs (inputs), jobs produce datasets
//! (outputs), as of each job's latest run.

use std::collections::{HashMap, VecDeque};

use rusqlite::Connection;
use serde::Serialize;

use crate::store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    Job,
    Dataset,
}

/// A job or a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

impl Node {
    /// A stable id: `job:<namespace>/<name>` or `dataset:<namespace>/<name>`.
    pub fn id(&self) -> String {
        let kind = match self.kind {
            NodeKind::Job => "job",
            NodeKind::Dataset => "dataset",
        };
        format!("{kind}:{}/{}", self.namespace, self.name)
    }

    /// The name people know it by.
    pub fn label(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Upstream,
    Downstream,
    Both,
}

/// An edge of a neighbourhood, by node id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
}

/// A node, how far it is from the start (negative: upstream), and the graph around it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Neighbourhood {
    pub root: Node,
    /// Nodes with their distance from the root: upstream negative, downstream positive.
    pub nodes: Vec<(Node, i64)>,
    pub edges: Vec<Edge>,
}

/// The whole recorded graph.
#[derive(Debug, Default)]
pub struct LineageGraph {
    pub nodes: Vec<Node>,
    /// `(from, to)`: dataset → job for inputs, job → dataset for outputs.
    edges: Vec<(usize, usize)>,
}

impl LineageGraph {
    pub(crate) fn load(connection: &Connection) -> Result<LineageGraph, StoreError> {
        let mut graph = LineageGraph::default();
        let mut index: HashMap<(NodeKind, String, String), usize> = HashMap::new();
        let mut jobs = connection.prepare("SELECT namespace, name, last_run_id, last_state, last_time FROM jobs ORDER BY namespace, name")?;
        for row in jobs.query_map([], |row| {
            Ok(Node {
                kind: NodeKind::Job,
                namespace: row.get(0)?,
                name: row.get(1)?,
                alias: None,
                last_run: row.get(2)?,
                last_state: row.get(3)?,
                last_time: row.get(4)?,
            })
        })? {
            let node = row?;
            index.insert(
                (NodeKind::Job, node.namespace.clone(), node.name.clone()),
                graph.nodes.len(),
            );
            graph.nodes.push(node);
        }
        let mut datasets = connection
            .prepare("SELECT namespace, name, alias FROM datasets ORDER BY namespace, name")?;
        for row in datasets.query_map([], |row| {
            Ok(Node {
                kind: NodeKind::Dataset,
                namespace: row.get(0)?,
                name: row.get(1)?,
                alias: row.get(2)?,
                last_run: None,
                last_state: None,
                last_time: None,
            })
        })? {
            let node = row?;
            index.insert(
                (NodeKind::Dataset, node.namespace.clone(), node.name.clone()),
                graph.nodes.len(),
            );
            graph.nodes.push(node);
        }
        let mut io = connection.prepare("SELECT job_namespace, job_name, dataset_namespace, dataset_name, direction FROM job_io")?;
        for row in io.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
            ))
        })? {
            let (job_ns, job, ds_ns, ds, direction) = row?;
            let (Some(&job), Some(&dataset)) = (
                index.get(&(NodeKind::Job, job_ns, job)),
                index.get(&(NodeKind::Dataset, ds_ns, ds)),
            ) else {
                continue;
            };
            graph.edges.push(if direction == "input" {
                (dataset, job)
            } else {
                (job, dataset)
            });
        }
        Ok(graph)
    }

    /// Nodes matching `query`: a job name, a dataset name or DataSet name, or a full
    /// `namespace/name`.
    pub fn find(&self, query: &str) -> Vec<usize> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, node)| {
                node.name == query
                    || node.alias.as_deref() == Some(query)
                    || format!("{}/{}", node.namespace, node.name) == query
            })
            .map(|(index, _)| index)
            .collect()
    }

    /// Names close to `query`, for "did you mean".
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().map(Node::label)
    }

    /// The nodes within `depth` hops of `start` in `direction`.
    pub fn around(&self, start: usize, direction: Direction, depth: usize) -> Neighbourhood {
        let mut upstream: Vec<Vec<usize>> = vec![Vec::new(); self.nodes.len()];
        let mut downstream: Vec<Vec<usize>> = vec![Vec::new(); self.nodes.len()];
        for &(from, to) in &self.edges {
            downstream[from].push(to);
            upstream[to].push(from);
        }
        let mut distance: HashMap<usize, i64> = HashMap::from([(start, 0)]);
        let mut edges = Vec::new();
        let walks: &[(&Vec<Vec<usize>>, i64)] = match direction {
            Direction::Upstream => &[(&upstream, -1)],
            Direction::Downstream => &[(&downstream, 1)],
            Direction::Both => &[(&upstream, -1), (&downstream, 1)],
        };
        for &(adjacency, sign) in walks {
            let mut queue = VecDeque::from([(start, 0usize)]);
            let mut seen = vec![false; self.nodes.len()];
            seen[start] = true;
            while let Some((node, hops)) = queue.pop_front() {
                if hops == depth {
                    continue;
                }
                for &next in &adjacency[node] {
                    let (from, to) = if sign < 0 { (next, node) } else { (node, next) };
                    edges.push(Edge {
                        from: self.nodes[from].id(),
                        to: self.nodes[to].id(),
                    });
                    if !seen[next] {
                        seen[next] = true;
                        distance.entry(next).or_insert(sign * (hops as i64 + 1));
                        queue.push_back((next, hops + 1));
                    }
                }
            }
        }
        edges.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
        edges.dedup();
        let mut nodes: Vec<(Node, i64)> = distance
            .into_iter()
            .map(|(index, d)| (self.nodes[index].clone(), d))
            .collect();
        nodes.sort_by_key(|(node, distance)| (*distance, node.id()));
        Neighbourhood {
            root: self.nodes[start].clone(),
            nodes,
            edges,
        }
    }
}
