//! The lineage web UI served by `dk lineage serve`: its assets (embedded, hand-written, no build
//! step), and the graph it draws, laid out here so that the browser only places boxes.
//!
//! The layout is a small Sugiyama: cycles are broken by ignoring the edges a depth-first walk
//! finds going back, nodes are layered by their longest path from a source (left to right), and
//! each layer is ordered by the barycentre of its neighbours in a few sweeps.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use serde_json::Value;

use crate::backend::Lineage;
use crate::event::facet_tags;
use crate::graph::{Direction, Node, NodeKind};
use crate::store::{LineageStore, StoreError};

/// The page every UI route answers with; the script routes in the browser.
pub const INDEX_HTML: &str = include_str!("../ui/index.html");

/// An embedded asset: its path under `/ui/`, content type and bytes.
pub const ASSETS: [(&str, &str, &[u8]); 3] = [
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../ui/app.css"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("../ui/icon.svg"),
    ),
];

/// The policy every answer carries: scripts and styles only from the server's own files, no
/// inline script or style, no framing, requests only to the same origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// The embedded asset at `/ui/<name>`.
pub fn asset(name: &str) -> Option<(&'static str, &'static [u8])> {
    ASSETS
        .iter()
        .find(|(path, _, _)| *path == name)
        .map(|(_, kind, bytes)| (*kind, *bytes))
}

/// The UI's path of a job or dataset (`/lineage/job/<namespace>/<name>`), each part
/// percent-encoded so that namespaces like `postgres://db:5432` stay one segment.
pub fn node_path(kind: NodeKind, namespace: &str, name: &str) -> String {
    let kind = match kind {
        NodeKind::Job => "job",
        NodeKind::Dataset => "dataset",
    };
    format!("/lineage/{kind}/{}/{}", encode(namespace), encode(name))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Caps on one graph answer, whatever the events said: a dataset with a million fields or a
/// job with a million outputs is drawn in part, and says so.
pub const MAX_GRAPH_NODES: usize = 500;
pub const MAX_GRAPH_EDGES: usize = 2000;
pub const MAX_FIELDS: usize = 200;
pub const MAX_COLUMN_EDGES: usize = 2000;
/// The most datasets shown expanded at once.
pub const MAX_EXPANDED: usize = 50;
pub const MAX_DEPTH: usize = 50;

// Geometry, in SVG user units.
const NODE_WIDTH: f64 = 220.0;
const NODE_HEIGHT: f64 = 56.0;
const FIELD_HEIGHT: f64 = 20.0;
const GAP_X: f64 = 90.0;
const GAP_Y: f64 = 28.0;
const SWEEPS: usize = 4;

/// A field of a dataset as drawn: its offset from the top of its node.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UiField {
    pub name: String,
    #[serde(rename = "type")]
    pub field_type: Option<String>,
    pub pii: bool,
    pub y: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UiNode {
    /// `job:<namespace>:<name>` or `dataset:<namespace>:<name>`, as Marquez names nodes (see
    /// [`node_id`]).
    pub id: String,
    pub kind: NodeKind,
    pub namespace: String,
    pub name: String,
    pub label: String,
    /// Upstream negative, downstream positive.
    pub distance: i64,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    /// A job's latest run state (`COMPLETE`, `FAIL`...).
    pub state: Option<String>,
    pub failed: bool,
    /// How many fields are marked PII.
    pub pii: usize,
    pub classification: Option<String>,
    /// How many fields the schema has, when expanded (the fields are read only then).
    pub field_count: usize,
    pub expanded: bool,
    pub fields: Vec<UiField>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct UiEdge {
    pub from: String,
    pub to: String,
}

/// Column lineage: field `to_field` of `to` is derived from `from_field` of `from`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ColumnEdge {
    pub from: String,
    pub from_field: String,
    pub to: String,
    pub to_field: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GraphView {
    pub root: String,
    pub depth: usize,
    pub width: f64,
    pub height: f64,
    pub nodes: Vec<UiNode>,
    pub edges: Vec<UiEdge>,
    pub column_edges: Vec<ColumnEdge>,
    /// A cap was reached: some nodes, edges or fields are not shown.
    pub truncated: bool,
}

/// A node's id in Marquez's form, its name escaped so that no two nodes share one.
pub use crate::graph::node_id;

/// How many fields of a dataset its latest tags mark PII, and its classification.
pub(crate) fn badges(
    store: &LineageStore,
    namespace: &str,
    name: &str,
) -> Result<(usize, Option<String>), StoreError> {
    let mut statement = store.connection.prepare_cached(
        "SELECT COUNT(DISTINCT CASE WHEN tag = 'pii' THEN field END),
                MIN(CASE WHEN field = '' AND tag LIKE 'classification:%' THEN substr(tag, 16) END)
         FROM dataset_tags WHERE namespace = ?1 AND name = ?2",
    )?;
    Ok(
        statement.query_row(rusqlite::params![namespace, name], |row| {
            Ok((row.get::<_, i64>(0)? as usize, row.get(1)?))
        })?,
    )
}

/// What a dataset's facets say about its fields: (name, type, PII), and which of its fields
/// derive from which input fields.
struct Described {
    fields: Vec<(String, Option<String>, bool)>,
    /// (input dataset id, input field, own field).
    derived: Vec<(String, String, String)>,
}

fn text<'a>(value: &'a Value, member: &str) -> Option<&'a str> {
    value.get(member).and_then(Value::as_str)
}

