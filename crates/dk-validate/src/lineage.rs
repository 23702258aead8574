//! Column lineage across a project: which field each `from` points at, which fields carry PII
//! (declared, or inherited along `from` unless masked) and the classification each DataSet's data
//! comes from. Governance rules and the governance report share this one analysis.

use std::collections::HashMap;

use dk_manifest::discover::Project;
use dk_manifest::load::Loaded;
use dk_manifest::model::{Classification, DataSet};
use dk_manifest::resolve::{Lookup, Resolution, Role, Scope, resolve_transform};

/// A field of a DataSet, by indexes into [`Lineage::datasets`] and its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldRef {
    pub dataset: usize,
    pub field: usize,
}

/// A DataSet of the project with the scope its names resolve in.
#[derive(Debug)]
pub struct DataSetEntry<'a> {
    pub dataset: &'a Loaded<DataSet>,
    pub scope: Scope<'a>,
    /// The strongest role any Transform gives it (output over input).
    pub role: Option<Role>,
}

impl DataSetEntry<'_> {
    /// "output 'x'", "input 'x'" or "dataset 'x'", as findings name a DataSet.
    pub fn subject(&self) -> String {
        format!(
            "{} '{}'",
            self.role.map_or("dataset", Role::as_str),
            self.dataset.name()
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Visit<T> {
    Pending,
    InProgress,
    Done(T),
}

/// The lineage of every DataSet of a project.
#[derive(Debug)]
pub struct Lineage<'a> {
    pub datasets: Vec<DataSetEntry<'a>>,
    /// The resolved Transform of each package (by package index).
    pub resolutions: Vec<Option<Resolution<'a>>>,
    sources: Vec<Vec<Option<FieldRef>>>,
    pii: Vec<Vec<bool>>,
    classification: Vec<Option<Classification>>,
}

fn key(dataset: &Loaded<DataSet>) -> *const Loaded<DataSet> {
    std::ptr::from_ref(dataset)
}

impl<'a> Lineage<'a> {
    pub fn build(project: &'a Project) -> Lineage<'a> {
        let mut datasets: Vec<DataSetEntry<'a>> = project
            .shared
            .datasets()
            .iter()
            .map(|dataset| DataSetEntry {
                dataset,
                scope: project.shared_scope(),
                role: None,
            })
            .collect();
        let mut resolutions = Vec::with_capacity(project.packages.len());
        for package in &project.packages {
            let scope = project.scope(package);
            datasets.extend(
                package
                    .catalog
                    .datasets()
                    .iter()
                    .map(|dataset| DataSetEntry {
                        dataset,
                        scope,
                        role: None,
                    }),
            );
            resolutions.push(
                package
                    .transform
                    .as_ref()
                    .map(|t| resolve_transform(t, scope)),
            );
        }
        let index: HashMap<*const Loaded<DataSet>, usize> = datasets
            .iter()
            .enumerate()
            .map(|(i, entry)| (key(entry.dataset), i))
            .collect();
        for binding in resolutions.iter().flatten().flat_map(|r| &r.bindings) {
            if let Some(&i) = index.get(&key(binding.dataset)) {
                let role = &mut datasets[i].role;
                *role = Some(role.map_or(binding.role, |r| r.max(binding.role)));
            }
        }
        let sources = datasets
            .iter()
            .map(|entry| {
                entry
                    .dataset
                    .manifest
                    .spec
                    .schema
                    .iter()
                    .map(|field| {
                        let (set, name) = field.source()?;
                        let Lookup::Found(source) = entry.scope.dataset(set) else {
                            return None;
                        };
                        let dataset = *index.get(&key(source))?;
                        let field = source
                            .manifest
                            .spec
                            .schema
                            .iter()
                            .position(|f| f.name == name)?;
                        Some(FieldRef { dataset, field })
                    })
                    .collect()
            })
            .collect();
        let mut lineage = Lineage {
            datasets,
            resolutions,
            sources,
            pii: Vec::new(),
            classification: Vec::new(),
        };
        lineage.compute_pii();
        lineage.compute_classification();
        lineage
    }

    /// The field a field's `from` points at, when it resolves.
    pub fn source(&self, field: FieldRef) -> Option<FieldRef> {
        self.sources[field.dataset][field.field]
    }

    /// Whether a field carries PII: declared `pii: true`, or derived from a PII field without
    /// masking, however many hops away.
    pub fn is_pii(&self, field: FieldRef) -> bool {
        self.pii[field.dataset][field.field]
    }

    /// The highest classification of the data a DataSet holds: its own, or that of the DataSets
    /// its unmasked fields derive from (transitively), whichever is higher.
    pub fn inherited_classification(&self, dataset: usize) -> Option<Classification> {
        self.classification[dataset]
    }

    pub fn field(&self, field: FieldRef) -> &dk_manifest::model::Field {
        &self.datasets[field.dataset].dataset.manifest.spec.schema[field.field]
    }

    /// Index of a loaded DataSet of this project.
    pub fn index_of(&self, dataset: &Loaded<DataSet>) -> Option<usize> {
        self.datasets
            .iter()
            .position(|entry| std::ptr::eq(entry.dataset, dataset))
    }

    fn compute_pii(&mut self) {
        let mut state: Vec<Vec<Visit<bool>>> = self
            .sources
            .iter()
            .map(|fields| vec![Visit::Pending; fields.len()])
            .collect();
        for dataset in 0..self.sources.len() {
            for field in 0..self.sources[dataset].len() {
                self.pii_of(FieldRef { dataset, field }, &mut state);
            }
        }
        self.pii = state
            .into_iter()
            .map(|fields| {
                fields
                    .into_iter()
                    .map(|visit| visit == Visit::Done(true))
                    .collect()
            })
            .collect();
    }

    fn pii_of(&self, at: FieldRef, state: &mut [Vec<Visit<bool>>]) -> bool {
        match state[at.dataset][at.field] {
            Visit::Done(pii) => return pii,
            // A `from` cycle: the field cannot inherit PII from itself.
            Visit::InProgress => return false,
            Visit::Pending => {}
        }
        state[at.dataset][at.field] = Visit::InProgress;
        let field = self.field(at);
        let pii = field.pii
            || (field.masking.is_none()
                && self
                    .source(at)
                    .is_some_and(|source| self.pii_of(source, state)));
        state[at.dataset][at.field] = Visit::Done(pii);
        pii
    }

    fn compute_classification(&mut self) {
        let mut state = vec![Visit::Pending; self.datasets.len()];
        for dataset in 0..self.datasets.len() {
            self.classification_of(dataset, &mut state);
        }
        self.classification = state
            .into_iter()
            .map(|visit| match visit {
                Visit::Done(level) => level,
                _ => None,
            })
            .collect();
    }

    fn classification_of(
        &self,
        dataset: usize,
        state: &mut [Visit<Option<Classification>>],
    ) -> Option<Classification> {
        match state[dataset] {
            Visit::Done(level) => return level,
            Visit::InProgress => return None,
            Visit::Pending => {}
        }
        state[dataset] = Visit::InProgress;
        let spec = &self.datasets[dataset].dataset.manifest.spec;
        let mut level = spec.classification;
        for (field, definition) in spec.schema.iter().enumerate() {
            if definition.masking.is_some() {
                continue;
            }
            if let Some(source) = self.source(FieldRef { dataset, field }) {
                level = level.max(self.classification_of(source.dataset, state));
            }
        }
        state[dataset] = Visit::Done(level);
        level
    }
}
