//! New packages for `dk init`: one scaffold per runtime, each lint-clean and runnable on the
//! embedded stores (files, SQLite, DuckDB) with nothing else installed.

use std::path::{Path, PathBuf};

use crate::model::{Mode, Runtime, is_dns_label};
use crate::yaml::render_string;

/// What to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaffoldOptions {
    pub name: String,
    pub runtime: Runtime,
    pub mode: Mode,
    pub namespace: String,
    pub team: String,
    pub owner: String,
}

/// One file of a scaffold, its path relative to the package directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaffoldFile {
    pub path: String,
    pub contents: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("`{name}` is not a valid package name: {reason}")]
    InvalidName { name: String, reason: String },
    #[error("`{namespace}` is not a valid namespace: use lowercase letters, digits and '-'")]
    InvalidNamespace { namespace: String },
    #[error("runtime {runtime} does not support mode streaming: {runtime} runs batch jobs")]
    BatchOnly { runtime: Runtime },
    #[error("runtime generic has no scaffold: it runs whatever spec.command names")]
    NoScaffold,
    #[error("{} already exists and is not empty", dir.display())]
    NotEmpty { dir: PathBuf },
    #[error("cannot write {0}")]
    Io(#[from] dk_fs::FsError),
}

/// The scaffold's DataSets are named `<package>-raw` and `<package>-clean`; both must stay DNS
/// labels, which caps the package name.
pub const MAX_NAME_LEN: usize = 63 - "-clean".len();

/// The runtimes `dk init` scaffolds: every one but `generic`, whose program is the user's.
pub const SCAFFOLDED: &[Runtime] = &[
    Runtime::GenericPython,
    Runtime::GenericGo,
    Runtime::Dbt,
    Runtime::Cloudquery,
    Runtime::GenericNode,
    Runtime::GenericJava,
];

