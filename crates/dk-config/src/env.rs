//! Every environment variable dk reads, declared once.
//!
//! Libraries never read the process environment themselves: the CLI takes a snapshot of exactly
//! these variables ([`Env::capture`]) and hands it down. `docs/configuration.md` lists them; a
//! test keeps that list in step with this table.

use std::collections::BTreeMap;

/// One environment variable dk reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvVar {
    pub name: &'static str,
    /// The config key it sets (in the environment layer), if any.
    pub key: Option<&'static str>,
    pub doc: &'static str,
}

pub const HOME: &str = "HOME";
pub const DK_HOME: &str = "DK_HOME";
pub const DK_SYSTEM_CONFIG: &str = "DK_SYSTEM_CONFIG";
pub const NO_COLOR: &str = "NO_COLOR";
pub const OPENLINEAGE_API_KEY: &str = "OPENLINEAGE_API_KEY";
pub const OPENLINEAGE_URL: &str = "OPENLINEAGE_URL";
pub const DK_RUN_ID: &str = "DK_RUN_ID";
pub const DK_LINEAGE_TOKEN: &str = "DK_LINEAGE_TOKEN";
pub const OPENLINEAGE_PARENT_ID: &str = "OPENLINEAGE_PARENT_ID";
pub const DK_NOW: &str = "DK_NOW";
pub const DK_NOMINAL_TIME: &str = "DK_NOMINAL_TIME";
pub const DK_SCHEDULE: &str = "DK_SCHEDULE";
pub const DK_TIMEZONE: &str = "DK_TIMEZONE";
pub const DK_STORE_OVERRIDES: &str = "DK_STORE_OVERRIDES";
pub const PATH: &str = "PATH";
pub const DK_REGISTRY_USER: &str = "DK_REGISTRY_USER";
pub const DK_REGISTRY_PASSWORD: &str = "DK_REGISTRY_PASSWORD";
pub const DOCKER_CONFIG: &str = "DOCKER_CONFIG";
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";
pub const GITHUB_TOKEN: &str = "GITHUB_TOKEN";
pub const GITEA_TOKEN: &str = "GITEA_TOKEN";
pub const GITLAB_TOKEN: &str = "GITLAB_TOKEN";
pub const ARGOCD_TOKEN: &str = "ARGOCD_TOKEN";
pub const BROWSER: &str = "BROWSER";
pub const KUBERNETES_SERVICE_HOST: &str = "KUBERNETES_SERVICE_HOST";
pub const DK_KEY_PASSWORD: &str = "DK_KEY_PASSWORD";
pub const DK_LINEAGE_STORE: &str = "DK_LINEAGE_STORE";
pub const DK_LINEAGE_SERVER: &str = "DK_LINEAGE_SERVER";
pub const PGPASSWORD: &str = "PGPASSWORD";
pub const PGPASSFILE: &str = "PGPASSFILE";

