//! Where a cluster pulls a promoted artifact from, and what it runs: the registry a promotion
//! pins (given, configured, or recorded by `dk publish`), the refusal of an artifact that was
//! never pushed into a repository a cluster reads, and the workload keys taken from the
//! artifact's own Transform.

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::GitOpsError;

/// The `registry` value of an artifact that is only in the local layout.
pub const LOCAL: &str = "local";

/// A push `dk publish` recorded: `host[:port]`, the repository, the digest pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed<'a> {
    pub host: &'a str,
    pub repository: &'a str,
    pub digest: &'a str,
}

/// Where the promotion's registry comes from, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `--registry`, else the `registry` setting: the digest is asked of that registry.
    Given(String),
    /// A push of this very artifact that `dk publish` recorded: `registry` as the values
    /// write it (`host[/prefix]`) and the digest pushed.
    Published { registry: String, digest: String },
    /// Never pushed: only the machine that built it has it.
    Local,
}

/// The registry of a promotion: `flag`, else `config`, else the latest recorded push of the
/// local artifact (`local_digest`, `namespace/package`), else [`Source::Local`].
pub fn resolve(
    flag: Option<&str>,
    config: Option<&str>,
    pushes: &[Pushed<'_>],
    local_digest: Option<&str>,
    namespace: &str,
    package: &str,
) -> Source {
    if let Some(registry) = flag.or(config) {
        return Source::Given(registry.to_owned());
    }
    let suffix = format!("{namespace}/{package}");
    pushes
        .iter()
        .rev()
        .filter(|push| Some(push.digest) == local_digest)
        .find_map(|push| {
            // publish names the repository `[prefix/]namespace/package`; the values keep the
            // registry as `host[/prefix]`, as `--registry` takes it.
            let registry = if push.repository == suffix {
                push.host.to_owned()
            } else {
                let prefix = push.repository.strip_suffix(&format!("/{suffix}"))?;
                format!("{}/{prefix}", push.host)
            };
            Some(Source::Published {
                registry,
                digest: push.digest.to_owned(),
            })
        })
        .unwrap_or(Source::Local)
}

/// Whether `repo` (the `gitops.repo` setting) is the embedded default, `$DK_HOME/gitops`: the
/// only repository no cluster reads, where an artifact that was never pushed may go.
pub fn is_embedded(repo: &str, dk_home: &Path) -> bool {
    let default = dk_home.join("gitops");
    if repo.contains("://") || repo.contains('@') {
        return false;
    }
    let canonical = |path: &Path| std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    canonical(Path::new(repo)) == canonical(&default)
}

/// Refuses a never-pushed artifact unless the GitOps repository is the embedded default.
pub fn check_local(
    embedded: bool,
    repo: &str,
    package: &str,
    version: &str,
) -> Result<(), GitOpsError> {
    if embedded {
        return Ok(());
    }
    Err(GitOpsError::NeverPushed {
        package: package.to_owned(),
        version: version.to_owned(),
        repo: repo.to_owned(),
    })
}

/// The values keys a package's Transform decides: `mode`, `schedule` (`cron`, `timezone`,
/// `suspend`), `image`, `replicas`, `resources`. `None` when the artifact's manifests hold no
/// Transform (it is not in the local layout, say): then the values keep what they have.
pub fn workload(files: &[(String, String)]) -> Option<Map<String, Value>> {
    let transform = files.iter().find_map(|(_, text)| {
        let value: Value = serde_saphyr::from_str(text).ok()?;
        (value["kind"] == "Transform").then_some(value)
    })?;
    let spec = &transform["spec"];
    let mut keys = Map::new();
    keys.insert(
        "mode".into(),
        spec.get("mode").cloned().unwrap_or_else(|| json!("batch")),
    );
    let schedule = spec
        .get("schedule")
        .or_else(|| spec["trigger"].get("schedule"))
        .filter(|s| s["cron"].is_string());
    keys.insert(
        "schedule".into(),
        schedule.map_or(Value::Null, |s| {
            json!({
                "cron": s["cron"],
                // The chart passes it to the CronJob and to dk run, which read an unset zone as UTC.
                "timezone": s.get("timezone").cloned().unwrap_or_else(|| json!("UTC")),
                "suspend": s["suspend"].as_bool().unwrap_or(false),
            })
        }),
    );
    for key in ["image", "replicas", "resources"] {
        keys.insert(key.into(), spec.get(key).cloned().unwrap_or(Value::Null));
    }
    Some(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:aa";

    fn push<'a>(host: &'a str, repository: &'a str, digest: &'a str) -> Pushed<'a> {
        Pushed {
            host,
            repository,
            digest,
        }
    }

    #[test]
    fn the_flag_wins_then_the_setting_then_the_record() {
        let pushes = [push("r.io", "team/ns/pkg", DIGEST)];
        let resolve = |flag, config| resolve(flag, config, &pushes, Some(DIGEST), "ns", "pkg");
        assert_eq!(
            resolve(Some("a.io"), Some("b.io")),
            Source::Given("a.io".into())
        );
        assert_eq!(resolve(None, Some("b.io")), Source::Given("b.io".into()));
        assert_eq!(
            resolve(None, None),
            Source::Published {
                registry: "r.io/team".into(),
                digest: DIGEST.into()
            }
        );
    }

    #[test]
    fn a_record_of_other_content_or_another_name_is_not_a_push_of_this_artifact() {
        let pushes = [
            push("r.io", "ns/pkg", "sha256:bb"),
            push("r.io", "other/thing", DIGEST),
        ];
        assert_eq!(
            resolve(None, None, &pushes, Some(DIGEST), "ns", "pkg"),
            Source::Local
        );
        let pushes = [push("r.io:5000", "ns/pkg", DIGEST)];
        assert_eq!(
            resolve(None, None, &pushes, Some(DIGEST), "ns", "pkg"),
            Source::Published {
                registry: "r.io:5000".into(),
                digest: DIGEST.into()
            }
        );
    }

    #[test]
    fn only_the_embedded_default_takes_a_never_pushed_artifact() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join("gitops")).unwrap();
        let default = home.path().join("gitops").display().to_string();
        assert!(is_embedded(&default, home.path()));
        assert!(is_embedded(&format!("{default}/"), home.path()));
        assert!(!is_embedded(&format!("file://{default}"), home.path()));
        assert!(!is_embedded("/elsewhere/gitops", home.path()));
        assert!(check_local(true, &default, "p", "v1.0.0").is_ok());
        let refused = check_local(false, "https://git.example/g", "p", "v1.0.0").unwrap_err();
        assert!(refused.to_string().contains("never pushed"), "{refused}");
    }

    #[test]
    fn the_workload_comes_from_the_transform() {
        let files = [
            ("dataset.yaml".to_owned(), "kind: DataSet\nmetadata: {name: d}\n".to_owned()),
            (
                "dk.yaml".to_owned(),
                "kind: Transform\nspec:\n  mode: batch\n  schedule: {cron: '0 2 * * *'}\n  resources: {memory: 1Gi}\n".to_owned(),
            ),
        ];
        let keys = workload(&files).unwrap();
        assert_eq!(keys["mode"], "batch");
        assert_eq!(
            keys["schedule"],
            json!({"cron": "0 2 * * *", "timezone": "UTC", "suspend": false})
        );
        assert_eq!(keys["resources"], json!({"memory": "1Gi"}));
        assert_eq!(keys["image"], Value::Null);
        assert!(workload(&files[..1]).is_none());
    }
}