fn describe(facets: &serde_json::Map<String, Value>) -> Described {
    let tags = facets.get("tags").and_then(facet_tags).unwrap_or_default();
    let pii: BTreeSet<&str> = tags
        .iter()
        .filter(|(_, tag)| tag == "pii")
        .map(|(field, _)| field.as_str())
        .collect();
    let fields = facets
        .get("schema")
        .and_then(|schema| schema.get("fields"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|field| {
            let name = text(field, "name")?;
            Some((
                name.to_owned(),
                text(field, "type").map(str::to_owned),
                pii.contains(name),
            ))
        })
        .collect();
    let mut derived = Vec::new();
    if let Some(columns) = facets
        .get("columnLineage")
        .and_then(|c| c.get("fields"))
        .and_then(Value::as_object)
    {
        'fields: for (field, lineage) in columns {
            for input in lineage
                .get("inputFields")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if derived.len() >= MAX_COLUMN_EDGES {
                    break 'fields;
                }
                if let (Some(ns), Some(ds), Some(from)) = (
                    text(input, "namespace"),
                    text(input, "name"),
                    text(input, "field"),
                ) {
                    derived.push((
                        node_id(NodeKind::Dataset, ns, ds),
                        from.to_owned(),
                        field.clone(),
                    ));
                }
            }
        }
    }
    Described { fields, derived }
}

