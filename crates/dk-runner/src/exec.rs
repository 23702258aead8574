//! Executors: how a package's runtime becomes a process.
//!
//! Local (the default): `generic-python` runs `python3 main.py` (in a package-local virtualenv
//! when `requirements.txt` lists requirements: installed offline from the wheels `dk build`
//! vendored into the artifact when the package has them, else from the index; rebuilt only when
//! the wheel set, else the file, changes),
//! `generic-go` runs `go run .`, `generic-node` runs `node main.js`, `generic-java` runs
//! `java Main.java`, `generic` runs `spec.command`, `dbt` runs `dbt build` (or `spec.dbt.command`)
//! with a `profiles.yml` generated from the stores under the profile name of `dbt_project.yml`
//! (`dbt-ol` when it is installed, so dbt's events nest under the dk run), `cloudquery` runs `cloudquery sync` with a spec generated from the manifests.
//! Docker: the same command and contract inside `spec.image` (else the runtime's image), run by
//! Docker or Podman.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use dk_manifest::dbt_project::{DbtProject, DbtProjectError};
use dk_manifest::model::{DbtCommand, Runtime};
use dk_manifest::resolve::Role;
use dk_manifest::yaml::render_block;
use dk_package::wheels;

use crate::contract::ResolvedStore;
use crate::plan::{DatasetPlan, RunPlan};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Executor {
    Local,
    Docker,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("{tool} is not installed (not on PATH)")]
    MissingTool { tool: String, install: String },
    #[error("runtime generic has no image of its own: the docker executor needs spec.image")]
    NoImage,
    #[error("runtime generic runs spec.command, and the package sets none")]
    NoCommand,
    #[error("the {engine} engine does not answer: {detail}")]
    EngineDown { engine: Engine, detail: String },
    #[error("image {image} is not present and could not be pulled ({engine} pull: {detail})")]
    ImageNotFound {
        engine: Engine,
        image: String,
        detail: String,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("preparing the run failed: {0}")]
    Prepare(String),
    #[error("cannot write {0}")]
    Write(#[from] dk_fs::FsError),
    #[error("cannot read {0}")]
    Read(dk_fs::FsError),
}

impl ExecError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ExecError::MissingTool { install, .. } => Some(install.clone()),
            ExecError::NoImage => {
                Some("set spec.image in dk.yaml, or run with --executor local".into())
            }
            ExecError::NoCommand => Some(
                "set spec.command in dk.yaml, e.g. command: [node, main.js] (docs/runtime-contract.md)"
                    .into(),
            ),
            ExecError::EngineDown {
                engine: Engine::Docker,
                ..
            } => Some(
                "start the Docker daemon (sudo systemctl start docker), or use Podman, which needs none: dk config set run.engine podman"
                    .into(),
            ),
            ExecError::EngineDown {
                engine: Engine::Podman,
                ..
            } => Some("run `podman info` to see what is wrong with its setup".into()),
            ExecError::ImageNotFound { image, .. } => Some(format!(
                "build or pull {image} first, log in to its registry (docker login), or name another image in spec.image or runtime.images.<runtime>"
            )),
            _ => None,
        }
    }

    /// An external system (the container engine or a registry) failed, not dk's input.
    pub fn is_external(&self) -> bool {
        matches!(
            self,
            ExecError::EngineDown { .. } | ExecError::ImageNotFound { .. }
        )
    }
}

/// The container engine of the Docker executor: both take the same `run` arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Docker,
    Podman,
}

impl Engine {
    pub fn program(self) -> &'static str {
        match self {
            Engine::Docker => "docker",
            Engine::Podman => "podman",
        }
    }

    /// The `run.engine` value.
    pub fn parse(name: &str) -> Option<Engine> {
        match name {
            "docker" => Some(Engine::Docker),
            "podman" => Some(Engine::Podman),
            _ => None,
        }
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.program())
    }
}

/// The Docker executor's settings from configuration.
#[derive(Debug, Clone, Default)]
pub struct ContainerSettings {
    /// `run.engine`; unset: detected.
    pub engine: Option<Engine>,
    /// `runtime.images.<runtime>`, over [`default_image`].
    pub images: BTreeMap<Runtime, String>,
}

/// The image a runtime runs in when neither `spec.image` nor `runtime.images.<runtime>` names
/// one. `generic` has none: its image is the package's.
pub fn default_image(runtime: Runtime) -> Option<&'static str> {
    match runtime {
        Runtime::GenericPython => Some("docker.io/library/python:3.12-slim-bookworm"),
        Runtime::GenericGo => Some("docker.io/library/golang:1.22-bookworm"),
        Runtime::GenericNode => Some("docker.io/library/node:22-bookworm-slim"),
        Runtime::GenericJava => Some("docker.io/library/eclipse-temurin:21-jdk"),
        Runtime::Dbt => Some("ghcr.io/dbt-labs/dbt-postgres:1.9.latest"),
        Runtime::Cloudquery => Some("ghcr.io/cloudquery/cloudquery:latest"),
        Runtime::Generic => None,
    }
}

