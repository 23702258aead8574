//! The configuration keys dk knows: their types, defaults and meaning, declared once.
//!
//! A key pattern is a dotted path; `*` stands for one name chosen by the user (a chart name) and
//! a final `**` for a free-form subtree (Helm values).

use serde_json::Value as Json;

use dk_manifest::suggest::did_you_mean;
use dk_manifest::units::parse_duration;
use dk_manifest::yaml;

/// What a key holds, which decides how `dk config set KEY VALUE` reads VALUE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Taken literally: `25.2.0` and `1.0` stay strings.
    String,
    Bool,
    /// A duration such as `2s`, `500ms`, `5m`, `1h`.
    Duration,
    /// A TCP port, 1 to 65535.
    Port,
    /// One of a fixed set of names.
    Choice(&'static [&'static str]),
    /// Any YAML value (lists of environments, Helm values): `1Gi` is a string, `3` a number.
    Yaml,
}

impl ValueKind {
    pub fn describe(self) -> String {
        match self {
            ValueKind::String => "string".into(),
            ValueKind::Bool => "boolean".into(),
            ValueKind::Duration => "duration".into(),
            ValueKind::Port => "port".into(),
            ValueKind::Choice(names) => format!("one of {}", names.join(", ")),
            ValueKind::Yaml => "YAML value".into(),
        }
    }
}

/// The services of the dev stack, the names of `dev.services.<name>` (dk-devstack's catalogue
/// checks that it agrees).
pub const DEV_SERVICES: &[&str] = &["postgres", "s3", "kafka", "lineage"];
/// The services with a web UI (`dev.services.<name>.webPort`).
pub const DEV_WEB_SERVICES: &[&str] = &["s3", "lineage"];
/// The built-in charts of the dev stack: the images of the compose runtime and the Helm charts of
/// the k3d runtime. Any other name under `dev.charts` is a custom service.
pub const DEV_CHARTS: &[&str] = &[
    "redpanda",
    "minio",
    "mc",
    "postgres",
    "marquez",
    "marquez-web",
];

/// Which names the `*` of a key pattern takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    Any,
    /// These and no others.
    Only(&'static [&'static str]),
    /// These, and any other name that is not a typo of one of them (a custom chart).
    Known(&'static [&'static str]),
    /// Any name that is neither one of these nor a typo of one (keys only custom charts have).
    Custom(&'static [&'static str]),
}

impl Names {
    /// Whether `name` fills the `*`; else the known name it is a typo of, if any.
    pub fn admits(self, name: &str) -> Result<(), Option<&'static str>> {
        let typo = |names: &'static [&'static str]| did_you_mean(name, names.iter().copied());
        match self {
            Names::Any => Ok(()),
            Names::Only(names) | Names::Known(names) if names.contains(&name) => Ok(()),
            Names::Only(names) => Err(typo(names)),
            Names::Custom(names) if names.contains(&name) => Err(None),
            Names::Known(names) | Names::Custom(names) => {
                typo(names).map_or(Ok(()), |known| Err(Some(known)))
            }
        }
    }
}

/// One configuration key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    pub pattern: &'static str,
    /// The names its `*` takes.
    pub names: Names,
    pub kind: ValueKind,
    /// Built-in value, as YAML text.
    pub default: Option<&'static str>,
    pub doc: &'static str,
}