pub static ENV_VARS: &[EnvVar] = &[
    EnvVar {
        name: DK_HOME,
        key: None,
        doc: "dk's home: user config, local registry, lineage spool, GitOps repo, caches. Default `~/.dk`.",
    },
    EnvVar {
        name: HOME,
        key: None,
        doc: "Used to find `~/.dk` when `DK_HOME` is not set.",
    },
    EnvVar {
        name: DK_SYSTEM_CONFIG,
        key: None,
        doc: "Path of the system config file. Default `/etc/dk/config.yaml`.",
    },
    EnvVar {
        name: "DK_REGISTRY",
        key: Some("registry"),
        doc: "OCI registry to publish to (overrides the `registry` key).",
    },
    EnvVar {
        name: DK_REGISTRY_USER,
        key: None,
        doc: "User for the registry of `dk publish`/`pull`/`inspect`, with `DK_REGISTRY_PASSWORD` (over the Docker config).",
    },
    EnvVar {
        name: DK_REGISTRY_PASSWORD,
        key: None,
        doc: "Password or token for `DK_REGISTRY_USER`. Never printed or stored.",
    },
    EnvVar {
        name: DOCKER_CONFIG,
        key: None,
        doc: "Folder of the Docker config whose `auths`, `credsStore` and `credHelpers` give registry credentials. Default `~/.docker`.",
    },
    EnvVar {
        name: SOURCE_DATE_EPOCH,
        key: None,
        doc: "Seconds since 1970 for every file time in a `dk build` bundle (reproducible builds). Default: the package's last git commit time, else 0.",
    },
    EnvVar {
        name: GITHUB_TOKEN,
        key: None,
        doc: "Token of the `github` GitOps provider (pull requests, labels, reviews, merge). Never printed.",
    },
    EnvVar {
        name: GITEA_TOKEN,
        key: None,
        doc: "Token of the `gitea` GitOps provider. Never printed.",
    },
    EnvVar {
        name: GITLAB_TOKEN,
        key: None,
        doc: "Token of the `gitlab` GitOps provider (sent as `PRIVATE-TOKEN`). Never printed.",
    },
    EnvVar {
        name: ARGOCD_TOKEN,
        key: None,
        doc: "Bearer token for `argocd.server`, read by `dk status`. Never printed.",
    },
    EnvVar {
        name: OPENLINEAGE_URL,
        key: Some("lineage.endpoint"),
        doc: "OpenLineage HTTP endpoint (overrides `lineage.endpoint`), as in the OpenLineage clients.",
    },
    EnvVar {
        name: OPENLINEAGE_API_KEY,
        key: None,
        doc: "Sent as `Authorization: Bearer` to the lineage backend. Never printed or stored.",
    },
    EnvVar {
        name: "OPENLINEAGE_NAMESPACE",
        key: Some("lineage.namespace"),
        doc: "OpenLineage job namespace (overrides `lineage.namespace`), as in the OpenLineage clients.",
    },
    EnvVar {
        name: KUBERNETES_SERVICE_HOST,
        key: None,
        doc: "Set in Kubernetes pods: lineage is delivered before dk exits (`lineage.delivery` unset means `sync`), since nothing outlives the pod.",
    },
    EnvVar {
        name: OPENLINEAGE_PARENT_ID,
        key: None,
        doc: "`<namespace>/<job>/<runId>` of a run that started `dk run` (a scheduler's task): its events nest under it.",
    },
    EnvVar {
        name: DK_LINEAGE_TOKEN,
        key: None,
        doc: "Bearer token `dk lineage serve` requires on every request. Unset: no token (the server listens on loopback).",
    },
    EnvVar {
        name: DK_RUN_ID,
        key: None,
        doc: "Pins the run id of `dk run` (a UUID; tests and replays). Default: a fresh UUIDv7.",
    },
    EnvVar {
        name: DK_NOMINAL_TIME,
        key: None,
        doc: "The time a scheduled run was planned for (RFC 3339), set by a scheduler: the `nominalTime` facet of its events.",
    },
    EnvVar {
        name: DK_SCHEDULE,
        key: None,
        doc: "A CronJob's cron schedule (five fields or `@daily`-style), set by the `dk-app` chart: without `DK_NOMINAL_TIME`, `dk run` takes the latest time it fires not after the run's start as the nominal time.",
    },
    EnvVar {
        name: DK_TIMEZONE,
        key: None,
        doc: "The IANA timezone `DK_SCHEDULE` is read in (the CronJob's `timeZone`). Default `Etc/UTC`.",
    },
    EnvVar {
        name: DK_STORE_OVERRIDES,
        key: None,
        doc: "JSON `{\"<store>\": {\"<key>\": <value>}}`: non-secret connection keys over the Store manifests (the GitOps values' `stores:`, set by the `dk-app` chart). A secret key, a `${VAR}` reference, a template (`{{`, `{%`, `{#`), an unknown store or key is refused.",
    },
    EnvVar {
        name: DK_NOW,
        key: None,
        doc: "Pins the clock of lineage events (RFC 3339; tests). Default: the system clock.",
    },
    EnvVar {
        name: PATH,
        key: None,
        doc: "Where `dk run` and `dk test` find python3, go, dbt, dbt-ol, cloudquery and docker.",
    },
    EnvVar {
        name: NO_COLOR,
        key: None,
        doc: "Any non-empty value turns colour off (https://no-color.org), unless `--color always`.",
    },
    EnvVar {
        name: BROWSER,
        key: None,
        doc: "The browser `dk lineage NAME --open` starts: commands separated by `:`, `%s` standing for the URL (else it is appended). Default: `xdg-open` (`open` on macOS); without one the URL is printed.",
    },
    EnvVar {
        name: "DK_BUILDER_ID",
        key: Some("build.builderId"),
        doc: "The builder id `dk build` writes into its SLSA provenance (`runDetails.builder.id`), e.g. the CI workflow's URI (overrides the `build.builderId` key). Default `local`.",
    },
    EnvVar {
        name: DK_KEY_PASSWORD,
        key: None,
        doc: "Password of encrypted signing keys: `dk key generate` encrypts the new key with it, `dk sign` decrypts. Never printed or stored.",
    },
    EnvVar {
        name: DK_LINEAGE_STORE,
        key: Some("lineage.store"),
        doc: "Where `dk lineage serve` keeps its store (overrides `lineage.store`): a `postgresql://` URL, or a SQLite file.",
    },
    EnvVar {
        name: DK_LINEAGE_SERVER,
        key: Some("lineage.server"),
        doc: "The team lineage server `dk lineage NAME` reads from (overrides `lineage.server`).",
    },
    EnvVar {
        name: PGPASSWORD,
        key: None,
        doc: "Password for a `lineage.store` PostgreSQL URL without one. Never printed.",
    },
    EnvVar {
        name: PGPASSFILE,
        key: None,
        doc: "The `.pgpass` file read for a `lineage.store` PostgreSQL URL without a password. Default `~/.pgpass` (ignored unless mode 0600, as libpq does).",
    },
];

/// A snapshot of the declared variables that are set (and non-empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    values: BTreeMap<&'static str, String>,
}

impl Env {
    /// Captures the declared variables through `lookup` (the CLI passes `std::env::var`).
    pub fn capture(lookup: impl Fn(&str) -> Option<String>) -> Env {
        let values = ENV_VARS
            .iter()
            .filter_map(|var| {
                lookup(var.name)
                    .filter(|value| !value.is_empty())
                    .map(|value| (var.name, value))
            })
            .collect();
        Env { values }
    }

    /// An environment from explicit pairs (tests, embedding). Undeclared names are ignored so
    /// that nothing can depend on a variable the docs do not list.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Env {
        let pairs: BTreeMap<&str, &str> = pairs.into_iter().collect();
        Env::capture(|name| pairs.get(name).map(|value| (*value).to_owned()))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_only_declared_non_empty_variables() {
        let env = Env::from_pairs([("DK_HOME", "/x"), ("NO_COLOR", ""), ("UNRELATED", "1")]);
        assert_eq!(env.get("DK_HOME"), Some("/x"));
        assert_eq!(env.get("NO_COLOR"), None);
        assert_eq!(env.get("UNRELATED"), None);
    }

    #[test]
    fn variable_names_are_unique() {
        let mut names: Vec<_> = ENV_VARS.iter().map(|var| var.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ENV_VARS.len());
    }
}