/// Whether the engine behind `program` answers (`info` reaches the Docker daemon; Podman has
/// none, and answers when its storage and runtime work).
pub fn engine_answers(program: &Path) -> bool {
    Command::new(program)
        .arg("info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The engine to run containers with: the configured one, else Docker when its daemon answers,
/// else Podman when it is installed, else Docker (whose missing daemon is then reported).
fn engine(settings: &ContainerSettings, tools: &Tools) -> Result<(Engine, PathBuf), ExecError> {
    if let Some(engine) = settings.engine {
        return Ok((engine, tools.require(engine.program(), CONTAINER_INSTALL)?));
    }
    let docker = tools.find("docker");
    if let Some(docker) = docker.as_ref().filter(|docker| engine_answers(docker)) {
        return Ok((Engine::Docker, docker.clone()));
    }
    if let Some(podman) = tools.find("podman") {
        return Ok((Engine::Podman, podman));
    }
    match docker {
        Some(docker) => Ok((Engine::Docker, docker)),
        None => Err(ExecError::MissingTool {
            tool: "docker or podman".into(),
            install: CONTAINER_INSTALL.into(),
        }),
    }
}

/// Finds programs on the PATH dk runs with.
#[derive(Debug, Clone, Default)]
pub struct Tools {
    path: Option<String>,
}

impl Tools {
    pub fn new(path: Option<String>) -> Tools {
        Tools { path }
    }

    pub fn find(&self, program: &str) -> Option<PathBuf> {
        std::env::split_paths(self.path.as_deref()?)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    }

    /// The Python that dk seeds DuckDB through: dbt's own (the interpreter its `dbt` script
    /// names, where dbt-duckdb put `duckdb`), else the first `python3` on PATH.
    pub fn duckdb_python(&self) -> Option<PathBuf> {
        self.find("dbt")
            .and_then(|dbt| script_interpreter(&dbt))
            .or_else(|| self.find("python3"))
    }

    fn require(&self, program: &str, install: &str) -> Result<PathBuf, ExecError> {
        self.find(program).ok_or_else(|| ExecError::MissingTool {
            tool: program.to_owned(),
            install: install.to_owned(),
        })
    }
}

/// A `#!` line is one line; a script longer than this is not pip's launcher.
const SCRIPT_LIMIT: u64 = 1 << 16;

/// The interpreter a script's `#!` line names, when it exists: pip writes the venv's Python
/// there. `#!/usr/bin/env python3` names no interpreter of its own.
fn script_interpreter(script: &Path) -> Option<PathBuf> {
    let bytes = dk_fs::read(script, SCRIPT_LIMIT).ok()?;
    let line = bytes.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.strip_prefix("#!")?;
    let interpreter = PathBuf::from(line.split_whitespace().next()?);
    let named = interpreter
        .file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with("python"));
    (named && interpreter.is_absolute() && interpreter.is_file()).then_some(interpreter)
}

/// A program to run, where, and the variables it gets beyond the inherited environment.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Invocation {
    pub program: String,
    pub args: Vec<String>,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
}

/// Something done before the pipeline starts.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(tag = "step", rename_all = "camelCase")]
pub enum Step {
    /// A virtualenv for `requirements.txt`, rebuilt when its hash changes: that of the wheel set
    /// when it installs offline from `wheels`, else that of the file.
    Virtualenv {
        dir: PathBuf,
        python: PathBuf,
        requirements: PathBuf,
        #[serde(skip_serializing_if = "Option::is_none")]
        wheels: Option<PathBuf>,
        hash: String,
    },
    /// A generated file (dbt profiles, a CloudQuery spec).
    WriteFile { path: PathBuf, contents: String },
    /// A directory the runtime expects to exist: dbt-duckdb creates its database file but not
    /// the folder, which a fresh checkout lacks when the file is gitignored.
    Directory { path: PathBuf },
    /// The container image, present locally or pulled, so that a missing image or engine is
    /// reported as such before anything runs.
    Image {
        engine: Engine,
        program: PathBuf,
        image: String,
    },
}

/// Everything needed to start the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Prepared {
    pub executor: Executor,
    pub steps: Vec<Step>,
    pub invocation: Invocation,
    /// What removes what the pipeline leaves behind when it is stopped (a container that the
    /// engine's CLI, killed after the grace period, no longer stops).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleanup: Option<Invocation>,
    /// What the pipeline reports of its own lineage, which dk records after the run.
    #[serde(skip)]
    pub reported: Option<Reported>,
}

/// Lineage a pipeline reports itself, besides dk's events of its run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reported {
    /// OpenLineage events in a file (dbt-ol's file transport), recorded before the run's folder
    /// is removed.
    Events(PathBuf),
    /// The dbt project's target folder (`target-path`), whose `run_results.json` and
    /// `manifest.json` name the models it built (dbt without dbt-ol): dk emits their runs.
    DbtResults(PathBuf),
}

/// The file in the run's folder that dbt-ol's file transport appends its events to.
pub const DBT_OL_EVENTS: &str = "openlineage-events.jsonl";

