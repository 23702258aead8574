//! The seeds, models and snapshots a dbt run built, as child runs of the dk run, read from
//! `target/run_results.json` and `target/manifest.json`: what dbt-ol emits itself when it is
//! installed, so that every model (the staging views too) is in `dk lineage` without it.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Map;

use dk_lineage::event::{self, Dataset, EventType, Job, ParentRun, Run, RunEvent};
use dk_lineage::naming::identity;
use dk_lineage::run::RunInfo;

use crate::contract::ResolvedStore;

/// dbt's artifacts of a large project are tens of MB; more is not dbt's.
const ARTIFACT_LIMIT: u64 = 256 << 20;
/// What dbt builds; tests and operations write no table.
const BUILT: [&str; 3] = ["model", "seed", "snapshot"];

#[derive(Deserialize)]
struct RunResults {
    metadata: Metadata,
    results: Vec<NodeResult>,
}

#[derive(Deserialize)]
struct Metadata {
    generated_at: String,
}

#[derive(Deserialize)]
struct NodeResult {
    unique_id: String,
    status: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    timing: Vec<Timing>,
}

#[derive(Deserialize)]
struct Timing {
    name: String,
    started_at: Option<String>,
    completed_at: Option<String>,
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    nodes: BTreeMap<String, Node>,
    #[serde(default)]
    sources: BTreeMap<String, Source>,
}

#[derive(Deserialize)]
struct Node {
    name: String,
    schema: String,
    #[serde(default)]
    alias: Option<String>,
    #[serde(default)]
    depends_on: DependsOn,
}

#[derive(Default, Deserialize)]
struct DependsOn {
    #[serde(default)]
    nodes: Vec<String>,
}

#[derive(Deserialize)]
struct Source {
    schema: String,
    name: String,
    #[serde(default)]
    identifier: Option<String>,
}

impl Manifest {
    /// `schema.table` of a node or source, as the DataSets `dk init --from-dbt` writes name it.
    fn locator(&self, unique_id: &str) -> Option<String> {
        if let Some(node) = self.nodes.get(unique_id) {
            let table = node.alias.as_deref().unwrap_or(&node.name);
            return Some(format!("{}.{table}", node.schema));
        }
        let source = self.sources.get(unique_id)?;
        let table = source.identifier.as_deref().unwrap_or(&source.name);
        Some(format!("{}.{table}", source.schema))
    }
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let bytes = dk_fs::read(path, ARTIFACT_LIMIT).map_err(|err| err.to_string())?;
    serde_json::from_slice(&bytes).map_err(|err| format!("{}: {err}", path.display()))
}