pub static KEYS: &[KeySpec] = &[
    KeySpec {
        names: Names::Any,
        pattern: "registry",
        kind: ValueKind::String,
        default: None,
        doc: "OCI registry `dk publish` pushes to, e.g. `ghcr.io/my-org`. Unset: the local OCI layout in `$DK_HOME/registry`.",
    },
    KeySpec {
        names: Names::Any,
        pattern: "lineage.backend",
        kind: ValueKind::Choice(&["marquez", "datahub", "openmetadata", "http", "file"]),
        default: None,
        doc: "Where OpenLineage events go besides the local spool and lineage store: the API path of a backend under `lineage.endpoint`, a custom `http` URL, or a `file` of JSON lines. Unset with an endpoint: marquez.",
    },
    KeySpec {
        names: Names::Any,
        pattern: "lineage.endpoint",
        kind: ValueKind::String,
        default: None,
        doc: "URL of the lineage backend, e.g. `http://localhost:5000` for Marquez.",
    },
    KeySpec {
        names: Names::Any,
        pattern: "lineage.namespace",
        kind: ValueKind::String,
        default: None,
        doc: "OpenLineage job namespace of runs. A Transform's `spec.lineage.namespace` wins; unset: its `metadata.namespace`.",
    },
    KeySpec {
        names: Names::Any,
        pattern: "lineage.timeout",
        kind: ValueKind::Duration,
        default: Some("2s"),
        doc: "How long synchronous delivery waits at the end of a run before leaving events spooled; bounds each round of the background deliverer.",
    },
    KeySpec {
        names: Names::Any,
        pattern: "lineage.delivery",
        kind: ValueKind::Choice(&["background", "sync"]),
        default: None,
        doc: "`background`: deliver in line within `lineage.inlineBudget`, then hand what is pending to a detached deliverer. `sync`: wait up to `lineage.timeout`. Unset: `sync` when `KUBERNETES_SERVICE_HOST` is set (nothing outlives a pod), else `background`.",
    },
    KeySpec {
        names: Names::Any,
        pattern: "lineage.inlineBudget",
        kind: ValueKind::Duration,
        default: Some("250ms"),
        doc: "How long a command delivers lineage in line before the background deliverer takes over.",
    },
    KeySpec {
        names: Names::Any,
        pattern: "lineage.store",
        kind: ValueKind::String,
        default: None,
        doc: "Where `dk lineage serve` keeps its store: a `postgresql://USER@HOST:PORT/DATABASE` URL (a team server; several replicas may share it; the password from `PGPASSWORD` or `~/.pgpass`, or in the URL, never printed), or a SQLite file. Unset: `$DK_HOME/lineage/lineage.db`.",
    },
    KeySpec {
        names: Names::Any,
        pattern: "lineage.server",
        kind: ValueKind::String,
        default: None,
        doc: "URL of the team's `dk lineage serve` that `dk lineage NAME` reads from (one graph for the team); events still go to `lineage.endpoint`. Unset: the local store.",
    },
    KeySpec {
        names: Names::Any,
        pattern: "gitops.repo",
        kind: ValueKind::String,
        default: None,
        doc: "GitOps repository (URL or path). Unset: `$DK_HOME/gitops`.",
    },
    KeySpec {
        names: Names::Any,
        pattern: "gitops.provider",
        kind: ValueKind::Choice(&["git", "github", "gitea", "gitlab"]),
        default: Some("git"),
        doc: "How pull requests are opened: `git` (branches, approvals as SSH-signed commits checked against `.dk/allowed_signers`, merged by dk), `github` or `gitea` (their REST API; token in `GITHUB_TOKEN`/`GITEA_TOKEN`), `gitlab` (merge requests and approvals; `GITLAB_TOKEN`).",
    },
    KeySpec {
        names: Names::Any,
        pattern: "gitops.baseBranch",
        kind: ValueKind::String,
        default: Some("main"),
        doc: "Branch promotions target.",
    },
    KeySpec {
        names: Names::Any,
        pattern: "gitops.apiUrl",
        kind: ValueKind::String,
        default: None,
        doc: "Forge API base URL, for GitHub Enterprise and self-hosted Gitea/GitLab.",
    },
    KeySpec {
        names: Names::Any,
        pattern: "argocd.server",
        kind: ValueKind::String,
        default: None,
        doc: "Argo CD API base URL (`https://argocd.example.com`): `dk status` reads each app's sync and health from it, with `ARGOCD_TOKEN`. Unset: status from the GitOps repository.",
    },
    KeySpec {
        names: Names::Any,
        pattern: "environments",
        kind: ValueKind::Yaml,
        default: Some(
            "[{name: dev, approvals: 0, autoMerge: true}, {name: int, approvals: 1, requires: dev}, {name: prod, approvals: 2, requires: int}]",
        ),
        doc: "Promotion environments in order, with the approvals each needs.",
    },
    KeySpec {
        names: Names::Any,
        pattern: "run.executor",
        kind: ValueKind::Choice(&["local", "docker"]),
        default: Some("local"),
        doc: "Where `dk run` runs pipelines: local processes or containers (Docker or Podman).",
    },
    KeySpec {
        names: Names::Any,
        pattern: "run.engine",
        kind: ValueKind::Choice(&["docker", "podman"]),
        default: None,
        doc: "Container engine of the docker executor. Unset: Docker when its daemon answers, else Podman when installed.",
    },
    KeySpec {
        names: Names::Any,
        pattern: "runtime.images.*",
        kind: ValueKind::String,
        default: None,
        doc: "Image a runtime's packages run in under the docker executor when `spec.image` is unset, e.g. `runtime.images.generic-node`. Defaults: docs/runtime-contract.md.",
    },
    KeySpec {
        names: Names::Any,
        pattern: "build.builderId",
        kind: ValueKind::String,
        default: None,
        doc: "The builder id of the SLSA provenance `dk build` writes, e.g. `https://github.com/org/repo/.github/workflows/build.yml@refs/heads/main` in CI. Unset: `local`, which claims nothing.",
    },
    KeySpec {
        names: Names::Any,
        pattern: "publish.chunked",
        kind: ValueKind::Bool,
        default: Some("false"),
        doc: "Upload blobs in 4 MiB chunks (for registries behind proxies that limit request bodies). Default: one request per blob.",
    },
    KeySpec {
        names: Names::Any,
        pattern: "pull.maxExpansion",
        kind: ValueKind::Yaml,
        default: Some("100"),
        doc: "How many bytes a pulled layer may unpack to per compressed byte; more is refused as a decompression bomb.",
    },
    KeySpec {
        names: Names::Any,
        pattern: "pull.maxBytes",
        kind: ValueKind::Yaml,
        default: Some("8589934592"),
        doc: "Bytes a pull may download per layer and unpack in all (8 GiB).",
    },
    KeySpec {
        names: Names::Any,
        pattern: "dev.runtime",
        kind: ValueKind::Choice(&["native", "compose", "k3d"]),
        default: None,
        doc: "Dev stack runtime. Unset: the one of the last `dk dev up`, else compose when a Docker engine and its compose plugin answer, else native.",
    },
    KeySpec {
        names: Names::Only(DEV_SERVICES),
        pattern: "dev.services.*.port",
        kind: ValueKind::Port,
        default: None,
        doc: "Port of a dev stack service: `postgres` (5432), `s3` (9000), `kafka` (9092), `lineage` (5000). Another name is refused.",
    },
    KeySpec {
        names: Names::Only(DEV_WEB_SERVICES),
        pattern: "dev.services.*.webPort",
        kind: ValueKind::Port,
        default: None,
        doc: "Port of a service's web UI: `s3` console (9001, the minio and compose consoles), `lineage` web (3000: dk's lineage web UI with the native runtime, Marquez's web UI with compose and k3d).",
    },
    KeySpec {
        names: Names::Known(DEV_CHARTS),
        pattern: "dev.charts.*.version",
        kind: ValueKind::String,
        default: None,
        doc: "Version of a dev stack chart: the image tag of `redpanda`, `minio`, `mc`, `postgres`, `marquez` or `marquez-web` (compose and k3d runtimes); of a custom service, its image tag (compose) or chart version (k3d). A typo of a built-in chart is refused.",
    },
    KeySpec {
        names: Names::Known(DEV_CHARTS),
        pattern: "dev.charts.*.values.**",
        kind: ValueKind::Yaml,
        default: None,
        doc: "Helm values of a dev stack chart (`postgres`, `minio`, `redpanda`, `marquez`, or a custom service's chart) in the k3d runtime, e.g. `dev.charts.postgres.values.primary.resources.limits.memory`.",
    },
    KeySpec {
        names: Names::Custom(DEV_CHARTS),
        pattern: "dev.charts.*.image",
        kind: ValueKind::String,
        default: None,
        doc: "Image of a custom dev stack service, run by the compose runtime beside the built-in ones, e.g. `dev.charts.mailpit.image axllent/mailpit:v1.21`. Any name but a built-in chart's (or a typo of one) is a custom service; it needs `image` (compose) or `chart` (k3d).",
    },
    KeySpec {
        names: Names::Custom(DEV_CHARTS),
        pattern: "dev.charts.*.chart",
        kind: ValueKind::String,
        default: None,
        doc: "Helm chart of a custom dev stack service, installed by the k3d runtime after the built-in ones with its `values`: a chart folder, `repo/chart` or `oci://` reference.",
    },
];