pub(crate) const PYTHON_INSTALL: &str = "install Python 3 (apt-get install python3)";
pub(crate) const GO_INSTALL: &str = "install Go (apt-get install golang-go, or https://go.dev/dl)";
pub(crate) const DBT_INSTALL: &str =
    "pip install 'dbt-core~=1.11' dbt-duckdb dbt-postgres (the adapter of your store)";
pub(crate) const CLOUDQUERY_INSTALL: &str =
    "install the CloudQuery CLI: https://docs.cloudquery.io/docs/quickstart";
const NODE_INSTALL: &str = "install Node.js (apt-get install nodejs, or https://nodejs.org)";
const JAVA_INSTALL: &str = "install a JDK 11 or later, whose `java` runs Main.java from source (apt-get install default-jdk-headless)";
pub(crate) const CONTAINER_INSTALL: &str =
    "install Podman (apt-get install podman) or Docker, or run with --executor local";

fn python(plan: &RunPlan, tools: &Tools, steps: &mut Vec<Step>) -> Result<PathBuf, ExecError> {
    let system = tools.require("python3", PYTHON_INSTALL)?;
    let Some(text) = wheels::requirements(&plan.package_dir)
        .map_err(|err| ExecError::Prepare(err.to_string()))?
    else {
        return Ok(system);
    };
    let requirements = plan.package_dir.join(wheels::REQUIREMENTS);
    // A pulled package (a laptop's `dk pull` folder, a pod's emptyDir) is writable by whoever
    // runs it, so its virtualenv lives beside it as in a working directory.
    let dir = plan.package_dir.join(".venv");
    let vendored = plan.package_dir.join(wheels::DIR);
    let (wheels_dir, hash) = match wheels::wheel_set_key(&text, &vendored)
        .map_err(|err| ExecError::Prepare(err.to_string()))?
    {
        Some(key) => (Some(vendored), key),
        None => (None, hex::encode(Sha256::digest(text.as_bytes()))),
    };
    steps.push(Step::Virtualenv {
        dir: dir.clone(),
        python: system,
        requirements,
        wheels: wheels_dir,
        hash,
    });
    Ok(dir.join("bin").join("python"))
}

pub(crate) fn output_store(plan: &RunPlan) -> Option<&ResolvedStore> {
    plan.datasets
        .iter()
        .find(|d| d.role == Role::Output)
        .map(|d| &d.store)
}

/// The `dbt_project.yml` of a dbt package, with dbt's defaults when there is none.
pub fn dbt_project(package_dir: &Path) -> Result<DbtProject, ExecError> {
    match DbtProject::read(package_dir) {
        Ok(project) => Ok(project.unwrap_or_default()),
        Err(DbtProjectError::Read(err)) => Err(ExecError::Read(err)),
        Err(err @ DbtProjectError::Parse { .. }) => Err(ExecError::Prepare(err.to_string())),
    }
}

/// A dbt profile, named `name`, for the store dbt writes to. Passwords are not written into the
/// file: dbt reads them from `DK_DBT_PASSWORD` through `env_var`.
fn dbt_profile(plan: &RunPlan, name: &str) -> Result<(Value, Vec<(String, String)>), ExecError> {
    let store = output_store(plan)
        .ok_or_else(|| ExecError::Unsupported("a dbt package needs an output dataset".into()))?;
    let text = |key: &str| {
        store.connection.get(key).and_then(|v| {
            v.as_str()
                .map(str::to_owned)
                .or_else(|| v.as_i64().map(|n| n.to_string()))
        })
    };
    let schema = plan
        .datasets
        .iter()
        .find(|d| d.role == Role::Output)
        .and_then(|d| {
            d.locator
                .1
                .split_once('.')
                .map(|(schema, _)| schema.to_owned())
        });
    let mut env = Vec::new();
    let output = match store.store_type.as_str() {
        "duckdb" => {
            json!({"type": "duckdb", "path": text("path").unwrap_or_default(), "schema": schema.unwrap_or_else(|| "main".into()), "threads": 1})
        }
        "postgres" | "postgresql" => {
            if let Some(password) = text("password") {
                env.push(("DK_DBT_PASSWORD".to_owned(), password));
            }
            json!({
                "type": "postgres",
                "host": text("host").unwrap_or_else(|| "localhost".into()),
                "port": text("port").and_then(|p| p.parse::<u16>().ok()).unwrap_or(5432),
                "user": text("user").or_else(|| text("username")).unwrap_or_else(|| "postgres".into()),
                "password": "{{ env_var('DK_DBT_PASSWORD', '') }}",
                "dbname": text("database").or_else(|| text("dbname")).unwrap_or_else(|| "postgres".into()),
                "schema": schema.unwrap_or_else(|| "public".into()),
                "threads": 1,
            })
        }
        "sqlite" => {
            let path = text("path").unwrap_or_default();
            let dir = Path::new(&path)
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            json!({"type": "sqlite", "threads": 1, "database": "database", "schema": "main",
                   "schemas_and_paths": {"main": path}, "schema_directory": dir})
        }
        other => {
            return Err(ExecError::Unsupported(format!(
                "dbt cannot write to a {other} store; use postgres, duckdb or sqlite"
            )));
        }
    };
    Ok((
        json!({name: {"target": "dev", "outputs": {"dev": output}}}),
        env,
    ))
}