fn time(text: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The START and terminal event of each seed, model and snapshot that the dbt run whose artifacts
/// are in `target` (the project's `target-path`) built into `store`, children of the run `parent`, named as dk names the store's tables. A
/// `run_results.json` written before `since` is an earlier run's (dbt failed before writing
/// one): no events. `pinned` fixes event times (tests). Errors are warnings for the caller.
pub fn model_events(
    target: &Path,
    store: &ResolvedStore,
    parent: &RunInfo,
    since: DateTime<Utc>,
    pinned: Option<DateTime<Utc>>,
) -> Result<Vec<RunEvent>, String> {
    let results: RunResults = match read(&target.join("run_results.json")) {
        Ok(results) => results,
        Err(_) if !target.join("run_results.json").exists() => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    if time(Some(&results.metadata.generated_at)).is_none_or(|at| at < since) {
        return Ok(Vec::new());
    }
    let manifest: Manifest = read(&target.join("manifest.json"))?;
    let dataset = |unique_id: &str| {
        let locator = manifest.locator(unique_id)?;
        let id = identity(&store.store_type, &store.name, &store.connection, &locator);
        let mut facets = Map::new();
        facets.insert(
            "dataSource".into(),
            event::data_source(&store.name, &store.public_dsn),
        );
        Some(Dataset {
            namespace: id.namespace,
            name: id.name,
            facets,
        })
    };
    let facet = event::parent(&ParentRun {
        namespace: parent.job.namespace.clone(),
        job: parent.job.name.clone(),
        run_id: parent.run_id,
    });
    let mut events = Vec::new();
    for result in &results.results {
        let kind = result.unique_id.split('.').next().unwrap_or_default();
        let terminal = match result.status.as_str() {
            "success" => EventType::Complete,
            "error" => EventType::Fail,
            _ => continue,
        };
        let (Some(node), true) = (manifest.nodes.get(&result.unique_id), BUILT.contains(&kind))
        else {
            continue;
        };
        let Some(output) = dataset(&result.unique_id) else {
            continue;
        };
        let execute = result.timing.iter().find(|t| t.name == "execute");
        let start = pinned
            .or_else(|| time(execute.and_then(|t| t.started_at.as_deref())))
            .unwrap_or(since);
        let end = pinned
            .or_else(|| time(execute.and_then(|t| t.completed_at.as_deref())))
            .unwrap_or(start);
        let mut job_facets = Map::new();
        job_facets.insert("jobType".into(), event::job_type(false));
        let run_id = event::new_run_id();
        let inputs: Vec<Dataset> = node
            .depends_on
            .nodes
            .iter()
            .filter_map(|upstream| dataset(upstream))
            .collect();
        for (event_type, at) in [(EventType::Start, start), (terminal, end)] {
            let mut run_facets = Map::new();
            run_facets.insert("parent".into(), facet.clone());
            if event_type == EventType::Fail {
                let message = result.message.as_deref().unwrap_or("dbt reported an error");
                run_facets.insert("errorMessage".into(), event::error_message(message, "sql"));
            }
            events.push(RunEvent {
                event_type,
                event_time: event::format_time(at),
                run: Run {
                    run_id,
                    facets: run_facets,
                },
                job: Job {
                    namespace: parent.job.namespace.clone(),
                    name: format!("{}.{}", parent.job.name, node.name),
                    facets: job_facets.clone(),
                },
                inputs: inputs.clone(),
                outputs: vec![output.clone()],
                producer: event::producer(),
                schema_url: event::SPEC_URL.to_owned(),
            });
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dk_lineage::run::JobInfo;
    use serde_json::json;

    fn parent() -> RunInfo {
        RunInfo {
            run_id: event::new_run_id(),
            job: JobInfo {
                namespace: "analytics".into(),
                name: "shop".into(),
                description: None,
                owner: None,
                streaming: false,
                source_code: None,
                language: "sql".into(),
            },
            inputs: Vec::new(),
            outputs: Vec::new(),
            parent: None,
            nominal_time: None,
        }
    }

    fn store(dir: &Path) -> ResolvedStore {
        let path = dir.join("data/shop.duckdb").display().to_string();
        ResolvedStore {
            name: "warehouse".into(),
            store_type: "duckdb".into(),
            connection: json!({ "path": path }).as_object().unwrap().clone(),
            dsn: path.clone(),
            public_dsn: path,
            secrets: Vec::new(),
            dev_stack: None,
        }
    }

    fn project(generated_at: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::create_dir_all(&target).unwrap();
        let manifest = json!({
            "nodes": {
                "model.shop.stg_orders": {"name": "stg_orders", "schema": "main", "alias": "stg_orders",
                    "depends_on": {"nodes": ["source.shop.shop.orders"]}},
                "model.shop.orders": {"name": "orders", "schema": "main",
                    "depends_on": {"nodes": ["model.shop.stg_orders", "macro.shop.cents"]}},
                "model.shop.broken": {"name": "broken", "schema": "main"},
                "test.shop.not_null": {"name": "not_null", "schema": "main"},
            },
            "sources": {
                "source.shop.shop.orders": {"name": "orders", "schema": "main_raw", "identifier": "raw_orders"}
            }
        });
        let results = json!({
            "metadata": {"generated_at": generated_at},
            "results": [
                {"unique_id": "model.shop.stg_orders", "status": "success", "timing": [
                    {"name": "execute", "started_at": "2026-12-01T10:00:01Z", "completed_at": "2026-12-01T10:00:02Z"}]},
                {"unique_id": "model.shop.orders", "status": "skipped", "timing": []},
                {"unique_id": "model.shop.broken", "status": "error", "message": "Binder Error", "timing": []},
                {"unique_id": "test.shop.not_null", "status": "pass", "timing": []}
            ]
        });
        std::fs::write(target.join("manifest.json"), manifest.to_string()).unwrap();
        std::fs::write(target.join("run_results.json"), results.to_string()).unwrap();
        dir
    }

    fn since() -> DateTime<Utc> {
        time(Some("2026-12-01T10:00:00Z")).unwrap()
    }

    #[test]
    fn built_models_are_child_runs_named_as_dk_names_tables() {
        let dir = project("2026-12-01T10:00:03Z");
        let parent = parent();
        let events = model_events(
            &dir.path().join("target"),
            &store(dir.path()),
            &parent,
            since(),
            None,
        )
        .unwrap();
        let summary: Vec<(&str, &str)> = events
            .iter()
            .map(|e| (e.job.name.as_str(), e.event_type.as_str()))
            .collect();
        // Skipped models and tests built nothing.
        assert_eq!(
            summary,
            [
                ("shop.stg_orders", "START"),
                ("shop.stg_orders", "COMPLETE"),
                ("shop.broken", "START"),
                ("shop.broken", "FAIL"),
            ]
        );
        let complete = &events[1];
        assert_eq!(complete.event_time, "2026-12-01T10:00:02.000Z");
        assert_eq!(complete.outputs[0].name, "shop.main.stg_orders");
        assert_eq!(complete.inputs[0].name, "shop.main_raw.raw_orders");
        assert_eq!(
            complete.run.facets["parent"]["run"]["runId"],
            json!(parent.run_id)
        );
        assert_eq!(events[0].run.run_id, complete.run.run_id);
        assert_eq!(
            events[3].run.facets["errorMessage"]["message"],
            "Binder Error"
        );
    }

    #[test]
    fn an_earlier_runs_results_or_none_give_no_events() {
        let dir = project("2026-12-01T09:59:59Z");
        let store = store(dir.path());
        let events =
            model_events(&dir.path().join("target"), &store, &parent(), since(), None).unwrap();
        assert!(events.is_empty(), "{events:?}");
        std::fs::remove_file(dir.path().join("target/run_results.json")).unwrap();
        let events =
            model_events(&dir.path().join("target"), &store, &parent(), since(), None).unwrap();
        assert!(events.is_empty());
        std::fs::write(dir.path().join("target/run_results.json"), "{").unwrap();
        let err =
            model_events(&dir.path().join("target"), &store, &parent(), since(), None).unwrap_err();
        assert!(err.contains("run_results.json"), "{err}");
    }
}
