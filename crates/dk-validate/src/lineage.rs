//! Column lineage across a project: which field each `from` points at, which fields carry PII
//! (declared, or inherited along `from` unless masked) and the classification each DataSet's data
//! comes from. Governance rules and the governance report share this one analysis.

use std::collections::HashMap;

use dk_manifest::discover::{Catalog, Package, Project};
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

/// The lineage of the DataSets of a project, or of one layer of it.
///
/// A project's DataSets come in two layers: the project-level ones see only each other, and a
/// package's own see themselves and the project level, never another package's. So the project
/// level is analysed once, and each package is analysed as a layer above it ([`Lineage::layer`])
/// that can be dropped with the package: a scan never holds every package at once.
/// Indexes ([`FieldRef::dataset`], [`Lineage::entry`]) count the base's DataSets first.
#[derive(Debug)]
pub struct Lineage<'a> {
    base: Option<&'a Lineage<'a>>,
    /// This layer's DataSets (below: [`Lineage::entries`] numbers them).
    datasets: Vec<DataSetEntry<'a>>,
    /// The resolved Transform of each package of this layer (by package).
    pub resolutions: Vec<Option<Resolution<'a>>>,
    /// Roles this layer's Transforms give to the base's DataSets, by base index.
    pub base_roles: Vec<(usize, Role)>,
    index: HashMap<usize, usize>,
    sources: Vec<Vec<Option<FieldRef>>>,
    pii: Vec<Vec<bool>>,
    classification: Vec<Option<Classification>>,
}

/// A DataSet by its address: names may repeat across scopes, loaded manifests do not move.
fn key(dataset: &Loaded<DataSet>) -> usize {
    std::ptr::from_ref(dataset).addr()
}

impl<'a> Lineage<'a> {
    /// Every DataSet of `project`, in one layer.
    pub fn build(project: &'a Project) -> Lineage<'a> {
        let mut lineage = Lineage::empty(None);
        lineage.add_datasets(project.shared.datasets(), project.shared_scope());
        lineage.add_packages(project.packages.iter().map(|p| (p, project.scope(p))));
        lineage.analyse();
        lineage
    }

    /// The project-level DataSets alone: the base of [`Lineage::layer`]. No Transform is
    /// resolved, so roles are unset until [`Lineage::set_role`].
    pub fn base(shared: &'a Catalog) -> Lineage<'a> {
        let mut lineage = Lineage::empty(None);
        let scope = Scope {
            package: shared,
            project: None,
        };
        lineage.add_datasets(shared.datasets(), scope);
        lineage.analyse();
        lineage
    }

    /// The DataSets of `packages` above `base` (the project-level lineage).
    pub fn layer(
        base: &'a Lineage<'a>,
        packages: impl IntoIterator<Item = (&'a Package, Scope<'a>)>,
    ) -> Lineage<'a> {
        let mut lineage = Lineage::empty(Some(base));
        lineage.add_packages(packages);
        lineage.analyse();
        lineage
    }

    fn empty(base: Option<&'a Lineage<'a>>) -> Lineage<'a> {
        Lineage {
            base,
            datasets: Vec::new(),
            resolutions: Vec::new(),
            base_roles: Vec::new(),
            index: HashMap::new(),
            sources: Vec::new(),
            pii: Vec::new(),
            classification: Vec::new(),
        }
    }

    fn offset(&self) -> usize {
        self.base.map_or(0, Lineage::len)
    }

    /// How many DataSets this lineage and its base hold.
    fn len(&self) -> usize {
        self.offset() + self.datasets.len()
    }

    fn add_datasets(&mut self, datasets: &'a [Loaded<DataSet>], scope: Scope<'a>) {
        for dataset in datasets {
            self.index.insert(key(dataset), self.len());
            self.datasets.push(DataSetEntry {
                dataset,
                scope,
                role: None,
            });
        }
    }

    fn add_packages(&mut self, packages: impl IntoIterator<Item = (&'a Package, Scope<'a>)>) {
        for (package, scope) in packages {
            self.add_datasets(package.catalog.datasets(), scope);
            self.resolutions.push(
                package
                    .transform
                    .as_ref()
                    .map(|t| resolve_transform(t, scope)),
            );
        }
    }

    /// Roles, `from` sources, PII and classifications of this layer's DataSets.
    fn analyse(&mut self) {
        let offset = self.offset();
        let bindings = self.resolutions.iter().flatten().flat_map(|r| &r.bindings);
        for binding in bindings {
            match self.index_of(binding.dataset) {
                Some(i) if i >= offset => {
                    let role = &mut self.datasets[i - offset].role;
                    *role = Some(role.map_or(binding.role, |r| r.max(binding.role)));
                }
                Some(i) => self.base_roles.push((i, binding.role)),
                None => {}
            }
        }
        self.sources = self
            .datasets
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
                        let dataset = self.index_of(source)?;
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
        self.compute_pii();
        self.compute_classification();
    }