/// The graph around a job or dataset within `depth` hops both ways, laid out; `None` when it is
/// not recorded. Datasets whose ids are in `expanded` are drawn with their fields.
pub fn graph_view(
    store: &dyn Lineage,
    kind: NodeKind,
    namespace: &str,
    name: &str,
    depth: usize,
    expanded: &[String],
) -> Result<Option<GraphView>, StoreError> {
    let depth = depth.min(MAX_DEPTH);
    let Some(around) = store.neighbourhood_of(kind, namespace, name, Direction::Both, depth)?
    else {
        return Ok(None);
    };
    let mut truncated = around.truncated;
    let mut shown: Vec<&(Node, i64)> = around.nodes.iter().collect();
    // Nearest first, so that a cap keeps what is closest to the root.
    shown.sort_by_key(|(node, distance)| (distance.abs(), node.id()));
    if shown.len() > MAX_GRAPH_NODES {
        shown.truncate(MAX_GRAPH_NODES);
        truncated = true;
    }
    let index: HashMap<String, usize> = shown
        .iter()
        .enumerate()
        .map(|(i, (node, _))| (node.id(), i))
        .collect();
    let mut edges: Vec<(usize, usize)> = around
        .edges
        .iter()
        .filter_map(|e| Some((*index.get(&e.from)?, *index.get(&e.to)?)))
        .collect();
    if edges.len() > MAX_GRAPH_EDGES {
        edges.truncate(MAX_GRAPH_EDGES);
        truncated = true;
    }
    let expanded: BTreeSet<&str> = expanded
        .iter()
        .take(MAX_EXPANDED)
        .map(String::as_str)
        .collect();
    let mut nodes = Vec::with_capacity(shown.len());
    let mut column_edges = Vec::new();
    for (node, distance) in &shown {
        let id = node_id(node.kind, &node.namespace, &node.name);
        let open = node.kind == NodeKind::Dataset && expanded.contains(id.as_str());
        // Badges come from the indexed tag table; the facets (whose events may be large) are
        // read only for the datasets drawn expanded.
        let (pii, classification) = match node.kind {
            NodeKind::Dataset => store.badges(&node.namespace, &node.name)?,
            NodeKind::Job => (0, None),
        };
        let mut fields = Vec::new();
        let mut field_count = 0;
        if open {
            let described = describe(&store.dataset_facets(&node.namespace, &node.name)?);
            field_count = described.fields.len();
            truncated |= field_count > MAX_FIELDS;
            fields = described
                .fields
                .into_iter()
                .take(MAX_FIELDS)
                .enumerate()
                .map(|(i, (name, field_type, pii))| UiField {
                    name,
                    field_type,
                    pii,
                    y: NODE_HEIGHT + FIELD_HEIGHT * i as f64 + FIELD_HEIGHT / 2.0,
                })
                .collect();
            for (from, from_field, to_field) in described.derived {
                column_edges.push(ColumnEdge {
                    from,
                    from_field,
                    to: id.clone(),
                    to_field,
                });
            }
        }
        let failed = matches!(node.last_state.as_deref(), Some("FAIL" | "ABORT"));
        nodes.push(UiNode {
            id,
            kind: node.kind,
            namespace: node.namespace.clone(),
            name: node.name.clone(),
            label: node.label().to_owned(),
            distance: *distance,
            x: 0.0,
            y: 0.0,
            width: NODE_WIDTH,
            height: NODE_HEIGHT + FIELD_HEIGHT * fields.len() as f64,
            state: node.last_state.clone(),
            failed,
            pii,
            classification,
            field_count,
            expanded: open,
            fields,
        });
    }
    let ids: BTreeSet<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
    column_edges.retain(|e| ids.contains(e.from.as_str()));
    column_edges.sort();
    column_edges.dedup();
    if column_edges.len() > MAX_COLUMN_EDGES {
        column_edges.truncate(MAX_COLUMN_EDGES);
        truncated = true;
    }
    let heights: Vec<f64> = nodes.iter().map(|n| n.height).collect();
    let (positions, width, height) = layout(&heights, &edges);
    for (node, (x, y)) in nodes.iter_mut().zip(positions) {
        node.x = x;
        node.y = y;
    }
    let edges = edges
        .into_iter()
        .map(|(from, to)| UiEdge {
            from: nodes[from].id.clone(),
            to: nodes[to].id.clone(),
        })
        .collect();
    Ok(Some(GraphView {
        root: node_id(kind, namespace, name),
        depth,
        width,
        height,
        nodes,
        edges,
        column_edges,
        truncated,
    }))
}