/// Runs `dbt compile` on the project in `dir` with its own `profiles.yml`, so that
/// `target/manifest.json` describes the project as it is now, with each model's SQL as the
/// warehouse runs it (column lineage is read from it). `folder` is created first: that of a
/// DuckDB database, which dbt opens to compile. dbt's output is returned on
/// failure (its last lines say what is wrong); it never reaches the terminal otherwise.
pub fn dbt_compile(tools: &Tools, dir: &Path, folder: Option<&Path>) -> Result<(), ExecError> {
    let dbt = tools.require("dbt", DBT_INSTALL)?;
    if let Some(folder) = folder {
        std::fs::create_dir_all(folder).map_err(|err| {
            ExecError::Prepare(format!("cannot create {}: {err}", folder.display()))
        })?;
    }
    // Run inside the project, so that dbt's `logs/` lands there and nowhere else.
    let output = Command::new(&dbt)
        .args(["compile", "--project-dir", ".", "--profiles-dir", "."])
        .current_dir(dir)
        .env("DO_NOT_TRACK", "1")
        .stdin(Stdio::null())
        .output()
        .map_err(|err| ExecError::Prepare(format!("{}: {err}", dbt.display())))?;
    if output.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = text.lines().rev().take(8).collect();
    Err(ExecError::Prepare(format!(
        "dbt compile failed: {}",
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    )))
}

/// Plugin path and version of a CloudQuery destination for a built-in store type.
fn cloudquery_destination(store_type: &str) -> Option<(&'static str, &'static str)> {
    match store_type {
        "sqlite" => Some(("cloudquery/sqlite", "v2.13.4")),
        _ => None,
    }
}

fn cloudquery_spec(plan: &RunPlan) -> Result<String, ExecError> {
    let inputs: Vec<_> = plan
        .datasets
        .iter()
        .filter(|d| d.role == Role::Input)
        .collect();
    let output = plan
        .datasets
        .iter()
        .find(|d| d.role == Role::Output)
        .ok_or_else(|| {
            ExecError::Unsupported("a cloudquery package needs an output dataset".into())
        })?;
    let source = inputs.first().ok_or_else(|| {
        ExecError::Unsupported("a cloudquery package needs an input dataset".into())
    })?;
    let plugin = |dataset: &DatasetPlan, destination: bool| {
        let connector = &dataset.connector;
        let plugin = connector.plugin.as_ref()?;
        let path = if destination {
            &plugin.destination
        } else {
            &plugin.source
        };
        Some((path.clone()?, connector.version.clone()?))
    };
    let (path, version) = plugin(source, false).ok_or_else(|| {
        ExecError::Unsupported(format!(
            "connector of store '{}' names no CloudQuery source plugin (plugin.source and version)",
            source.store.name
        ))
    })?;
    let extra = package_file(&plan.package_dir.join("cloudquery.yaml"))?;
    let mut plugin_spec = serde_json::Map::new();
    if let Some(extra) = extra {
        let node = dk_manifest::yaml::parse_document(&dk_manifest::yaml::Source::file(
            "cloudquery.yaml",
            extra,
        ))
        .map_err(|err| ExecError::Unsupported(format!("cloudquery.yaml: {}", err)))?;
        if let Some(Value::Object(spec)) = node
            .map(|n| n.to_json())
            .and_then(|v| v.get("spec").cloned())
        {
            plugin_spec = spec;
        }
    }
    plugin_spec.extend(source.store.connection.clone());
    let (destination_path, destination_version) = match plugin(output, true) {
        Some(plugin) => plugin,
        None => cloudquery_destination(&output.store.store_type)
            .map(|(p, v)| (p.to_owned(), v.to_owned()))
            .ok_or_else(|| ExecError::Unsupported(format!("no CloudQuery destination for a {} store; declare a connector with plugin.destination and version", output.store.store_type)))?,
    };
    let destination_spec = match output.store.store_type.as_str() {
        "sqlite" | "duckdb" => {
            json!({"connection_string": output.store.connection.get("path").cloned().unwrap_or_default()})
        }
        _ => json!({"connection_string": output.store.dsn}),
    };
    let source_doc = json!({"kind": "source", "spec": {
        "name": source.store.name, "path": path, "registry": "cloudquery", "version": version,
        "tables": inputs.iter().map(|d| d.locator.1.clone()).collect::<Vec<_>>(),
        "destinations": [output.store.name], "spec": plugin_spec,
    }});
    let destination_doc = json!({"kind": "destination", "spec": {
        "name": output.store.name, "path": destination_path, "registry": "cloudquery", "version": destination_version,
        "spec": destination_spec,
    }});
    Ok(format!(
        "{}---\n{}",
        render_block(&source_doc, 0),
        render_block(&destination_doc, 0)
    ))
}

/// What the pipeline is started for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Run,
    /// The package's own tests (`dk test`): pytest when there is a `tests/` folder, `go test`,
    /// `dbt build` (seeds and models, then the tests that read them); the pipeline itself for runtimes without a test runner.
    Test,
}

