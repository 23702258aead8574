//! Executors: how a package's runtime becomes a process.
//!
//! Local (the default): `generic-python` runs `python3 main.py` (in a package-local virtualenv
//! when `requirements.txt` lists requirements, rebuilt only when the file changes),
//! `generic-go` runs `go run .`, `dbt` runs `dbt run` with a `profiles.yml` generated from the
//! stores (`dbt-ol run` when it is installed, so dbt's events nest under the dk run),
//! `cloudquery` runs `cloudquery sync` with a spec generated from the manifests.
//! Docker: the same contract inside `spec.image`.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use dk_manifest::model::Runtime;
use dk_manifest::resolve::Role;
use dk_manifest::yaml::render_block;

use crate::contract::ResolvedStore;
use crate::plan::{DatasetPlan, RunPlan};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Executor {
    Local,
    Docker,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("{tool} is not installed (not on PATH)")]
    MissingTool { tool: String, install: String },
    #[error("the docker executor needs spec.image: the image to run the package in")]
    NoImage,
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
            _ => None,
        }
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

    fn require(&self, program: &str, install: &str) -> Result<PathBuf, ExecError> {
        self.find(program).ok_or_else(|| ExecError::MissingTool {
            tool: program.to_owned(),
            install: install.to_owned(),
        })
    }
}

/// A program to run, where, and the variables it gets beyond the inherited environment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Invocation {
    pub program: String,
    pub args: Vec<String>,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
}

/// Something done before the pipeline starts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "step", rename_all = "camelCase")]
pub enum Step {
    /// A virtualenv for `requirements.txt`, rebuilt when its hash changes.
    Virtualenv {
        dir: PathBuf,
        python: PathBuf,
        requirements: PathBuf,
        hash: String,
    },
    /// A generated file (dbt profiles, a CloudQuery spec).
    WriteFile { path: PathBuf, contents: String },
}

/// Everything needed to start the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prepared {
    pub executor: Executor,
    pub steps: Vec<Step>,
    pub invocation: Invocation,
}

const PYTHON_INSTALL: &str = "install Python 3 (apt-get install python3)";
const GO_INSTALL: &str = "install Go (apt-get install golang-go, or https://go.dev/dl)";
const DBT_INSTALL: &str =
    "pip install 'dbt-core~=1.11' dbt-duckdb dbt-postgres (the adapter of your store)";
const CLOUDQUERY_INSTALL: &str =
    "install the CloudQuery CLI: https://docs.cloudquery.io/docs/quickstart";
const DOCKER_INSTALL: &str = "install Docker and start its engine, or run with --executor local";

/// The requirements a `requirements.txt` actually lists (not comments or blank lines).
fn has_requirements(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .any(|line| !line.is_empty() && !line.starts_with('#'))
}

fn python(plan: &RunPlan, tools: &Tools, steps: &mut Vec<Step>) -> Result<PathBuf, ExecError> {
    let system = tools.require("python3", PYTHON_INSTALL)?;
    let requirements = plan.package_dir.join("requirements.txt");
    let Some(text) = package_file(&requirements)? else {
        return Ok(system);
    };
    if !has_requirements(&text) {
        return Ok(system);
    }
    let dir = plan.package_dir.join(".venv");
    let hash = hex::encode(Sha256::digest(text.as_bytes()));
    steps.push(Step::Virtualenv {
        dir: dir.clone(),
        python: system,
        requirements,
        hash,
    });
    Ok(dir.join("bin").join("python"))
}

fn output_store(plan: &RunPlan) -> Option<&ResolvedStore> {
    plan.datasets
        .iter()
        .find(|d| d.role == Role::Output)
        .map(|d| &d.store)
}

/// A dbt profile named `dk` for the store dbt writes to. Passwords are not written into the file:
/// dbt reads them from `DK_DBT_PASSWORD` through `env_var`.
fn dbt_profile(plan: &RunPlan) -> Result<(Value, Vec<(String, String)>), ExecError> {
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
        json!({"dk": {"target": "dev", "outputs": {"dev": output}}}),
        env,
    ))
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
    /// `dbt test`; the pipeline itself for runtimes without a test runner.
    Test,
}