macro_rules! templates {
    ($($path:literal => $file:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../templates/", $file)))),*]
    };
}

const PYTHON: &[(&str, &str)] = templates![
    "dk.yaml" => "generic-python/dk.yaml",
    "main.py" => "generic-python/main.py",
    "requirements.txt" => "generic-python/requirements.txt",
];

const GO: &[(&str, &str)] = templates![
    "dk.yaml" => "generic-go/dk.yaml",
    "main.go" => "generic-go/main.go",
    "go.mod" => "generic-go/go.mod",
];

const NODE: &[(&str, &str)] = templates![
    "dk.yaml" => "generic-node/dk.yaml",
    "main.js" => "generic-node/main.js",
];

const JAVA: &[(&str, &str)] = templates![
    "dk.yaml" => "generic-java/dk.yaml",
    "Main.java" => "generic-java/Main.java",
];

/// What the Python, Go, Node.js and Java scaffolds share: CSV files in a `file` store.
const FILE_STORE: &[(&str, &str)] = templates![
    "store/local-files.yaml" => "common/local-files.yaml",
    "dataset/{{name}}-raw.yaml" => "common/raw.yaml",
    "dataset/{{name}}-clean.yaml" => "common/clean.yaml",
    "data/input/customers.csv" => "common/customers.csv",
    ".gitignore" => "common/gitignore",
    ".dkignore" => "common/gitignore",
];

const DBT: &[(&str, &str)] = templates![
    "dk.yaml" => "dbt/dk.yaml",
    "dbt_project.yml" => "dbt/dbt_project.yml",
    "models/sources.yml" => "dbt/models/sources.yml",
    "models/customers_clean.sql" => "dbt/models/customers_clean.sql",
    "macros/sha256_hex.sql" => "dbt/macros/sha256_hex.sql",
    "store/warehouse.yaml" => "dbt/warehouse.yaml",
    "dataset/{{name}}-raw.yaml" => "dbt/raw.yaml",
    "dataset/{{name}}-clean.yaml" => "dbt/clean.yaml",
    ".gitignore" => "dbt/gitignore",
    ".dkignore" => "dbt/gitignore",
];

const CLOUDQUERY: &[(&str, &str)] = templates![
    "dk.yaml" => "cloudquery/dk.yaml",
    "cloudquery.yaml" => "cloudquery/cloudquery.yaml",
    "connector/cloudquery-test.yaml" => "cloudquery/connector.yaml",
    "store/synthetic.yaml" => "cloudquery/synthetic.yaml",
    "store/local-db.yaml" => "cloudquery/local-db.yaml",
    "dataset/{{name}}-source.yaml" => "cloudquery/source.yaml",
    "dataset/{{name}}-synced.yaml" => "cloudquery/synced.yaml",
    ".gitignore" => "cloudquery/gitignore",
    ".dkignore" => "cloudquery/gitignore",
];

const README: &[(&str, &str)] = templates!["README.md" => "common/README.md"];

impl ScaffoldOptions {
    fn check(&self) -> Result<(), ScaffoldError> {
        let invalid = |reason: String| ScaffoldError::InvalidName {
            name: self.name.clone(),
            reason,
        };
        if !is_dns_label(&self.name) {
            return Err(invalid(
                "use lowercase letters, digits and '-', starting and ending with a letter or digit"
                    .into(),
            ));
        }
        if self.name.len() > MAX_NAME_LEN {
            return Err(invalid(format!(
                "at most {MAX_NAME_LEN} characters, so that its dataset names stay DNS labels"
            )));
        }
        if !is_dns_label(&self.namespace) {
            return Err(ScaffoldError::InvalidNamespace {
                namespace: self.namespace.clone(),
            });
        }
        if self.mode == Mode::Streaming && !self.runtime.supports_streaming() {
            return Err(ScaffoldError::BatchOnly {
                runtime: self.runtime,
            });
        }
        Ok(())
    }

    /// `{{name}}`-style variables; values for YAML files are quoted where YAML needs it.
    fn variables(&self, yaml: bool) -> Vec<(&'static str, String)> {
        let text = |value: &str| {
            if yaml {
                render_string(value)
            } else {
                value.to_owned()
            }
        };
        let mut snake = self.name.replace('-', "_");
        if snake.starts_with(|c: char| c.is_ascii_digit()) {
            // dbt project names must start with a letter.
            snake.insert_str(0, "dk_");
        }
        let mode_settings = match self.mode {
            Mode::Batch => "  timeout: 30m\n",
            Mode::Streaming => "  replicas: 1\n",
        };
        vec![
            ("name", self.name.clone()),
            ("name_snake", snake),
            ("namespace", self.namespace.clone()),
            ("team", text(&self.team)),
            ("owner", text(&self.owner)),
            ("runtime", self.runtime.to_string()),
            ("mode", self.mode.to_string()),
            ("mode_settings", mode_settings.to_owned()),
        ]
    }
}

fn render(template: &str, variables: &[(&str, String)]) -> String {
    variables
        .iter()
        .fold(template.to_owned(), |text, (key, value)| {
            text.replace(&format!("{{{{{key}}}}}", key = key), value)
        })
}

/// The files of a new package, in the order they are listed to the user.
pub fn plan(options: &ScaffoldOptions) -> Result<Vec<ScaffoldFile>, ScaffoldError> {
    options.check()?;
    let sets: &[&[(&str, &str)]] = match options.runtime {
        Runtime::GenericPython => &[PYTHON, FILE_STORE, README],
        Runtime::GenericGo => &[GO, FILE_STORE, README],
        Runtime::Dbt => &[DBT, README],
        Runtime::Cloudquery => &[CLOUDQUERY, README],
        Runtime::GenericNode => &[NODE, FILE_STORE, README],
        Runtime::GenericJava => &[JAVA, FILE_STORE, README],
        Runtime::Generic => return Err(ScaffoldError::NoScaffold),
    };
    let plain = options.variables(false);
    let quoted = options.variables(true);
    Ok(sets
        .iter()
        .flat_map(|set| set.iter())
        .map(|(path, template)| {
            let is_yaml = path.ends_with(".yaml") || path.ends_with(".yml");
            ScaffoldFile {
                path: render(path, &plain),
                contents: render(template, if is_yaml { &quoted } else { &plain }),
            }
        })
        .collect())
}

/// Writes `files` into `dir`, which must not exist or be empty. The files are written to a
/// staging directory next to `dir` and moved into place at once, so a failure leaves nothing.
pub fn create(dir: &Path, files: &[ScaffoldFile]) -> Result<(), ScaffoldError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ScaffoldError::Io(dk_fs::FsError::Io { path, source })
    };
    let exists = dir.exists();
    if exists && (!dir.is_dir() || std::fs::read_dir(dir).map_err(io(dir))?.next().is_some()) {
        return Err(ScaffoldError::NotEmpty {
            dir: dir.to_owned(),
        });
    }
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let leaf = dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging = parent.join(format!(".{leaf}.dk-init-{}", std::process::id()));
    std::fs::create_dir(&staging).map_err(io(&staging))?;
    let written = (|| {
        for file in files {
            dk_fs::write_atomic_beneath(&staging, Path::new(&file.path), file.contents.as_bytes())?;
        }
        if exists {
            std::fs::remove_dir(dir).map_err(io(dir))?;
        }
        std::fs::rename(&staging, dir).map_err(io(dir))
    })();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(runtime: Runtime, mode: Mode) -> ScaffoldOptions {
        ScaffoldOptions {
            name: "demo".into(),
            runtime,
            mode,
            namespace: "default".into(),
            team: "my-team".into(),
            owner: "@data-team".into(),
        }
    }

    #[test]
    fn every_runtime_has_a_transform_and_no_leftover_placeholders() {
        assert!(matches!(
            plan(&options(Runtime::Generic, Mode::Batch)),
            Err(ScaffoldError::NoScaffold)
        ));
        for runtime in SCAFFOLDED {
            let files = plan(&options(*runtime, Mode::Batch)).unwrap();
            assert_eq!(files[0].path, "dk.yaml");
            for file in &files {
                assert!(!file.path.contains("{{"), "{}", file.path);
                // Scaffold placeholders are `{{name}}`; dbt's Jinja is `{{ expression }}`.
                let leftover = file.contents.match_indices("{{").any(|(i, _)| {
                    file.contents[i + 2..]
                        .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                });
                assert!(!leftover, "{runtime}: {} keeps a placeholder", file.path);
            }
            let manifest = &files[0].contents;
            assert!(
                manifest.contains(&format!("runtime: {runtime}")),
                "{manifest}"
            );
            // An owner starting with `@` must be quoted to stay a YAML string.
            assert!(manifest.contains("owner: \"@data-team\""), "{manifest}");
        }
    }

    #[test]
    fn batch_only_runtimes_refuse_streaming() {
        assert!(matches!(
            plan(&options(Runtime::Dbt, Mode::Streaming)),
            Err(ScaffoldError::BatchOnly {
                runtime: Runtime::Dbt
            })
        ));
        let files = plan(&options(Runtime::GenericPython, Mode::Streaming)).unwrap();
        assert!(files[0].contents.contains("mode: streaming\n"));
        assert!(files[0].contents.contains("replicas: 1\n"));
    }

    #[test]
    fn names_must_be_short_dns_labels() {
        let mut bad = options(Runtime::GenericGo, Mode::Batch);
        bad.name = "My_Pipeline".into();
        assert!(matches!(plan(&bad), Err(ScaffoldError::InvalidName { .. })));
        bad.name = "a".repeat(MAX_NAME_LEN + 1);
        assert!(matches!(plan(&bad), Err(ScaffoldError::InvalidName { .. })));
    }

    #[test]
    fn create_refuses_non_empty_directories_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("demo");
        let files = plan(&options(Runtime::GenericPython, Mode::Batch)).unwrap();
        create(&target, &files).unwrap();
        assert!(target.join("dataset/demo-raw.yaml").is_file());
        assert!(matches!(
            create(&target, &files),
            Err(ScaffoldError::NotEmpty { .. })
        ));
        let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1, "no staging directory is left");
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        create(&empty, &files).unwrap();
        assert!(empty.join("dk.yaml").is_file());
    }
}