/// The program and arguments of the runtime. `host` finds programs on the host (the local
/// executor); without it, programs are named as the image has them on its PATH.
fn runtime_command(
    plan: &RunPlan,
    run_dir: &Path,
    host: Option<&Tools>,
    purpose: Purpose,
    steps: &mut Vec<Step>,
    env: &mut Vec<(String, String)>,
    reported: &mut Option<Reported>,
) -> Result<(String, Vec<String>), ExecError> {
    let tool = |program: &str, install: &str| -> Result<String, ExecError> {
        match host {
            Some(tools) => Ok(tools.require(program, install)?.display().to_string()),
            None => Ok(program.to_owned()),
        }
    };
    let args = |args: &[&str]| args.iter().map(|arg| arg.to_string()).collect::<Vec<_>>();
    let command = &plan.transform.spec.command;
    let testing = purpose == Purpose::Test;
    Ok(match plan.transform.spec.runtime {
        Runtime::GenericPython if testing && plan.package_dir.join("tests").is_dir() => {
            let python = match host {
                Some(tools) => python(plan, tools, steps)?.display().to_string(),
                None => "python3".into(),
            };
            (python, args(&["-m", "pytest", "-q", "tests"]))
        }
        Runtime::GenericGo if testing => (tool("go", GO_INSTALL)?, args(&["test", "./..."])),
        _ if !command.is_empty() => (command[0].clone(), command[1..].to_vec()),
        Runtime::Generic => return Err(ExecError::NoCommand),
        Runtime::GenericPython => {
            let python = match host {
                Some(tools) => python(plan, tools, steps)?.display().to_string(),
                None => "python3".into(),
            };
            (python, args(&["main.py"]))
        }
        Runtime::GenericGo => (tool("go", GO_INSTALL)?, args(&["run", "."])),
        Runtime::GenericNode => (tool("node", NODE_INSTALL)?, args(&["main.js"])),
        Runtime::GenericJava => (tool("java", JAVA_INSTALL)?, args(&["Main.java"])),
        Runtime::Dbt => {
            let project = dbt_project(&plan.package_dir)?;
            let name = project.profile_name().to_owned();
            let (profile, profile_env) = dbt_profile(plan, &name)?;
            env.extend(profile_env);
            if let Some(dir) = output_store(plan)
                .filter(|store| store.store_type == "duckdb")
                .and_then(|store| store.connection.get("path")?.as_str())
                .and_then(|path| Path::new(path).parent())
                .filter(|dir| !dir.as_os_str().is_empty())
            {
                steps.push(Step::Directory {
                    path: plan.package_dir.join(dir),
                });
            }
            steps.push(Step::WriteFile {
                path: run_dir.join("profiles.yml"),
                contents: render_block(&profile, 0),
            });
            // dbt-ol wraps the dbt command to emit model events; tests have no lineage.
            let dbt = match host
                .and_then(|tools| tools.find("dbt-ol"))
                .filter(|_| !testing)
            {
                Some(dbt_ol) => {
                    dbt_ol_transport(run_dir, steps, env, reported);
                    dbt_ol.display().to_string()
                }
                None => {
                    if !testing {
                        *reported =
                            Some(Reported::DbtResults(project.target_dir(&plan.package_dir)));
                    }
                    tool("dbt", DBT_INSTALL)?
                }
            };
            let spec = plan
                .transform
                .spec
                .dbt
                .as_deref()
                .cloned()
                .unwrap_or_default();
            // `dbt test` alone fails on a fresh copy whose models were never built: `dbt build`
            // loads seeds and builds every model before the tests that read it.
            let command = if testing {
                DbtCommand::Build
            } else {
                spec.command
            };
            let mut args = vec![
                command.as_str().to_owned(),
                "--project-dir".into(),
                plan.package_dir.display().to_string(),
                "--profiles-dir".into(),
                run_dir.display().to_string(),
                "--profile".into(),
                name,
            ];
            if let Some(select) = spec.select.as_deref().filter(|s| !s.trim().is_empty()) {
                args.push("--select".into());
                args.extend(select.split_whitespace().map(str::to_owned));
            }
            env.push((
                "OPENLINEAGE_NAMESPACE".to_owned(),
                plan.lineage.job.namespace.clone(),
            ));
            (dbt, args)
        }
        Runtime::Cloudquery => {
            let spec = cloudquery_spec(plan)?;
            let path = run_dir.join("cloudquery-spec.yaml");
            steps.push(Step::WriteFile {
                path: path.clone(),
                contents: spec,
            });
            (
                tool("cloudquery", CLOUDQUERY_INSTALL)?,
                vec!["sync".into(), path.display().to_string()],
            )
        }
    })
}

