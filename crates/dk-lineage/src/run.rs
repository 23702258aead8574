//! Building a run's events from a description of the job and its datasets.

use chrono::{DateTime, Utc};
use serde_json::Map;
use uuid::Uuid;

use crate::event::{
    self, Dataset, EventType, FieldSource, Job, ParentRun, Run, RunEvent, SchemaField, Tag,
};

/// A field of a dataset, as dk knows it from the DataSet manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldInfo {
    pub name: String,
    pub field_type: String,
    pub description: Option<String>,
    pub pii: bool,
    /// Where the field comes from (resolved `from`), with the masking declared on it.
    pub sources: Vec<FieldSource>,
}

/// A dataset a run reads or writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetInfo {
    /// The DataSet manifest's name and namespace.
    pub dk_name: String,
    pub dk_namespace: String,
    pub identity: crate::naming::Identity,
    pub store: String,
    /// The store's location without credentials, for the `dataSource` facet.
    pub store_uri: String,
    pub fields: Vec<FieldInfo>,
    pub classification: Option<String>,
    pub owner: Option<String>,
    pub tags: Vec<String>,
}

/// The git origin of a package's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceCode {
    pub repo_url: String,
    pub path: Option<String>,
    pub version: Option<String>,
    pub branch: Option<String>,
}

/// The job a run belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    pub namespace: String,
    pub name: String,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub streaming: bool,
    pub source_code: Option<SourceCode>,
    /// The language of the job's code (`python`, `go`, `sql`), for the error facet.
    pub language: String,
}

/// Everything needed to emit a run's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub run_id: Uuid,
    pub job: JobInfo,
    pub inputs: Vec<DatasetInfo>,
    pub outputs: Vec<DatasetInfo>,
    pub parent: Option<ParentRun>,
    pub nominal_time: Option<DateTime<Utc>>,
}

fn dataset(info: &DatasetInfo, output: bool) -> Dataset {
    let mut facets = Map::new();
    let fields: Vec<SchemaField> = info
        .fields
        .iter()
        .map(|field| SchemaField {
            name: field.name.clone(),
            field_type: field.field_type.clone(),
            description: field.description.clone(),
        })
        .collect();
    if !fields.is_empty() {
        facets.insert("schema".into(), event::schema(&fields));
    }
    facets.insert(
        "dataSource".into(),
        event::data_source(&info.store, &info.store_uri),
    );
    let mut tags: Vec<Tag> = Vec::new();
    if let Some(level) = &info.classification {
        tags.push(Tag {
            key: "classification".into(),
            value: level.clone(),
            field: None,
        });
    }
    tags.extend(info.fields.iter().filter(|f| f.pii).map(|field| Tag {
        key: "pii".into(),
        value: "true".into(),
        field: Some(field.name.clone()),
    }));
    tags.extend(info.tags.iter().map(|tag| Tag {
        key: "tag".into(),
        value: tag.clone(),
        field: None,
    }));
    if !tags.is_empty() {
        facets.insert("tags".into(), event::tags(&tags));
    }
    if let Some(owner) = &info.owner {
        facets.insert("ownership".into(), event::ownership(owner, true));
    }
    facets.insert(
        "symlinks".into(),
        event::symlinks(&info.dk_namespace, &info.dk_name),
    );
    if output {
        let lineage: Vec<(String, Vec<FieldSource>)> = info
            .fields
            .iter()
            .filter(|field| !field.sources.is_empty())
            .map(|field| (field.name.clone(), field.sources.clone()))
            .collect();
        if !lineage.is_empty() {
            facets.insert("columnLineage".into(), event::column_lineage(&lineage));
        }
    }
    Dataset {
        namespace: info.identity.namespace.clone(),
        name: info.identity.name.clone(),
        facets,
    }
}

impl RunInfo {
    /// The event of one transition of the run. `error` is the message of a failed or aborted
    /// run.
    pub fn event(
        &self,
        event_type: EventType,
        time: DateTime<Utc>,
        error: Option<&str>,
    ) -> RunEvent {
        let mut job_facets = Map::new();
        job_facets.insert("jobType".into(), event::job_type(self.job.streaming));
        if let Some(owner) = &self.job.owner {
            job_facets.insert("ownership".into(), event::ownership(owner, false));
        }
        if let Some(description) = &self.job.description {
            job_facets.insert("documentation".into(), event::documentation(description));
        }
        if let Some(code) = &self.job.source_code {
            job_facets.insert(
                "sourceCodeLocation".into(),
                event::source_code_location(
                    &code.repo_url,
                    code.path.as_deref(),
                    code.version.as_deref(),
                    code.branch.as_deref(),
                ),
            );
        }
        let mut run_facets = Map::new();
        if let Some(parent) = &self.parent {
            run_facets.insert("parent".into(), event::parent(parent));
        }
        if let Some(nominal) = self.nominal_time {
            run_facets.insert("nominalTime".into(), event::nominal_time(nominal));
        }
        if let Some(message) = error {
            run_facets.insert(
                "errorMessage".into(),
                event::error_message(message, &self.job.language),
            );
        }
        RunEvent {
            event_type,
            event_time: event::format_time(time),
            run: Run {
                run_id: self.run_id,
                facets: run_facets,
            },
            job: Job {
                namespace: self.job.namespace.clone(),
                name: self.job.name.clone(),
                facets: job_facets,
            },
            inputs: self
                .inputs
                .iter()
                .map(|info| dataset(info, false))
                .collect(),
            outputs: self
                .outputs
                .iter()
                .map(|info| dataset(info, true))
                .collect(),
            producer: event::producer(),
            schema_url: event::SPEC_URL.to_owned(),
        }
    }
}