/// The local executor's preparation and invocation of `plan`; `run_dir` holds generated files.
pub fn local(
    plan: &RunPlan,
    run_dir: &Path,
    tools: &Tools,
    purpose: Purpose,
) -> Result<Prepared, ExecError> {
    let mut steps = Vec::new();
    let mut env = Vec::new();
    let command = &plan.transform.spec.command;
    let testing = purpose == Purpose::Test;
    let (program, args): (String, Vec<String>) = match plan.transform.spec.runtime {
        Runtime::GenericPython if testing && plan.package_dir.join("tests").is_dir() => {
            let python = python(plan, tools, &mut steps)?;
            let args = ["-m", "pytest", "-q", "tests"].map(String::from).to_vec();
            (python.display().to_string(), args)
        }
        Runtime::GenericGo if testing => {
            let go = tools.require("go", GO_INSTALL)?;
            let args = ["test", "./..."].map(String::from).to_vec();
            (go.display().to_string(), args)
        }
        _ if !command.is_empty() => (command[0].clone(), command[1..].to_vec()),
        Runtime::GenericPython => {
            let python = python(plan, tools, &mut steps)?;
            (python.display().to_string(), vec!["main.py".into()])
        }
        Runtime::GenericGo => {
            let go = tools.require("go", GO_INSTALL)?;
            (go.display().to_string(), vec!["run".into(), ".".into()])
        }
        Runtime::Dbt => {
            let (profile, profile_env) = dbt_profile(plan)?;
            env.extend(profile_env);
            steps.push(Step::WriteFile {
                path: run_dir.join("profiles.yml"),
                contents: render_block(&profile, 0),
            });
            // dbt-ol wraps `dbt run` to emit model events; tests have no lineage.
            let dbt = match tools.find("dbt-ol").filter(|_| !testing) {
                Some(dbt_ol) => dbt_ol,
                None => tools.require("dbt", DBT_INSTALL)?,
            };
            let args = vec![
                if testing { "test" } else { "run" }.into(),
                "--project-dir".into(),
                plan.package_dir.display().to_string(),
                "--profiles-dir".into(),
                run_dir.display().to_string(),
            ];
            env.push((
                "OPENLINEAGE_NAMESPACE".to_owned(),
                plan.lineage.job.namespace.clone(),
            ));
            (dbt.display().to_string(), args)
        }
        Runtime::Cloudquery => {
            let spec = cloudquery_spec(plan)?;
            let path = run_dir.join("cloudquery-spec.yaml");
            steps.push(Step::WriteFile {
                path: path.clone(),
                contents: spec,
            });
            let cloudquery = tools.require("cloudquery", CLOUDQUERY_INSTALL)?;
            (
                cloudquery.display().to_string(),
                vec!["sync".into(), path.display().to_string()],
            )
        }
    };
    Ok(Prepared {
        executor: Executor::Local,
        steps,
        invocation: Invocation {
            program,
            args,
            cwd: plan.package_dir.clone(),
            env,
        },
    })
}

/// The Docker executor's invocation: the same contract inside `spec.image`. Variables are passed
/// by name (`-e NAME`) so that secrets never appear on a command line.
pub fn docker(
    plan: &RunPlan,
    context: &Path,
    contract: &[(String, String)],
    tools: &Tools,
) -> Result<Prepared, ExecError> {
    let image = plan
        .transform
        .spec
        .image
        .clone()
        .filter(|image| !image.is_empty())
        .ok_or(ExecError::NoImage)?;
    let docker = tools.require("docker", DOCKER_INSTALL)?;
    let package = plan.package_dir.display().to_string();
    let mut args = vec![
        "run".into(),
        "--rm".into(),
        "--init".into(),
        "--network".into(),
        "host".into(),
        "--name".into(),
        format!("dk-{}", plan.run_id),
        "-v".into(),
        format!("{package}:{package}"),
        "-w".into(),
        package,
        "-v".into(),
        format!("{0}:{0}:ro", context.display()),
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
    for (name, _) in contract {
        args.extend(["-e".into(), name.clone()]);
    }
    args.push(image);
    args.extend(plan.transform.spec.command.iter().cloned());
    Ok(Prepared {
        executor: Executor::Docker,
        steps: Vec::new(),
        invocation: Invocation {
            program: docker.display().to_string(),
            args,
            cwd: plan.package_dir.clone(),
            env: contract.to_vec(),
        },
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

/// A file of the package that dk reads (`requirements.txt`, `cloudquery.yaml`): `None` when
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
            Step::Virtualenv {
                dir,
                python,
                requirements,
                hash,
            } => {
                let marker = dir.join(".dk-requirements-sha256");
                if dk_fs::read_to_string(&marker, 128).is_ok_and(|existing| existing.trim() == hash)
                {
                    continue;
                }
                let _ = writeln!(
                    log,
                    "Creating a virtualenv in {} for {}",
                    dir.display(),
                    requirements.display()
                );
                let _ = std::fs::remove_dir_all(dir);
                let run = |program: &Path, args: &[&str]| -> Result<(), ExecError> {
                    let status = std::process::Command::new(program)
                        .args(args)
                        .stdout(std::process::Stdio::inherit())
                        .status()
                        .map_err(|err| {
                            ExecError::Prepare(format!("{}: {err}", program.display()))
                        })?;
                    if status.success() {
                        Ok(())
                    } else {
                        Err(ExecError::Prepare(format!(
                            "`{} {}` failed ({status})",
                            program.display(),
                            args.join(" ")
                        )))
                    }
                };
                run(python, &["-m", "venv", &dir.display().to_string()])?;
                let pip = dir.join("bin").join("pip");
                run(
                    &pip,
                    &[
                        "install",
                        "--disable-pip-version-check",
                        "--quiet",
                        "-r",
                        &requirements.display().to_string(),
                    ],
                )?;
                dk_fs::write_atomic(&marker, hash.as_bytes())?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_files_of_only_comments_need_no_virtualenv() {
        assert!(!has_requirements("# none\n\n   # still none\n"));
        assert!(has_requirements("# deps\npandas==2.2\n"));
    }
}