/// Why a key or value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("unknown config key `{key}`")]
    Unknown {
        key: String,
        suggestion: Option<String>,
    },
    #[error("`{key}` is a section; set one of its keys: {}", keys.join(", "))]
    Section { key: String, keys: Vec<String> },
    #[error("invalid value for `{key}`: {reason}")]
    Value { key: String, reason: String },
}

impl KeyError {
    pub fn suggestion(&self) -> Option<&str> {
        match self {
            KeyError::Unknown { suggestion, .. } => suggestion.as_deref(),
            _ => None,
        }
    }
}

/// How a dotted key relates to the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    Key(&'static KeySpec),
    /// A strict prefix of one or more keys (`lineage`, `dev.charts`).
    Section,
    Unknown,
}

fn matches_prefix(spec: &KeySpec, key: &[&str]) -> Option<bool> {
    // Some(true): key is the pattern (or inside its `**`); Some(false): key is a prefix.
    let pattern: Vec<&str> = spec.pattern.split('.').collect();
    for (index, segment) in key.iter().enumerate() {
        match pattern.get(index) {
            Some(&"**") => return Some(true),
            Some(&"*") if spec.names.admits(segment).is_ok() => {}
            Some(expected) if expected == segment => {}
            _ => return None,
        }
    }
    match pattern.get(key.len()) {
        None => Some(true),
        Some(_) => Some(false),
    }
}