/// Points dbt-ol's OpenLineage client at a file in `run_dir`, so that its events reach dk (which
/// records them after the run) instead of the terminal (the client's console fallback) or a
/// backend straight (around dk's spool). `OPENLINEAGE_URL` is emptied: the client would
/// otherwise add an HTTP transport for it.
fn dbt_ol_transport(
    run_dir: &Path,
    steps: &mut Vec<Step>,
    env: &mut Vec<(String, String)>,
    reported: &mut Option<Reported>,
) {
    let file = run_dir.join(DBT_OL_EVENTS);
    let config = run_dir.join("openlineage.yml");
    let transport = json!({
        "transport": {
            "type": "file",
            "log_file_path": file.display().to_string(),
            "append": true,
        }
    });
    steps.push(Step::WriteFile {
        path: config.clone(),
        contents: render_block(&transport, 0),
    });
    env.push(("OPENLINEAGE_CONFIG".into(), config.display().to_string()));
    env.push(("OPENLINEAGE_URL".into(), String::new()));
    *reported = Some(Reported::Events(file));
}

/// Without `colors`, tells the runtime's tools that colour their output whatever it is written
/// to (dbt) to write none. The variable, not `--no-use-colors`: dbt-ol and a container's dbt
/// read it too.
fn no_colors(plan: &RunPlan, colors: bool, env: &mut Vec<(String, String)>) {
    if !colors && plan.transform.spec.runtime == Runtime::Dbt {
        env.push(("DBT_USE_COLORS".to_owned(), "false".to_owned()));
    }
}

/// The local executor's preparation and invocation of `plan`; `run_dir` holds generated files.
/// Without `colors` (dk's output is no terminal, or colours are off), tools that colour their
/// output regardless are told not to.
pub fn local(
    plan: &RunPlan,
    run_dir: &Path,
    tools: &Tools,
    purpose: Purpose,
    colors: bool,
) -> Result<Prepared, ExecError> {
    let mut steps = Vec::new();
    let mut env = Vec::new();
    let mut reported = None;
    let (program, args) = runtime_command(
        plan,
        run_dir,
        Some(tools),
        purpose,
        &mut steps,
        &mut env,
        &mut reported,
    )?;
    no_colors(plan, colors, &mut env);
    Ok(Prepared {
        executor: Executor::Local,
        steps,
        invocation: Invocation {
            program,
            args,
            cwd: plan.package_dir.clone(),
            env,
        },
        cleanup: None,
        reported,
    })
}

/// The Docker executor's invocation: the runtime's command and the same contract inside
/// `spec.image` (else `runtime.images.<runtime>`, else [`default_image`]), with host networking
/// and the package, the run directory and local stores mounted at their host paths. Variables are
/// passed by name (`-e NAME`) so that secrets never appear on a command line.
pub fn docker(
    plan: &RunPlan,
    run_dir: &Path,
    contract: &[(String, String)],
    tools: &Tools,
    settings: &ContainerSettings,
    colors: bool,
) -> Result<Prepared, ExecError> {
    let runtime = plan.transform.spec.runtime;
    let image = plan
        .transform
        .spec
        .image
        .clone()
        .filter(|image| !image.is_empty())
        .or_else(|| settings.images.get(&runtime).cloned())
        .or_else(|| default_image(runtime).map(str::to_owned))
        .ok_or(ExecError::NoImage)?;
    let mut steps = Vec::new();
    let mut env = contract.to_vec();
    let (program, command) = runtime_command(
        plan,
        run_dir,
        None,
        Purpose::Run,
        &mut steps,
        &mut env,
        &mut None,
    )?;
    no_colors(plan, colors, &mut env);
    let (engine, engine_program) = engine(settings, tools)?;
    steps.push(Step::Image {
        engine,
        program: engine_program.clone(),
        image: image.clone(),
    });
    let package = plan.package_dir.display().to_string();
    let name = format!("dk-{}", plan.run_id);
    let mut args = vec![
        "run".into(),
        "--rm".into(),
        "--init".into(),
        "--network".into(),
        "host".into(),
        "--name".into(),
        name.clone(),
        "-v".into(),
        format!("{package}:{package}"),
        "-w".into(),
        package,
        "-v".into(),
        format!("{0}:{0}:ro", run_dir.display()),
    ];
    // Local stores are mounted where the contract says they are.
    for store in plan.stores() {
        if let Some(path) = store.connection.get("path").and_then(Value::as_str) {
            let dir = if store.store_type == "file" {
                Path::new(path)
            } else {
                Path::new(path).parent().unwrap_or(Path::new("/"))
            };
            args.extend(["-v".into(), format!("{0}:{0}", dir.display())]);
        }
    }
    for (name, _) in &env {
        args.extend(["-e".into(), name.clone()]);
    }
    // The runtime's program replaces the image's entrypoint: images such as dbt's start `dbt`
    // themselves, which would otherwise receive `dbt run ...` as its arguments.
    args.extend(["--entrypoint".into(), program]);
    args.push(image);
    args.extend(command);
    let cleanup = Invocation {
        program: engine_program.display().to_string(),
        args: vec!["rm".into(), "--force".into(), name],
        cwd: plan.package_dir.clone(),
        env: Vec::new(),
    };
    Ok(Prepared {
        executor: Executor::Docker,
        steps,
        invocation: Invocation {
            program: engine_program.display().to_string(),
            args,
            cwd: plan.package_dir.clone(),
            env,
        },
        cleanup: Some(cleanup),
        reported: None,
    })
}

