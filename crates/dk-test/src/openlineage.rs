//! Validation of OpenLineage events against the official 2-0-2 JSON Schemas (vendored in
//! `fixtures/openlineage-spec/`, Apache-2.0): the event against `OpenLineage.json`, and every
//! facet against its own facet schema, with `format`s (uuid, uri, date-time) asserted.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Validates OpenLineage events.
pub struct OpenLineageValidator {
    event: jsonschema::Validator,
    /// Facet schemas by the facets key they describe (`schema`, `columnLineage`, ...), one per
    /// kind of facet holder (run, job, dataset).
    facets: Vec<(String, &'static str, jsonschema::Validator)>,
}

impl std::fmt::Debug for OpenLineageValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenLineageValidator")
            .field("facets", &self.facets.len())
            .finish()
    }
}

fn spec_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/openlineage-spec")
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read a spec file"))
        .expect("spec files are JSON")
}

impl OpenLineageValidator {
    pub fn new() -> OpenLineageValidator {
        let spec = read(&spec_dir().join("OpenLineage.json"));
        let mut facet_files: Vec<(String, Value)> = std::fs::read_dir(spec_dir().join("facets"))
            .expect("list facet schemas")
            .map(|entry| {
                let path = entry.expect("facet schema entry").path();
                (
                    path.file_stem().unwrap().to_string_lossy().into_owned(),
                    read(&path),
                )
            })
            .collect();
        facet_files.sort_by(|a, b| a.0.cmp(&b.0));
        let mut registry = jsonschema::Registry::new()
            .add(spec["$id"].as_str().expect("spec $id"), spec.clone())
            .expect("register the spec");
        for (_, schema) in &facet_files {
            registry = registry
                .add(schema["$id"].as_str().expect("facet $id"), schema.clone())
                .expect("register a facet schema");
        }
        let registry = registry.prepare().expect("prepare the schema registry");
        let build = |schema: &Value| {
            jsonschema::options()
                .with_registry(&registry)
                .should_validate_formats(true)
                .build(schema)
                .expect("the schema compiles")
        };
        let event = build(&spec);
        let facets = facet_files
            .iter()
            .flat_map(|(file, schema)| {
                let holder = if file.ends_with("RunFacet") {
                    "run"
                } else if file.ends_with("JobFacet") {
                    "job"
                } else if file.ends_with("InputDatasetFacet") {
                    "input"
                } else if file.ends_with("OutputDatasetFacet") {
                    "output"
                } else {
                    "dataset"
                };
                let keys: Vec<String> = schema["properties"]
                    .as_object()
                    .map(|p| p.keys().cloned().collect())
                    .unwrap_or_default();
                keys.into_iter().map(move |key| (key, holder, schema))
            })
            .map(|(key, holder, schema)| (key, holder, build(schema)))
            .collect();
        OpenLineageValidator { event, facets }
    }

    fn check_facets(&self, holder: &str, facets: &Value, at: &str, errors: &mut Vec<String>) {
        let Some(facets) = facets.as_object() else {
            return;
        };
        for (key, value) in facets {
            let schemas: Vec<&jsonschema::Validator> = self
                .facets
                .iter()
                .filter(|(name, kind, _)| name == key && *kind == holder)
                .map(|(_, _, validator)| validator)
                .collect();
            if schemas.is_empty() {
                errors.push(format!(
                    "{at}.{key}: no official {holder} facet of that name"
                ));
            }
            let wrapped = serde_json::json!({ key.clone(): value });
            for validator in schemas {
                errors.extend(
                    validator
                        .iter_errors(&wrapped)
                        .map(|e| format!("{at}.{key}: {e} (at {})", e.instance_path())),
                );
            }
        }
    }

    /// Every schema violation of `event`; empty when it is valid.
    pub fn errors(&self, event: &Value) -> Vec<String> {
        let mut errors: Vec<String> = self
            .event
            .iter_errors(event)
            .map(|e| format!("{e} (at {})", e.instance_path()))
            .collect();
        self.check_facets("run", &event["run"]["facets"], "run.facets", &mut errors);
        self.check_facets("job", &event["job"]["facets"], "job.facets", &mut errors);
        for side in ["inputs", "outputs"] {
            for (index, dataset) in event[side].as_array().into_iter().flatten().enumerate() {
                self.check_facets(
                    "dataset",
                    &dataset["facets"],
                    &format!("{side}[{index}].facets"),
                    &mut errors,
                );
            }
        }
        errors
    }

    /// Panics with every violation when `event` is not valid.
    pub fn assert_valid(&self, event: &Value) {
        let errors = self.errors(event);
        assert!(
            errors.is_empty(),
            "invalid OpenLineage event:\n{}\n{event:#}",
            errors.join("\n")
        );
    }
}

impl Default for OpenLineageValidator {
    fn default() -> Self {
        OpenLineageValidator::new()
    }
}