/// Looks a dotted key up in the table.
pub fn lookup(key: &[&str]) -> Match {
    let mut section = false;
    for spec in KEYS {
        match matches_prefix(spec, key) {
            Some(true)
                if !spec.pattern.ends_with("**")
                    || key.len() >= spec.pattern.split('.').count() =>
            {
                return Match::Key(spec);
            }
            Some(_) => section = true,
            None => {}
        }
    }
    if section {
        Match::Section
    } else {
        Match::Unknown
    }
}

/// The keys under a section, for messages.
fn keys_under(key: &[&str]) -> Vec<String> {
    KEYS.iter()
        .filter(|spec| matches_prefix(spec, key) == Some(false))
        .map(|spec| spec.pattern.to_owned())
        .collect()
}

/// Checks that `key` names a settable key.
pub fn spec_for(key: &str) -> Result<&'static KeySpec, KeyError> {
    let parts: Vec<&str> = key.split('.').collect();
    match lookup(&parts) {
        Match::Key(spec) => Ok(spec),
        Match::Section => Err(KeyError::Section {
            key: key.to_owned(),
            keys: keys_under(&parts),
        }),
        Match::Unknown => Err(KeyError::Unknown {
            key: key.to_owned(),
            suggestion: suggest_key(&parts),
        }),
    }
}