/// Top-left corners for boxes of the given heights joined by `edges` (indexes), flowing left to
/// right, and the size of the whole drawing.
pub fn layout(heights: &[f64], edges: &[(usize, usize)]) -> (Vec<(f64, f64)>, f64, f64) {
    let count = heights.len();
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); count];
    for &(from, to) in edges {
        if from != to {
            out[from].push(to);
        }
    }
    // Depth-first from every node in order; an edge to a node still on the stack closes a cycle
    // and is left out of the layering.
    let mut forward: Vec<Vec<usize>> = vec![Vec::new(); count];
    let mut state = vec![0u8; count]; // 0 new, 1 on the stack, 2 done
    for start in 0..count {
        if state[start] != 0 {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        state[start] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&to) = out[node].get(*next) {
                *next += 1;
                match state[to] {
                    0 => {
                        forward[node].push(to);
                        state[to] = 1;
                        stack.push((to, 0));
                    }
                    2 => forward[node].push(to),
                    _ => {}
                }
            } else {
                state[node] = 2;
                stack.pop();
            }
        }
    }
    // Longest path from a source, in topological order.
    let mut incoming = vec![0usize; count];
    for targets in &forward {
        for &to in targets {
            incoming[to] += 1;
        }
    }
    let mut queue: Vec<usize> = (0..count).filter(|&n| incoming[n] == 0).collect();
    let mut layer = vec![0usize; count];
    while let Some(node) = queue.pop() {
        for &to in &forward[node] {
            layer[to] = layer[to].max(layer[node] + 1);
            incoming[to] -= 1;
            if incoming[to] == 0 {
                queue.push(to);
            }
        }
    }
    let layers = layer.iter().max().map_or(0, |max| max + 1);
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); layers];
    for node in 0..count {
        rows[layer[node]].push(node);
    }
    let mut backward: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (from, targets) in forward.iter().enumerate() {
        for &to in targets {
            backward[to].push(from);
        }
    }
    let mut rank = vec![0.0f64; count];
    let rerank = |rows: &Vec<Vec<usize>>, rank: &mut Vec<f64>| {
        for row in rows {
            for (i, &node) in row.iter().enumerate() {
                rank[node] = i as f64;
            }
        }
    };
    rerank(&rows, &mut rank);
    for sweep in 0..SWEEPS {
        let (order, neighbours): (Vec<usize>, &Vec<Vec<usize>>) = if sweep % 2 == 0 {
            ((1..layers).collect(), &backward)
        } else {
            ((0..layers.saturating_sub(1)).rev().collect(), &forward)
        };
        for l in order {
            let mut keyed: Vec<(f64, usize)> = rows[l]
                .iter()
                .map(|&node| {
                    let around = &neighbours[node];
                    let key = if around.is_empty() {
                        rank[node]
                    } else {
                        around.iter().map(|&n| rank[n]).sum::<f64>() / around.len() as f64
                    };
                    (key, node)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(rank[a.1].total_cmp(&rank[b.1])));
            rows[l] = keyed.into_iter().map(|(_, node)| node).collect();
            for (i, &node) in rows[l].iter().enumerate() {
                rank[node] = i as f64;
            }
        }
    }
    let column = |row: &Vec<usize>| {
        row.iter().map(|&n| heights[n]).sum::<f64>() + GAP_Y * row.len().saturating_sub(1) as f64
    };
    let height = rows.iter().map(column).fold(0.0, f64::max);
    let mut positions = vec![(0.0, 0.0); count];
    for (l, row) in rows.iter().enumerate() {
        let mut y = (height - column(row)) / 2.0;
        for &node in row {
            positions[node] = (l as f64 * (NODE_WIDTH + GAP_X), y);
            y += heights[node] + GAP_Y;
        }
    }
    let width = layers as f64 * (NODE_WIDTH + GAP_X) - GAP_X;
    (positions, width.max(0.0), height)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_flows_left_to_right_and_a_cycle_still_gets_layers() {
        let (positions, width, _) = layout(&[56.0; 3], &[(0, 1), (1, 2)]);
        assert!(positions[0].0 < positions[1].0 && positions[1].0 < positions[2].0);
        assert_eq!(width, 3.0 * NODE_WIDTH + 2.0 * GAP_X);
        // A job reading and writing the same dataset.
        let (positions, _, _) = layout(&[56.0; 2], &[(0, 1), (1, 0)]);
        assert_ne!(positions[0].0, positions[1].0);
    }

    #[test]
    fn barycentres_uncross_two_parallel_chains() {
        // 0→3 and 1→2: in input order the second layer (2, 3) crosses the first (0, 1).
        let (positions, _, _) = layout(&[56.0; 4], &[(0, 3), (1, 2)]);
        let above = |a: usize, b: usize| positions[a].1 < positions[b].1;
        assert_eq!(above(0, 1), above(3, 2), "{positions:?}");
    }

    #[test]
    fn node_paths_keep_namespaces_in_one_segment() {
        assert_eq!(
            node_path(NodeKind::Dataset, "postgres://db:5432", "public.a b"),
            "/lineage/dataset/postgres%3A%2F%2Fdb%3A5432/public.a%20b"
        );
    }
}