    /// Gives a DataSet of this layer the role a Transform of another layer gives it (the
    /// strongest role wins).
    pub fn set_role(&mut self, dataset: usize, role: Role) {
        let offset = self.offset();
        let current = &mut self.datasets[dataset - offset].role;
        *current = Some(current.map_or(role, |r| r.max(role)));
    }

    /// The DataSet at `index` (in this layer or its base).
    pub fn entry(&self, index: usize) -> &DataSetEntry<'a> {
        match self.base {
            Some(base) if index < base.len() => base.entry(index),
            _ => &self.datasets[index - self.offset()],
        }
    }

    /// This layer's DataSets, with their indexes.
    pub fn entries(&self) -> impl Iterator<Item = (usize, &DataSetEntry<'a>)> {
        (self.offset()..).zip(&self.datasets)
    }

    /// The field a field's `from` points at, when it resolves.
    pub fn source(&self, field: FieldRef) -> Option<FieldRef> {
        match self.base {
            Some(base) if field.dataset < base.len() => base.source(field),
            _ => self.sources[field.dataset - self.offset()][field.field],
        }
    }

    /// Whether a field carries PII: declared `pii: true`, or derived from a PII field without
    /// masking, however many hops away.
    pub fn is_pii(&self, field: FieldRef) -> bool {
        match self.base {
            Some(base) if field.dataset < base.len() => base.is_pii(field),
            _ => self.pii[field.dataset - self.offset()][field.field],
        }
    }

    /// The highest classification of the data a DataSet holds: its own, or that of the DataSets
    /// its unmasked fields derive from (transitively), whichever is higher.
    pub fn inherited_classification(&self, dataset: usize) -> Option<Classification> {
        match self.base {
            Some(base) if dataset < base.len() => base.inherited_classification(dataset),
            _ => self.classification[dataset - self.offset()],
        }
    }

    pub fn field(&self, field: FieldRef) -> &dk_manifest::model::Field {
        &self.entry(field.dataset).dataset.manifest.spec.schema[field.field]
    }

    /// Index of a loaded DataSet of this lineage or its base.
    pub fn index_of(&self, dataset: &Loaded<DataSet>) -> Option<usize> {
        self.index
            .get(&key(dataset))
            .copied()
            .or_else(|| self.base?.index_of(dataset))
    }

    fn compute_pii(&mut self) {
        let mut state: Vec<Vec<Visit<bool>>> = self
            .sources
            .iter()
            .map(|fields| vec![Visit::Pending; fields.len()])
            .collect();
        let offset = self.offset();
        for dataset in 0..self.sources.len() {
            for field in 0..self.sources[dataset].len() {
                let dataset = offset + dataset;
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

    /// `state` holds this layer's fields; the base's are known already.
    fn pii_of(&self, at: FieldRef, state: &mut [Vec<Visit<bool>>]) -> bool {
        let Some(local) = at.dataset.checked_sub(self.offset()) else {
            return self.is_pii(at);
        };
        match state[local][at.field] {
            Visit::Done(pii) => return pii,
            // A `from` cycle: the field cannot inherit PII from itself.
            Visit::InProgress => return false,
            Visit::Pending => {}
        }
        state[local][at.field] = Visit::InProgress;
        let field = self.field(at);
        let pii = field.pii
            || (field.masking.is_none()
                && self
                    .source(at)
                    .is_some_and(|source| self.pii_of(source, state)));
        state[local][at.field] = Visit::Done(pii);
        pii
    }

    fn compute_classification(&mut self) {
        let mut state = vec![Visit::Pending; self.datasets.len()];
        let offset = self.offset();
        for dataset in 0..self.datasets.len() {
            self.classification_of(offset + dataset, &mut state);
        }
        self.classification = state
            .into_iter()
            .map(|visit| match visit {
                Visit::Done(level) => level,
                _ => None,
            })
            .collect();
    }

    /// `state` holds this layer's DataSets; the base's are known already.
    fn classification_of(
        &self,
        dataset: usize,
        state: &mut [Visit<Option<Classification>>],
    ) -> Option<Classification> {
        let Some(local) = dataset.checked_sub(self.offset()) else {
            return self.inherited_classification(dataset);
        };
        match state[local] {
            Visit::Done(level) => return level,
            Visit::InProgress => return None,
            Visit::Pending => {}
        }
        state[local] = Visit::InProgress;
        let spec = &self.datasets[local].dataset.manifest.spec;
        let mut level = spec.classification;
        for (field, definition) in spec.schema.iter().enumerate() {
            if definition.masking.is_some() {
                continue;
            }
            if let Some(source) = self.source(FieldRef { dataset, field }) {
                level = level.max(self.classification_of(source.dataset, state));
            }
        }
        state[local] = Visit::Done(level);
        level
    }
}
