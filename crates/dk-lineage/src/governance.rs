//! Where personal data goes: every flow of a dataset with PII fields through the jobs that read
//! it, computed by one query over the store's indexes (the lineage UI's governance view; a team
//! server can answer `dk governance report` with the same function).

use rusqlite::params;
use serde::Serialize;

use crate::catalog::Name;
use crate::store::{LineageStore, StoreError};

/// A dataset in a flow, with what its latest tags say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaggedDataset {
    pub namespace: String,
    pub name: String,
    /// The DataSet manifest name, when dk recorded it.
    pub alias: Option<String>,
    pub pii_fields: Vec<String>,
    pub classification: Option<String>,
}

/// One PII dataset, a job that reads it and one dataset that job writes. A PII dataset that
/// nothing reads is one flow without a job; a job that writes nothing, one without a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PiiFlow {
    pub source: TaggedDataset,
    pub job: Option<Name>,
    /// The state of the job's latest run (`COMPLETE`, `FAIL`...).
    pub job_state: Option<String>,
    pub target: Option<TaggedDataset>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PiiFlows {
    pub flows: Vec<PiiFlow>,
    /// More flows than `limit` exist, or than [`FLOW_BYTES`] of names and fields hold.
    pub truncated: bool,
}

// The tag rows become one row per dataset (its PII fields as a JSON array, its classification),
// joined to the readers of each PII dataset and what they write. `dataset_tags` holds each
// dataset's latest tags only, so a field no longer marked PII drops out.
/// The `pii` table of [`FLOWS_FROM_PII`] in SQLite: a PII dataset's fields as a JSON array.
const PII: &str = "
WITH pii AS (
    SELECT namespace, name, json_group_array(field) AS fields
    FROM (SELECT DISTINCT namespace, name, field FROM dataset_tags WHERE tag = 'pii' ORDER BY field)
    GROUP BY namespace, name
";

/// What follows `WITH pii AS (...)`, whose rows are a dataset's namespace, name and PII fields
/// as a JSON array (each store builds it with its own JSON function); `LIMIT ?1`.
pub(crate) const FLOWS_FROM_PII: &str = "
levels AS (
    SELECT namespace, name, MIN(substr(tag, 16)) AS level FROM dataset_tags
    WHERE field = '' AND tag LIKE 'classification:%' GROUP BY namespace, name
)
SELECT p.namespace, p.name, d.alias, p.fields, l.level,
       i.job_namespace, i.job_name, NULLIF(j.last_state, ''),
       o.dataset_namespace, o.dataset_name, od.alias, op.fields, ol.level
FROM pii p
LEFT JOIN datasets d ON d.namespace = p.namespace AND d.name = p.name
LEFT JOIN levels l ON l.namespace = p.namespace AND l.name = p.name
LEFT JOIN job_io i ON i.dataset_namespace = p.namespace AND i.dataset_name = p.name
    AND i.direction = 'input'
LEFT JOIN jobs j ON j.namespace = i.job_namespace AND j.name = i.job_name
LEFT JOIN job_io o ON o.job_namespace = i.job_namespace AND o.job_name = i.job_name
    AND o.direction = 'output'
LEFT JOIN datasets od ON od.namespace = o.dataset_namespace AND od.name = o.dataset_name
LEFT JOIN pii op ON op.namespace = o.dataset_namespace AND op.name = o.dataset_name
LEFT JOIN levels ol ON ol.namespace = o.dataset_namespace AND ol.name = o.dataset_name
ORDER BY p.namespace, p.name, i.job_namespace, i.job_name, o.dataset_namespace, o.dataset_name
LIMIT ?1";

/// The most bytes of names and fields one answer's flows hold: each flow repeats its datasets'
/// PII fields, so thousands of flows of wide datasets would make an answer of hundreds of MB.
pub const FLOW_BYTES: usize = 8 << 20;

impl TaggedDataset {
    fn bytes(&self) -> usize {
        let fields: usize = self.pii_fields.iter().map(String::len).sum();
        self.namespace.len() + self.name.len() + self.alias.as_ref().map_or(0, String::len) + fields
    }
}

impl PiiFlow {
    fn bytes(&self) -> usize {
        let job = self
            .job
            .as_ref()
            .map_or(0, |job| job.namespace.len() + job.name.len());
        self.source.bytes() + job + self.target.as_ref().map_or(0, TaggedDataset::bytes)
    }
}

/// The flows of `rows` (those of [`FLOWS_FROM_PII`]) up to `limit` and [`FLOW_BYTES`], read
/// lazily so that rows past either are not read; `truncated` when any was left.
pub(crate) fn within_flow_budget<E>(
    rows: impl Iterator<Item = Result<PiiFlow, E>>,
    limit: usize,
) -> Result<PiiFlows, E> {
    let (mut flows, mut bytes) = (Vec::new(), 0);
    for row in rows {
        let flow = row?;
        bytes += flow.bytes();
        if flows.len() == limit || bytes > FLOW_BYTES {
            return Ok(PiiFlows {
                flows,
                truncated: true,
            });
        }
        flows.push(flow);
    }
    Ok(PiiFlows {
        flows,
        truncated: false,
    })
}

/// The PII fields of a row of [`FLOWS_FROM_PII`] (a JSON array).
pub(crate) fn fields(json: Option<String>) -> Vec<String> {
    json.and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

impl LineageStore {
    /// Every PII flow the store knows, at most `limit` of them.
    pub fn pii_flows(&self, limit: usize) -> Result<PiiFlows, StoreError> {
        let mut statement = self
            .connection
            .prepare_cached(&format!("{PII}), {FLOWS_FROM_PII}"))?;
        let rows = statement.query_map(params![limit.saturating_add(1) as i64], |row| {
            let source = TaggedDataset {
                namespace: row.get(0)?,
                name: row.get(1)?,
                alias: row.get(2)?,
                pii_fields: fields(row.get(3)?),
                classification: row.get(4)?,
            };
            let job = match (row.get(5)?, row.get(6)?) {
                (Some(namespace), Some(name)) => Some(Name { namespace, name }),
                _ => None,
            };
            let target = match (row.get(8)?, row.get(9)?) {
                (Some(namespace), Some(name)) => Some(TaggedDataset {
                    namespace,
                    name,
                    alias: row.get(10)?,
                    pii_fields: fields(row.get(11)?),
                    classification: row.get(12)?,
                }),
                _ => None,
            };
            Ok(PiiFlow {
                source,
                job,
                job_state: row.get(7)?,
                target,
            })
        })?;
        Ok(within_flow_budget(rows, limit)?)
    }
}
