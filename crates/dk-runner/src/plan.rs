//! A run plan: one package resolved for running (datasets, stores with secrets, locations), with
//! the contract environment, the `DK_CONTEXT` document and the lineage description.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use dk_lineage::event::{FieldSource, ParentRun};
use dk_lineage::naming::{Identity, identity};
use dk_lineage::run::{DatasetInfo, FieldInfo, JobInfo, RunInfo, SourceCode};
use dk_manifest::discover::{Package, Project};
use dk_manifest::load::Loaded;
use dk_manifest::model::{
    ConnectorSpec, DataSet, LocatorKind, Mode, Runtime, StackService, Store, Transform,
    builtin_connector,
};
use dk_manifest::resolve::{
    Lookup, Role, Scope, resolve_connector, resolve_store, resolve_transform,
};
use dk_manifest::units::parse_duration;

use crate::contract::{self, ContractError, ResolvedStore, env_suffix};
use crate::overrides::{OverrideError, StoreOverrides};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("the package has no Transform to run")]
    NoTransform,
    #[error("{0}")]
    Contract(#[from] ContractError),
    #[error(
        "dataset '{dataset}' cannot be resolved to a store and connector; run `dk lint` for details"
    )]
    Unresolved { dataset: String },
    #[error("spec.timeout: {0}")]
    Timeout(String),
    #[error("store override: {0}")]
    Override(#[from] OverrideError),
}

/// Settings of one run that do not come from the manifests.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub run_id: Uuid,
    /// A limit from the command line, over `spec.timeout`.
    pub timeout: Option<Duration>,
    pub parent: Option<ParentRun>,
    /// The configured job namespace (`lineage.namespace`), under `spec.lineage.namespace`.
    pub namespace: Option<String>,
    pub nominal_time: Option<DateTime<Utc>>,
    /// The git origin of the package, when it is in a repository.
    pub source_code: Option<SourceCode>,
    /// The dev stack's services that answer: stores that declare `spec.dev.stack` use them.
    pub dev_stores: DevStores,
    /// Connection keys a human set for this environment, over the manifests and the dev stack.
    pub store_overrides: StoreOverrides,
}

/// The connector type and connection of each dev stack service that answers.
pub type DevStores = BTreeMap<StackService, (String, Map<String, Value>)>;

/// The dev stack service a store stands for in this run, with its connector type and connection.
/// A store with an override is not moved: the connection a human wrote for it wins.
fn on_dev_stack<'a>(
    store: &Loaded<Store>,
    dev_stores: &'a DevStores,
    overrides: &StoreOverrides,
) -> Option<(StackService, &'a str, &'a Map<String, Value>)> {
    if overrides.overrides(store.name()) {
        return None;
    }
    let service = store.manifest.spec.dev.as_ref()?.stack;
    let (store_type, connection) = dev_stores.get(&service)?;
    Some((service, store_type, connection))
}

/// A dataset of the run.
#[derive(Debug, Clone)]
pub struct DatasetPlan {
    pub role: Role,
    pub dataset: DataSet,
    pub store: ResolvedStore,
    /// The connector of the store (its CloudQuery plugin, for cloudquery packages).
    pub connector: ConnectorSpec,
    pub locator: (LocatorKind, String),
    /// The locator resolved against the store (an absolute path for file stores).
    pub location: String,
}

/// A package ready to run.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub package_dir: PathBuf,
    pub transform: Transform,
    pub datasets: Vec<DatasetPlan>,
    pub run_id: Uuid,
    pub timeout: Option<Duration>,
    pub lineage: RunInfo,
}

/// The directory relative paths of a store are relative to: the package or the project root
/// whose `store/` folder holds it.
fn store_base<'a>(store: &Loaded<Store>, project: &'a Project, package: &'a Package) -> &'a Path {
    let shared = project
        .shared
        .stores()
        .iter()
        .any(|s| std::ptr::eq(s, store));
    match (&project.root, shared) {
        (Some(root), true) => root,
        _ => &package.dir,
    }
}

/// A store's connection for the run: the dev stack's when it stands for a service that answers
/// (the stack's credentials are its published defaults, not secrets), else its own with the
/// overrides over it.
fn resolved_store(
    store: &Loaded<Store>,
    connector_type: &str,
    base: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
    settings: &RunSettings,
) -> Result<ResolvedStore, PlanError> {
    let spec = &store.manifest.spec;
    if let Some((service, store_type, connection)) =
        on_dev_stack(store, &settings.dev_stores, &settings.store_overrides)
    {
        let mut resolved = contract::resolve_store(
            store.name(),
            store_type,
            connection,
            &BTreeMap::new(),
            base,
            lookup,
        )?;
        resolved.dev_stack = Some(service);
        return Ok(resolved);
    }
    let connection = settings.store_overrides.apply(
        store.name(),
        connector_type,
        &spec.connection,
        &spec.secrets,
    )?;
    Ok(contract::resolve_store(
        store.name(),
        connector_type,
        &connection,
        &spec.secrets,
        base,
        lookup,
    )?)
}

