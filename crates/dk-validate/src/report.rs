//! `dk governance report`: which packages read and write which data, how sensitive it is, and
//! where PII flows (input field → output field, masked or not).

use std::str::FromStr;

use serde::Serialize;

use dk_manifest::discover::Project;
use dk_manifest::model::{Classification, Masking};
use dk_manifest::resolve::Role;
use dk_manifest::suggest::did_you_mean;

use crate::lineage::{FieldRef, Lineage};

/// A `--filter KEY=VALUE` of the report; several filters must all hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Packages that handle PII (`pii=true`) or none (`pii=false`).
    Pii(bool),
    /// Packages reading or writing data of this classification.
    Classification(Classification),
    Package(String),
    /// Packages reading or writing data in this store.
    Store(String),
}

const FILTER_KEYS: &[&str] = &["pii", "classification", "package", "store"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FilterError {
    pub message: String,
    pub hint: String,
}

impl FromStr for Filter {
    type Err = FilterError;

    fn from_str(text: &str) -> Result<Filter, FilterError> {
        let Some((key, value)) = text.split_once('=') else {
            return Err(FilterError {
                message: format!("filter `{text}` is not KEY=VALUE"),
                hint: "e.g. --filter pii=true or --filter classification=confidential".into(),
            });
        };
        match key {
            "pii" => match value {
                "true" => Ok(Filter::Pii(true)),
                "false" => Ok(Filter::Pii(false)),
                _ => Err(FilterError {
                    message: format!("filter pii takes true or false, not `{value}`"),
                    hint: "--filter pii=true".into(),
                }),
            },
            "classification" => value.parse().map(Filter::Classification).map_err(
                |err: dk_manifest::model::UnknownName| FilterError {
                    message: err.to_string(),
                    hint: did_you_mean(value, Classification::NAMES.iter().copied()).map_or_else(
                        || "--filter classification=confidential".into(),
                        |s| format!("did you mean `{s}`?"),
                    ),
                },
            ),
            "package" => Ok(Filter::Package(value.to_owned())),
            "store" => Ok(Filter::Store(value.to_owned())),
            _ => Err(FilterError {
                message: format!("unknown filter `{key}`"),
                hint: did_you_mean(key, FILTER_KEYS.iter().copied()).map_or_else(
                    || format!("filters are {}", FILTER_KEYS.join(", ")),
                    |s| format!("did you mean `{s}`?"),
                ),
            }),
        }
    }
}

/// A DataSet as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataSetSummary {
    pub name: String,
    pub store: String,
    pub classification: Option<Classification>,
    /// Fields carrying PII: declared `pii: true`, or derived from PII without masking.
    pub pii_fields: Vec<String>,
}

/// PII moving from an input field into an output field.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PiiFlow {
    /// `dataset.field` the PII comes from.
    pub from: String,
    /// `dataset.field` it goes to.
    pub to: String,
    /// How it is removed on the way, if it is.
    pub masking: Option<Masking>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PackageSummary {
    pub name: String,
    pub namespace: String,
    pub directory: String,
    pub owner: Option<String>,
    pub reads: Vec<DataSetSummary>,
    pub writes: Vec<DataSetSummary>,
    pub pii_flows: Vec<PiiFlow>,
}

impl PackageSummary {
    fn datasets(&self) -> impl Iterator<Item = &DataSetSummary> {
        self.reads.iter().chain(&self.writes)
    }

    fn handles_pii(&self) -> bool {
        self.datasets()
            .any(|dataset| !dataset.pii_fields.is_empty())
            || !self.pii_flows.is_empty()
    }

    fn matches(&self, filter: &Filter) -> bool {
        match filter {
            Filter::Pii(wanted) => self.handles_pii() == *wanted,
            Filter::Classification(level) => {
                self.datasets().any(|d| d.classification == Some(*level))
            }
            Filter::Package(name) => &self.name == name,
            Filter::Store(name) => self.datasets().any(|d| &d.store == name),
        }
    }
}

/// The counts of the final summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub packages: usize,
    pub datasets: usize,
    pub datasets_with_pii: usize,
    pub pii_flows: usize,
    pub unmasked_pii_flows: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct GovernanceReport {
    pub packages: Vec<PackageSummary>,
    pub totals: Totals,
}