/// The closest known key other than `parts` itself: a known key that `parts` is the end of
/// (`lineage.webPort` for `dev.services.lineage.webPort`), else the nearest key with the user's
/// own names put in place of `*` (or the known name they are a typo of), else the key with its
/// first part's typo fixed.
pub fn suggest_key(parts: &[&str]) -> Option<String> {
    let key = parts.join(".");
    let valid = |candidate: &str| {
        candidate != key
            && matches!(
                lookup(&candidate.split('.').collect::<Vec<_>>()),
                Match::Key(_)
            )
    };
    let mut tails = KEYS.iter().filter_map(|spec| {
        let pattern: Vec<&str> = spec.pattern.split('.').collect();
        let start = pattern
            .len()
            .checked_sub(parts.len())
            .filter(|start| *start > 0)?;
        let (head, tail) = pattern.split_at(start);
        // The end must name something itself, not be only names of the user's.
        let literal = tail.iter().any(|segment| !segment.starts_with('*'));
        (literal && !head.contains(&"*") && !tail.contains(&"**"))
            .then(|| [head, parts].concat().join("."))
    });
    if let Some(found) = tails.find(|candidate| valid(candidate)) {
        return Some(found);
    }
    let candidates: Vec<String> = KEYS
        .iter()
        .map(|spec| {
            spec.pattern
                .split('.')
                .enumerate()
                .map(|(index, segment)| match segment {
                    "*" => {
                        let name = parts.get(index).copied().unwrap_or("NAME");
                        match spec.names.admits(name) {
                            Err(Some(known)) => known,
                            _ => name,
                        }
                        .to_owned()
                    }
                    "**" => parts
                        .get(index..)
                        .filter(|rest| !rest.is_empty())
                        .map_or("KEY".to_owned(), |rest| rest.join(".")),
                    other => other.to_owned(),
                })
                .collect::<Vec<_>>()
                .join(".")
        })
        .filter(|candidate| valid(candidate))
        .collect();
    // Whole keys first; a misspelt section is suggested on its own.
    if let Some(found) = did_you_mean(&key, candidates.iter().map(String::as_str)) {
        return Some(found.to_owned());
    }
    let sections: Vec<&str> = KEYS
        .iter()
        .map(|spec| spec.pattern.split('.').next().unwrap_or_default())
        .collect();
    did_you_mean(parts.first().copied().unwrap_or_default(), sections)
        .map(|section| [&[section], &parts[1..]].concat().join("."))
        .filter(|candidate| valid(candidate))
}

/// Reads a command-line value for `key` according to its kind.
pub fn parse_value(key: &str, spec: &KeySpec, text: &str) -> Result<Json, KeyError> {
    let invalid = |reason: String| KeyError::Value {
        key: key.to_owned(),
        reason,
    };
    match spec.kind {
        ValueKind::String => Ok(Json::String(text.to_owned())),
        ValueKind::Bool => match text {
            "true" => Ok(Json::Bool(true)),
            "false" => Ok(Json::Bool(false)),
            _ => Err(invalid(format!("expected true or false, found `{text}`"))),
        },
        ValueKind::Duration => {
            parse_duration(text).map_err(invalid)?;
            Ok(Json::String(text.to_owned()))
        }
        ValueKind::Port => port(text).map(Json::from).map_err(invalid),
        ValueKind::Choice(names) => {
            if names.contains(&text) {
                Ok(Json::String(text.to_owned()))
            } else {
                let hint = did_you_mean(text, names.iter().copied())
                    .map(|name| format!(" (did you mean `{name}`?)"))
                    .unwrap_or_default();
                Err(invalid(format!(
                    "expected one of {}, found `{text}`{hint}",
                    names.join(", ")
                )))
            }
        }
        ValueKind::Yaml => {
            let source =
                yaml::Source::new(yaml::Origin::Flag(format!("dk config set {key}")), text);
            match yaml::parse_document(&source) {
                Ok(Some(node)) => Ok(node.to_json()),
                Ok(None) => Ok(Json::Null),
                Err(err) => Err(invalid(err.message)),
            }
        }
    }
}

