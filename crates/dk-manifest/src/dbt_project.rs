//! What dk reads of a dbt project's `dbt_project.yml`: the profile it runs under and the folders
//! dbt writes into (`target-path`, `log-path`, `packages-install-path`). dk reads dbt's artifacts
//! (`manifest.json`, `catalog.json`, `run_results.json`) where the project puts them, and leaves
//! those folders out of the artifact, whatever they are called.

use std::path::{Component, Path, PathBuf};

use crate::yaml::{Source, parse_document};

pub const FILE: &str = "dbt_project.yml";
/// `dbt_project.yml` is a page of settings; anything larger is not one.
const LIMIT: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum DbtProjectError {
    #[error(transparent)]
    Read(#[from] dk_fs::FsError),
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
}

/// The settings of `dbt_project.yml` dk uses, with dbt's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbtProject {
    /// `profile:`, when the project names one.
    pub profile: Option<String>,
    pub target_path: String,
    pub log_path: String,
    pub packages_install_path: String,
}

impl Default for DbtProject {
    fn default() -> Self {
        DbtProject {
            profile: None,
            target_path: "target".into(),
            log_path: "logs".into(),
            packages_install_path: "dbt_packages".into(),
        }
    }
}

impl DbtProject {
    /// The project of `dir`; `None` when it has no `dbt_project.yml`.
    pub fn read(dir: &Path) -> Result<Option<DbtProject>, DbtProjectError> {
        let path = dir.join(FILE);
        let text = match dk_fs::read_to_string(&path, LIMIT) {
            Ok(text) => text,
            Err(err) if err.io_kind() == Some(std::io::ErrorKind::NotFound) => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        let source = Source::file(&path, text);
        let document = parse_document(&source).map_err(|err| DbtProjectError::Parse {
            path: path.display().to_string(),
            message: err.to_string(),
        })?;
        let setting = |key: &str| {
            document
                .as_ref()
                .and_then(|doc| doc.get(key))
                .and_then(|value| value.as_str())
                .map(str::trim)
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
        };
        let defaults = DbtProject::default();
        Ok(Some(DbtProject {
            profile: setting("profile"),
            target_path: setting("target-path").unwrap_or(defaults.target_path),
            log_path: setting("log-path").unwrap_or(defaults.log_path),
            packages_install_path: setting("packages-install-path")
                .unwrap_or(defaults.packages_install_path),
        }))
    }

    /// The profile dbt runs under: the project's own, so that it runs under dk unedited; `dk`
    /// for a project that names none (dk passes `--profile` and generates that profile).
    pub fn profile_name(&self) -> &str {
        self.profile.as_deref().unwrap_or("dk")
    }

    /// Where dbt writes its artifacts (`manifest.json`, `run_results.json`) for the project in
    /// `dir`; a relative `target-path` is relative to the project, as dbt takes it.
    pub fn target_dir(&self, dir: &Path) -> PathBuf {
        dir.join(&self.target_path)
    }

    /// The folders dbt writes inside the project, as `.gitignore` patterns anchored at the
    /// project (`/target/`); folders outside it (absolute, or through `..`) are not the
    /// artifact's concern.
    pub fn output_patterns(&self) -> Vec<String> {
        [
            &self.target_path,
            &self.log_path,
            &self.packages_install_path,
        ]
        .into_iter()
        .filter_map(|path| {
            let parts: Option<Vec<&str>> = Path::new(path)
                .components()
                .filter(|c| *c != Component::CurDir)
                .map(|c| match c {
                    Component::Normal(part) => part.to_str(),
                    _ => None,
                })
                .collect();
            parts
                .filter(|parts| !parts.is_empty())
                .map(|parts| format!("/{}/", parts.join("/")))
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_and_dbts_defaults() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(DbtProject::read(dir.path()).unwrap(), None);
        std::fs::write(dir.path().join(FILE), "name: shop\n").unwrap();
        let project = DbtProject::read(dir.path()).unwrap().unwrap();
        assert_eq!(project, DbtProject::default());
        assert_eq!(
            project.output_patterns(),
            ["/target/", "/logs/", "/dbt_packages/"]
        );
        std::fs::write(
            dir.path().join(FILE),
            "name: shop\nprofile: shop_analytics\ntarget-path: ./build/dbt\nlog-path: /var/log/dbt\npackages-install-path: ../deps\n",
        )
        .unwrap();
        let project = DbtProject::read(dir.path()).unwrap().unwrap();
        assert_eq!(project.profile.as_deref(), Some("shop_analytics"));
        assert_eq!(
            project.target_dir(dir.path()),
            dir.path().join("./build/dbt")
        );
        assert_eq!(project.output_patterns(), ["/build/dbt/"]);
        std::fs::write(dir.path().join(FILE), "profile: [").unwrap();
        assert!(matches!(
            DbtProject::read(dir.path()),
            Err(DbtProjectError::Parse { path, .. }) if path.ends_with(FILE)
        ));
    }
}