/// Makes `image` present for `engine`: found locally, else pulled. A failure says whether the
/// engine or the image is missing.
fn ensure_image(
    engine: Engine,
    program: &Path,
    image: &str,
    log: &mut dyn Write,
) -> Result<(), ExecError> {
    let quiet = |args: &[&str]| {
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
    };
    let inspect = quiet(&["image", "inspect", image]).map_err(|err| ExecError::EngineDown {
        engine,
        detail: format!("{}: {err}", program.display()),
    })?;
    if inspect.status.success() {
        return Ok(());
    }
    let info = quiet(&["info"]).map_err(|err| ExecError::EngineDown {
        engine,
        detail: err.to_string(),
    })?;
    let last_line = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .unwrap_or("no message")
            .trim()
            .to_owned()
    };
    if !info.status.success() {
        return Err(ExecError::EngineDown {
            engine,
            detail: last_line(&info.stderr),
        });
    }
    let _ = writeln!(log, "Pulling {image} ({engine})");
    let pull = quiet(&["pull", image]).map_err(|err| ExecError::EngineDown {
        engine,
        detail: err.to_string(),
    })?;
    if pull.status.success() {
        return Ok(());
    }
    Err(ExecError::ImageNotFound {
        engine,
        image: image.to_owned(),
        detail: last_line(&pull.stderr),
    })
}

/// Writes a file only its owner can read (the context and generated specs hold DSNs), in a
/// folder only its owner can enter.
pub fn write_private(path: &Path, contents: &str) -> Result<(), ExecError> {
    use std::os::unix::fs::DirBuilderExt;
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|err| dk_fs::FsError::Io {
                path: dir.to_owned(),
                source: err,
            })?;
    }
    let mut file = dk_fs::AtomicFile::create(path)?;
    file.set_mode(0o600)?;
    file.write_all(contents.as_bytes())
        .map_err(|err| dk_fs::FsError::Io {
            path: path.to_owned(),
            source: err,
        })?;
    Ok(file.commit()?)
}

/// A file of the package that dk reads (`cloudquery.yaml`): `None` when
/// there is none, an error when it is not a regular file or is too large.
fn package_file(path: &Path) -> Result<Option<String>, ExecError> {
    match dk_fs::read_to_string(path, crate::PACKAGE_FILE_LIMIT) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.io_kind() == Some(std::io::ErrorKind::NotFound) => Ok(None),
        Err(err) => Err(ExecError::Read(err)),
    }
}

/// Runs the preparation steps; tool output goes to `log` (stderr).
pub fn prepare(steps: &[Step], log: &mut dyn Write) -> Result<(), ExecError> {
    for step in steps {
        match step {
            Step::WriteFile { path, contents } => write_private(path, contents)?,
            Step::Directory { path } => std::fs::create_dir_all(path).map_err(|err| {
                ExecError::Prepare(format!("cannot create {}: {err}", path.display()))
            })?,
            Step::Image {
                engine,
                program,
                image,
            } => ensure_image(*engine, program, image, log)?,
            Step::Virtualenv {
                dir,
                python,
                requirements,
                wheels,
                hash,
            } => virtualenv(dir, python, requirements, wheels.as_deref(), hash, log)?,
        }
    }
    Ok(())
}

/// Creates the virtualenv `dir` for `requirements` unless its marker names `hash`: offline from
/// `wheels` when given. The output of venv and pip goes to `log`, never to stdout, which belongs
/// to dk's report (`-o json`).
fn virtualenv(
    dir: &Path,
    python: &Path,
    requirements: &Path,
    wheels: Option<&Path>,
    hash: &str,
    log: &mut dyn Write,
) -> Result<(), ExecError> {
    let marker = dir.join(VENV_MARKER);
    if dk_fs::read_to_string(&marker, 128).is_ok_and(|existing| existing.trim() == hash) {
        return Ok(());
    }
    let source = match wheels {
        Some(wheels) => format!(" from the wheels in {}", wheels.display()),
        None => String::new(),
    };
    let _ = writeln!(
        log,
        "Creating a virtualenv in {} for {}{source}",
        dir.display(),
        requirements.display()
    );
    let _ = std::fs::remove_dir_all(dir);
    let mut run = |program: &Path, args: &[&str]| -> Result<(), ExecError> {
        let output = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|err| ExecError::Prepare(format!("{}: {err}", program.display())))?;
        let _ = log.write_all(&output.stdout);
        let _ = log.write_all(&output.stderr);
        if output.status.success() {
            Ok(())
        } else {
            Err(ExecError::Prepare(format!(
                "`{} {}` failed ({})",
                program.display(),
                args.join(" "),
                output.status
            )))
        }
    };
    run(python, &["-m", "venv", &dir.display().to_string()])?;
    let pip = dir.join("bin").join("pip");
    let requirements = requirements.display().to_string();
    let mut args = vec!["install", "--disable-pip-version-check", "--quiet"];
    let find_links;
    if let Some(wheels) = wheels {
        // Offline: the index is never asked, whatever pip's configuration names.
        find_links = wheels.display().to_string();
        args.extend(["--no-index", "--no-cache-dir", "--find-links", &find_links]);
    }
    args.extend(["-r", &requirements]);
    run(&pip, &args).map_err(|err| match (err, wheels) {
        (ExecError::Prepare(message), Some(_)) => ExecError::Prepare(format!(
            "{message}: the vendored wheels may be for another Python or platform than {}; build the package for the image it runs in (spec.build.python, docs/packaging.md)",
            python.display()
        )),
        (err, _) => err,
    })?;
    Ok(dk_fs::write_atomic(&marker, hash.as_bytes())?)
}