/// A port number, 1 to 65535.
fn port(text: &str) -> Result<u16, String> {
    text.parse::<u16>()
        .ok()
        .filter(|port| *port > 0)
        .ok_or_else(|| format!("expected a port (1-65535), found `{text}`"))
}

/// Checks a value read from a config file against `spec`, normalising it (a string key keeps a
/// number's literal text).
pub fn check_node(spec: &KeySpec, node: &yaml::Node) -> Result<Json, String> {
    let text = node.as_str();
    match spec.kind {
        ValueKind::Yaml => Ok(node.to_json()),
        ValueKind::String => match (&node.value, text) {
            (yaml::Value::Scalar(_), Some(text)) => Ok(Json::String(text.to_owned())),
            _ => Err(format!("expected a string, found {}", node.kind_name())),
        },
        ValueKind::Bool => match node.to_json() {
            Json::Bool(b) => Ok(Json::Bool(b)),
            _ => Err(format!(
                "expected true or false, found {}",
                node.kind_name()
            )),
        },
        ValueKind::Duration => {
            let text = text.ok_or_else(|| {
                format!("expected a duration such as 2s, found {}", node.kind_name())
            })?;
            parse_duration(text)?;
            Ok(Json::String(text.to_owned()))
        }
        ValueKind::Port => match &node.value {
            yaml::Value::Scalar(_) => port(text.unwrap_or_default()).map(Json::from),
            _ => Err(format!(
                "expected a port (1-65535), found {}",
                node.kind_name()
            )),
        },
        ValueKind::Choice(names) => match text {
            Some(text) if names.contains(&text) => Ok(Json::String(text.to_owned())),
            _ => Err(format!(
                "expected one of {}, found {}",
                names.join(", "),
                text.map_or_else(|| node.kind_name().to_owned(), |t| format!("`{t}`"))
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(key: &str) -> Vec<&str> {
        key.split('.').collect()
    }

    #[test]
    fn keys_sections_and_wildcards() {
        assert!(matches!(lookup(&parts("registry")), Match::Key(_)));
        assert!(matches!(
            lookup(&parts("dev.charts.redpanda.version")),
            Match::Key(_)
        ));
        assert!(matches!(
            lookup(&parts("dev.charts.postgres.values.primary.resources.limits.memory")),
            Match::Key(spec) if spec.pattern == "dev.charts.*.values.**"
        ));
        assert_eq!(lookup(&parts("dev.charts.postgres.values")), Match::Section);
        assert_eq!(lookup(&parts("lineage")), Match::Section);
        assert_eq!(lookup(&parts("registry.x")), Match::Unknown);
        assert_eq!(lookup(&parts("regsitry")), Match::Unknown);
    }

    #[test]
    fn unknown_keys_get_suggestions() {
        let err = spec_for("regsitry").unwrap_err();
        assert_eq!(err.suggestion(), Some("registry"));
        assert_eq!(
            spec_for("lineage.endpiont").unwrap_err().suggestion(),
            Some("lineage.endpoint")
        );
        assert_eq!(
            spec_for("dev.charts.redpanda.verison")
                .unwrap_err()
                .suggestion(),
            Some("dev.charts.redpanda.version")
        );
        assert_eq!(
            spec_for("linage.endpoint").unwrap_err().suggestion(),
            Some("lineage.endpoint")
        );
        let err = spec_for("lineage").unwrap_err();
        assert!(err.to_string().contains("lineage.endpoint"), "{err}");
    }

    #[test]
    fn map_keys_refuse_typos_of_known_names_with_a_suggestion() {
        let unknown = |key: &str| match spec_for(key) {
            Err(KeyError::Unknown { suggestion, .. }) => suggestion,
            other => panic!("{key}: {other:?}"),
        };
        assert_eq!(
            unknown("dev.services.kafak.port").as_deref(),
            Some("dev.services.kafka.port")
        );
        assert_eq!(
            unknown("dev.charts.redpnda.version").as_deref(),
            Some("dev.charts.redpanda.version")
        );
        assert_eq!(unknown("dev.services.mailpit.port"), None);
        assert_eq!(
            unknown("dev.services.kafka.webPort").as_deref(),
            Some("dev.services.kafka.port")
        );
        assert_eq!(
            unknown("dev.charts.redpanda.image").as_deref(),
            Some("dev.charts.redpanda.version"),
            "a built-in chart has a version, not an image"
        );
        assert_eq!(lookup(&parts("dev.services.kafak")), Match::Unknown);
        // A custom service: any name that is not a typo of a built-in one.
        for key in [
            "dev.charts.mailpit.image",
            "dev.charts.mailpit.chart",
            "dev.charts.mailpit.version",
            "dev.charts.mailpit.values.replicas",
        ] {
            assert!(spec_for(key).is_ok(), "{key}");
        }
    }

    #[test]
    fn a_suggestion_is_never_the_key_that_failed() {
        assert_eq!(
            spec_for("lineage.webPort").unwrap_err().suggestion(),
            Some("dev.services.lineage.webPort")
        );
        assert_eq!(
            spec_for("kafka.port").unwrap_err().suggestion(),
            Some("dev.services.kafka.port")
        );
        for key in ["lineage.x", "dev.services.nope.port", "lineage.webPort"] {
            let parts = parts(key);
            assert_ne!(suggest_key(&parts).as_deref(), Some(key));
        }
    }

    #[test]
    fn ports_are_checked_for_map_keys_too() {
        let port = spec_for("dev.services.postgres.port").unwrap();
        let err = parse_value("dev.services.postgres.port", port, "abc").unwrap_err();
        assert!(err.to_string().contains("expected a port"), "{err}");
        assert!(parse_value("k", port, "0").is_err());
        assert!(parse_value("k", port, "65536").is_err());
        assert_eq!(parse_value("k", port, "15432").unwrap(), Json::from(15432));
        let source = yaml::Source::new(yaml::Origin::Builtin, "abc");
        let node = yaml::parse_document(&source).unwrap().unwrap();
        assert!(check_node(port, &node).is_err());
    }

    #[test]
    fn values_are_read_by_kind() {
        let version = spec_for("dev.charts.redpanda.version").unwrap();
        assert_eq!(
            parse_value("k", version, "25.2.0").unwrap(),
            Json::from("25.2.0")
        );
        assert_eq!(parse_value("k", version, "1.0").unwrap(), Json::from("1.0"));
        let values = spec_for("dev.charts.postgres.values.a.b").unwrap();
        assert_eq!(parse_value("k", values, "1Gi").unwrap(), Json::from("1Gi"));
        assert_eq!(parse_value("k", values, "3").unwrap(), Json::from(3));
        let provider = spec_for("gitops.provider").unwrap();
        let err = parse_value("gitops.provider", provider, "gihub").unwrap_err();
        assert!(err.to_string().contains("did you mean `github`"), "{err}");
        let timeout = spec_for("lineage.timeout").unwrap();
        assert!(parse_value("k", timeout, "2 seconds").is_err());
    }

    #[test]
    fn every_default_is_valid_for_its_key() {
        for spec in KEYS {
            if let Some(default) = spec.default {
                let source = yaml::Source::new(yaml::Origin::Builtin, default);
                let node = yaml::parse_document(&source).unwrap().unwrap();
                check_node(spec, &node).unwrap_or_else(|err| panic!("{}: {err}", spec.pattern));
            }
        }
    }
}