/// The lineage identity of a dataset that is not part of the run (a `from` source elsewhere).
fn identity_of(
    dataset: &Loaded<DataSet>,
    scope: Scope<'_>,
    project: &Project,
    package: &Package,
    settings: &RunSettings,
) -> Option<Identity> {
    let mut unresolved = Vec::new();
    let store = resolve_store(dataset, scope, &mut unresolved)?;
    let connector = resolve_connector(store, scope, &mut unresolved)?;
    let base = store_base(store, project, package);
    // Without secrets: an identity never depends on credentials.
    let (store_type, connection) =
        match on_dev_stack(store, &settings.dev_stores, &settings.store_overrides) {
            Some((_, store_type, connection)) => (store_type, connection.clone()),
            None => {
                let store_type = connector.manifest.spec.connector_type.as_str();
                let spec = &store.manifest.spec;
                let connection = settings
                    .store_overrides
                    .apply(store.name(), store_type, &spec.connection, &spec.secrets)
                    .ok()?;
                (store_type, connection)
            }
        };
    let resolved = contract::resolve_store(
        store.name(),
        store_type,
        &connection,
        &Default::default(),
        base,
        &|_| None,
    )
    .ok()?;
    let (_, locator) = *dataset.manifest.spec.locators().first()?;
    Some(identity(
        &resolved.store_type,
        store.name(),
        &resolved.connection,
        locator,
    ))
}