fn summarize(lineage: &Lineage<'_>, index: usize) -> DataSetSummary {
    let dataset = lineage.entry(index).dataset;
    let spec = &dataset.manifest.spec;
    DataSetSummary {
        name: dataset.name().to_owned(),
        store: spec.store.clone(),
        classification: spec.classification,
        pii_fields: spec
            .schema
            .iter()
            .enumerate()
            .filter(|(field, _)| {
                lineage.is_pii(FieldRef {
                    dataset: index,
                    field: *field,
                })
            })
            .map(|(_, field)| field.name.clone())
            .collect(),
    }
}

fn field_name(lineage: &Lineage<'_>, field: FieldRef) -> String {
    format!(
        "{}.{}",
        lineage.entry(field.dataset).dataset.name(),
        lineage.field(field).name
    )
}

/// The report over every package of every project, keeping those that pass all `filters`.
pub fn governance_report(projects: &[Project], filters: &[Filter]) -> GovernanceReport {
    let mut packages = Vec::new();
    for project in projects {
        let lineage = Lineage::build(project);
        for (package, resolution) in project.packages.iter().zip(&lineage.resolutions) {
            let (Some(transform), Some(resolution)) = (&package.transform, resolution) else {
                continue;
            };
            let mut summary = PackageSummary {
                name: transform.name().to_owned(),
                namespace: transform.manifest.metadata.namespace.clone(),
                directory: package.dir.display().to_string(),
                owner: transform.manifest.spec.owner.clone(),
                reads: Vec::new(),
                writes: Vec::new(),
                pii_flows: Vec::new(),
            };
            let mut seen = Vec::new();
            for binding in &resolution.bindings {
                let Some(index) = lineage.index_of(binding.dataset) else {
                    continue;
                };
                if seen.contains(&(binding.role, index)) {
                    continue;
                }
                seen.push((binding.role, index));
                match binding.role {
                    Role::Input => summary.reads.push(summarize(&lineage, index)),
                    Role::Output => {
                        summary.writes.push(summarize(&lineage, index));
                        let fields = binding.dataset.manifest.spec.schema.iter().enumerate();
                        for (field, definition) in fields {
                            let here = FieldRef {
                                dataset: index,
                                field,
                            };
                            if let Some(source) = lineage
                                .source(here)
                                .filter(|source| lineage.is_pii(*source))
                            {
                                summary.pii_flows.push(PiiFlow {
                                    from: field_name(&lineage, source),
                                    to: field_name(&lineage, here),
                                    masking: definition.masking,
                                });
                            }
                        }
                    }
                }
            }
            if filters.iter().all(|filter| summary.matches(filter)) {
                packages.push(summary);
            }
        }
    }
    packages.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let mut datasets: Vec<&DataSetSummary> =
        packages.iter().flat_map(PackageSummary::datasets).collect();
    datasets.sort_by(|a, b| a.name.cmp(&b.name));
    datasets.dedup_by(|a, b| a.name == b.name);
    let flows = packages.iter().flat_map(|package| &package.pii_flows);
    let totals = Totals {
        packages: packages.len(),
        datasets: datasets.len(),
        datasets_with_pii: datasets.iter().filter(|d| !d.pii_fields.is_empty()).count(),
        pii_flows: flows.clone().count(),
        unmasked_pii_flows: flows.filter(|flow| flow.masking.is_none()).count(),
    };
    GovernanceReport { packages, totals }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_with_suggestions() {
        assert_eq!("pii=true".parse::<Filter>(), Ok(Filter::Pii(true)));
        assert_eq!(
            "classification=restricted".parse::<Filter>(),
            Ok(Filter::Classification(Classification::Restricted))
        );
        let err = "pi=true".parse::<Filter>().unwrap_err();
        assert_eq!(err.hint, "did you mean `pii`?");
        let err = "classification=secret".parse::<Filter>().unwrap_err();
        assert!(
            err.message.contains("unknown classification `secret`"),
            "{}",
            err.message
        );
        assert!("pii=yes".parse::<Filter>().is_err());
        assert!("pii".parse::<Filter>().is_err());
    }
}