/// Names the requirements or wheel set a virtualenv was built for.
const VENV_MARKER: &str = ".dk-requirements-sha256";

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of fake engines: `docker` answering `info` or not, and `podman`.
    fn engines(docker_answers: bool, podman: bool) -> (tempfile::TempDir, Tools) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mut fakes = vec![("docker", if docker_answers { 0 } else { 1 })];
        if podman {
            fakes.push(("podman", 0));
        }
        for (name, code) in fakes {
            let path = dir.path().join(name);
            std::fs::write(&path, format!("#!/bin/sh\nexit {code}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let tools = Tools::new(Some(dir.path().display().to_string()));
        (dir, tools)
    }

    #[test]
    fn the_dbt_profile_is_the_one_dbt_project_yml_names() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("dbt_project.yml");
        std::fs::write(
            &project,
            "name: shop\n# the profile\nprofile: shop_analytics\n",
        )
        .unwrap();
        assert_eq!(
            dbt_project(dir.path()).unwrap().profile_name(),
            "shop_analytics"
        );
        std::fs::write(&project, "name: shop\n").unwrap();
        assert_eq!(dbt_project(dir.path()).unwrap().profile_name(), "dk");
        std::fs::write(&project, "name: [shop\n").unwrap();
        assert!(matches!(
            dbt_project(dir.path()),
            Err(ExecError::Prepare(message)) if message.contains("dbt_project.yml")
        ));
    }

    #[test]
    fn duckdb_is_seeded_through_the_python_dbt_runs_on() {
        let dir = tempfile::tempdir().unwrap();
        let venv = dir.path().join("venv/bin");
        let first = dir.path().join("first");
        std::fs::create_dir_all(&venv).unwrap();
        std::fs::create_dir_all(&first).unwrap();
        let python = venv.join("python3.11");
        std::fs::write(&python, "").unwrap();
        std::fs::write(first.join("python3"), "").unwrap();
        let path = std::env::join_paths([&first, &venv]).unwrap();
        let tools = Tools::new(Some(path.to_string_lossy().into_owned()));
        std::fs::write(
            venv.join("dbt"),
            format!("#!{}\nimport dbt\n", python.display()),
        )
        .unwrap();
        assert_eq!(tools.duckdb_python(), Some(python.clone()));
        // `env` finds whatever is first on PATH, which is what dk does itself.
        std::fs::write(venv.join("dbt"), "#!/usr/bin/env python3\n").unwrap();
        assert_eq!(tools.duckdb_python(), Some(first.join("python3")));
        std::fs::write(
            venv.join("dbt"),
            format!("#!{}/gone/python3\n", dir.path().display()),
        )
        .unwrap();
        assert_eq!(tools.duckdb_python(), Some(first.join("python3")));
    }

    #[test]
    fn a_virtualenv_whose_marker_names_the_hash_is_reused_and_another_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let venv = dir.path().join(".venv");
        std::fs::create_dir(&venv).unwrap();
        std::fs::write(venv.join(VENV_MARKER), "abc\n").unwrap();
        let python = dir.path().join("no-python");
        let requirements = dir.path().join("requirements.txt");
        let mut log = Vec::new();
        // Nothing runs: the missing interpreter is never started.
        virtualenv(&venv, &python, &requirements, None, "abc", &mut log).unwrap();
        assert!(log.is_empty());
        let wheels = dir.path().join(wheels::DIR);
        let err = virtualenv(
            &venv,
            &python,
            &requirements,
            Some(&wheels),
            "def",
            &mut log,
        )
        .unwrap_err();
        assert!(err.to_string().contains("no-python"), "{err}");
        let log = String::from_utf8(log).unwrap();
        assert!(log.contains("from the wheels in"), "{log}");
        assert!(!venv.exists(), "the stale virtualenv is removed");
    }

    #[test]
    fn the_engine_is_docker_when_its_daemon_answers_else_podman() {
        let unset = ContainerSettings::default();
        let (_dir, tools) = engines(true, true);
        assert_eq!(engine(&unset, &tools).unwrap().0, Engine::Docker);
        let (_dir, tools) = engines(false, true);
        assert_eq!(engine(&unset, &tools).unwrap().0, Engine::Podman);
        // Docker alone, without its daemon: chosen, so that the missing daemon is reported.
        let (_dir, tools) = engines(false, false);
        assert_eq!(engine(&unset, &tools).unwrap().0, Engine::Docker);
        let podman = ContainerSettings {
            engine: Some(Engine::Podman),
            ..ContainerSettings::default()
        };
        assert!(matches!(
            engine(&podman, &tools),
            Err(ExecError::MissingTool { .. })
        ));
    }
}