impl RunPlan {
    /// Plans the run of `package`. `lookup` reads the environment dk runs in (for `${VAR}`
    /// secrets).
    pub fn new(
        project: &Project,
        package: &Package,
        settings: &RunSettings,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<RunPlan, PlanError> {
        let transform = package.transform.as_ref().ok_or(PlanError::NoTransform)?;
        let scope = project.scope(package);
        let resolution = resolve_transform(transform, scope);
        let mut datasets = Vec::new();
        for binding in &resolution.bindings {
            let (Some(store), Some(connector)) = (binding.store, binding.connector) else {
                return Err(PlanError::Unresolved {
                    dataset: binding.dataset.name().to_owned(),
                });
            };
            let resolved = resolved_store(
                store,
                &connector.manifest.spec.connector_type,
                store_base(store, project, package),
                lookup,
                settings,
            )?;
            // A store on the dev stack is the stack's built-in connector for this run.
            let connector = match resolved.dev_stack.and_then(|s| builtin_connector(s.name())) {
                Some(builtin) => builtin.spec,
                None => connector.manifest.spec.clone(),
            };
            let Some(&(kind, locator)) = binding.dataset.manifest.spec.locators().first() else {
                return Err(PlanError::Unresolved {
                    dataset: binding.dataset.name().to_owned(),
                });
            };
            datasets.push(DatasetPlan {
                role: binding.role,
                dataset: binding.dataset.manifest.clone(),
                location: contract::location(&resolved, locator),
                locator: (kind, locator.to_owned()),
                store: resolved,
                connector,
            });
        }
        let spec = &transform.manifest.spec;
        let timeout = match (settings.timeout, &spec.timeout) {
            (Some(timeout), _) => Some(timeout),
            (None, Some(text)) => Some(parse_duration(text).map_err(PlanError::Timeout)?),
            (None, None) => None,
        };
        let describe = |plan: &DatasetPlan| -> DatasetInfo {
            let spec = &plan.dataset.spec;
            let fields = spec
                .schema
                .iter()
                .map(|field| {
                    let sources = field
                        .source()
                        .and_then(|(set, name)| match scope.dataset(set) {
                            Lookup::Found(source) => {
                                let identity =
                                    identity_of(source, scope, project, package, settings)?;
                                Some((identity, name))
                            }
                            _ => None,
                        })
                        .map(|(identity, name)| FieldSource {
                            namespace: identity.namespace,
                            name: identity.name,
                            field: name.to_owned(),
                            masking: field.masking.map(|m| m.to_string()),
                        });
                    FieldInfo {
                        name: field.name.clone(),
                        field_type: field.field_type.clone(),
                        description: field.description.clone(),
                        pii: field.pii,
                        sources: sources.into_iter().collect(),
                    }
                })
                .collect();
            DatasetInfo {
                dk_name: plan.dataset.metadata.name.clone(),
                dk_namespace: plan.dataset.metadata.namespace.clone(),
                identity: identity(
                    &plan.store.store_type,
                    &plan.store.name,
                    &plan.store.connection,
                    &plan.locator.1,
                ),
                store: plan.store.name.clone(),
                store_uri: plan.store.public_dsn.clone(),
                fields,
                classification: spec.classification.map(|c| c.to_string()),
                owner: spec.owner.clone(),
                tags: spec.tags.clone(),
            }
        };
        let lineage = RunInfo {
            run_id: settings.run_id,
            job: JobInfo {
                namespace: spec
                    .lineage
                    .namespace
                    .clone()
                    .or_else(|| settings.namespace.clone())
                    .unwrap_or_else(|| transform.manifest.metadata.namespace.clone()),
                name: transform.name().to_owned(),
                description: spec.description.clone(),
                owner: spec.owner.clone(),
                streaming: spec.mode == Mode::Streaming,
                source_code: settings.source_code.clone(),
                language: match spec.runtime {
                    Runtime::GenericPython => "python",
                    Runtime::GenericGo | Runtime::Cloudquery => "go",
                    Runtime::Dbt => "sql",
                    Runtime::GenericNode => "javascript",
                    Runtime::GenericJava => "java",
                    // Whatever spec.command runs.
                    Runtime::Generic => "generic",
                }
                .to_owned(),
            },
            inputs: datasets
                .iter()
                .filter(|d| d.role == Role::Input)
                .map(describe)
                .collect(),
            outputs: datasets
                .iter()
                .filter(|d| d.role == Role::Output)
                .map(describe)
                .collect(),
            parent: settings.parent.clone(),
            nominal_time: settings.nominal_time,
        };
        Ok(RunPlan {
            package_dir: std::path::absolute(&package.dir).unwrap_or_else(|_| package.dir.clone()),
            transform: transform.manifest.clone(),
            datasets,
            run_id: settings.run_id,
            timeout,
            lineage,
        })
    }

    pub fn name(&self) -> &str {
        self.transform.name()
    }

    pub fn streaming(&self) -> bool {
        self.transform.spec.mode == Mode::Streaming
    }

    /// Every store of the run, once.
    pub fn stores(&self) -> Vec<&ResolvedStore> {
        let mut stores: Vec<&ResolvedStore> = Vec::new();
        for dataset in &self.datasets {
            if !stores.iter().any(|store| store.name == dataset.store.name) {
                stores.push(&dataset.store);
            }
        }
        stores
    }

    /// Every secret value of the run, to hide in anything shown.
    pub fn secrets(&self) -> Vec<String> {
        let mut secrets: Vec<String> = self
            .stores()
            .iter()
            .flat_map(|store| store.secrets.clone())
            .collect();
        secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        secrets.dedup();
        secrets
    }

    fn names(&self, role: Role) -> String {
        self.datasets
            .iter()
            .filter(|d| d.role == role)
            .map(|d| d.dataset.metadata.name.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The `DK_*` and `OPENLINEAGE_PARENT_ID` variables of the contract; `context` is where the
    /// `DK_CONTEXT` file is.
    pub fn contract_env(&self, context: &Path) -> Vec<(String, String)> {
        let mut env = vec![
            ("DK_RUN_ID".to_owned(), self.run_id.to_string()),
            ("DK_INPUTS".to_owned(), self.names(Role::Input)),
            ("DK_OUTPUTS".to_owned(), self.names(Role::Output)),
            ("DK_CONTEXT".to_owned(), context.display().to_string()),
            (
                "OPENLINEAGE_PARENT_ID".to_owned(),
                format!(
                    "{}/{}/{}",
                    self.lineage.job.namespace, self.lineage.job.name, self.run_id
                ),
            ),
        ];
        // A scheduled run's planned time, given or computed from its schedule, reaches the
        // pipeline the same way (inside a container too).
        if let Some(nominal) = self.lineage.nominal_time {
            env.push(("DK_NOMINAL_TIME".to_owned(), rfc3339(nominal)));
        }
        for store in self.stores() {
            let suffix = env_suffix(&store.name);
            env.push((format!("DK_STORE_DSN_{suffix}"), store.dsn.clone()));
            env.push((format!("DK_STORE_TYPE_{suffix}"), store.store_type.clone()));
        }
        env
    }

    /// The `DK_CONTEXT` document (it holds DSNs, so it is written only for the pipeline).
    pub fn context(&self) -> Value {
        let dataset = |plan: &DatasetPlan| {
            let spec = &plan.dataset.spec;
            let mut entry = json!({
                "name": plan.dataset.metadata.name,
                "store": plan.store.name,
                "storeType": plan.store.store_type,
                "dsn": plan.store.dsn,
                "location": plan.location,
                "connection": plan.store.connection,
                "schema": spec.schema.iter().map(|f| json!({"name": f.name, "type": f.field_type, "pii": f.pii})).collect::<Vec<_>>(),
            });
            entry[plan.locator.0.as_str()] = Value::String(plan.locator.1.clone());
            if let Some(format) = spec.format {
                entry["format"] = Value::String(format.to_string());
            }
            if let Some(level) = spec.classification {
                entry["classification"] = Value::String(level.to_string());
            }
            entry
        };
        let mut context = json!({
            "runId": self.run_id,
            "package": {
                "name": self.transform.metadata.name,
                "namespace": self.transform.metadata.namespace,
                "version": self.transform.metadata.version,
                "directory": self.package_dir,
            },
            "mode": self.transform.spec.mode.as_str(),
            "inputs": self.datasets.iter().filter(|d| d.role == Role::Input).map(dataset).collect::<Vec<_>>(),
            "outputs": self.datasets.iter().filter(|d| d.role == Role::Output).map(dataset).collect::<Vec<_>>(),
        });
        if let Some(nominal) = self.lineage.nominal_time {
            context["nominalTime"] = Value::String(rfc3339(nominal));
        }
        context
    }
}

/// `2026-11-26T02:00:00Z`: UTC, fractions of a second only when there are any.
fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}
