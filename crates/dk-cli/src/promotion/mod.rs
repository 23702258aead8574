//! What `dk gitops`, `dk promote`, `dk rollback` and `dk status` share, none of it a command:
//! the GitOps settings resolved from config, the session they open (a locked working copy and
//! the provider), how dk-gitops errors are reported, the artifact a version stands for
//! ([`artifact`]) and carrying out a promotion plan into its report ([`report`]).

pub mod artifact;
pub mod close;
pub mod report;
pub mod verify;

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::Value;

use dk_config::env::{GITEA_TOKEN, GITHUB_TOKEN, GITLAB_TOKEN};
use dk_gitops::GitOpsError;
use dk_gitops::environments::{Environment, Environments};
use dk_gitops::forge::{Forge, GitForge, GitHubForge, GitLabForge, PullRequest};
use dk_gitops::names;
use dk_gitops::repo::{self, WorkingCopy};

use crate::context::Context;
use crate::error::{CliError, ExitStatus};

// Where a promotion or rollback goes, and whether it only shows the change. (A plain comment:
// clap would take a doc comment for the about text of the commands that flatten it.)
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The cell (a deployment of an environment)
    #[arg(long, default_value = "c0")]
    pub cell: String,
    /// The package's namespace (default: the one its artifact has, else default)
    #[arg(long)]
    pub namespace: Option<String>,
    /// Show the change; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

pub fn gitops_error(what: &str, err: GitOpsError) -> CliError {
    let status = match &err {
        GitOpsError::Invalid(_)
        | GitOpsError::Policy { .. }
        | GitOpsError::BadName { .. }
        | GitOpsError::NeverPushed { .. }
        | GitOpsError::CheckedOut { .. } => ExitStatus::Usage,
        GitOpsError::Forge { .. } | GitOpsError::Git { .. } | GitOpsError::Registry(_) => {
            ExitStatus::External
        }
        GitOpsError::Io { .. }
        | GitOpsError::Fs(_)
        | GitOpsError::Link { .. }
        | GitOpsError::Conflict { .. } => ExitStatus::Failure,
    };
    let hint = match &err {
        GitOpsError::BadName { what, .. } => Some(format!(
            "give the {what} as dk names it (dk status lists packages, environments and cells; versions as built: v1.2.3)"
        )),
        GitOpsError::Link { .. } => Some(
            "replace the link by a real folder in the GitOps repository (git rm it, commit), then run again"
                .to_owned(),
        ),
        GitOpsError::Forge { token_variable, .. } => Some(format!(
            "Promotion PR not created: check {token_variable} / the GitOps repository URL (gitops.repo, gitops.apiUrl)"
        )),
        GitOpsError::Policy { hint, .. } => Some(hint.clone()),
        GitOpsError::NeverPushed { version, .. } => Some(format!(
            "dk publish DIR --tag {version} --registry REGISTRY first; dk promote then pins that push (or give --registry)"
        )),
        GitOpsError::Conflict { branch, .. } => Some(format!(
            "close it (dk promote close {branch}) and promote the version again from what is there now"
        )),
        GitOpsError::Git { .. } => Some(
            "check the GitOps repository URL (dk config get gitops.repo) and your git credentials"
                .to_owned(),
        ),
        _ => None,
    };
    let error = CliError::new(status, what.to_owned()).cause(err);
    match hint {
        Some(hint) => error.hint(hint),
        None => error,
    }
}

/// The configured GitOps setting.
pub struct Settings {
    pub url: String,
    pub base: String,
    provider: String,
    pub environments: Environments,
    pub dk_home: PathBuf,
}

pub fn settings(ctx: &Context) -> Result<Settings, CliError> {
    let config = ctx.config()?;
    let dk_home = ctx.paths()?.dk_home;
    let url = config
        .string("gitops.repo")?
        .unwrap_or_else(|| dk_home.join("gitops").display().to_string());
    let environments = config
        .get("environments")?
        .map(|setting| setting.value)
        .unwrap_or(Value::Null);
    Ok(Settings {
        url,
        base: config
            .string("gitops.baseBranch")?
            .unwrap_or_else(|| "main".into()),
        provider: config
            .string("gitops.provider")?
            .unwrap_or_else(|| "git".into()),
        environments: Environments::from_json(&environments)
            .map_err(|err| gitops_error("bad environments", err))?,
        dk_home,
    })
}

pub fn is_local(url: &str) -> bool {
    !url.contains("://") && !url.contains('@')
}

impl Settings {
    /// The environment `name`, else a usage error naming the GitOps repository and the
    /// environments it has, as `flag` (`--to`, `--env`) takes them.
    pub fn environment(&self, name: &str, flag: &str) -> Result<&Environment, CliError> {
        self.environments.get(name).map_err(|_| {
            let names: Vec<&str> = self
                .environments
                .0
                .iter()
                .map(|e| e.name.as_str())
                .collect();
            let example = names.first().copied().unwrap_or("ENV");
            CliError::usage(format!(
                "`{name}` is not an environment of the GitOps repository {}",
                self.url
            ))
            .hint(format!(
                "its environments are {} (config `environments`): {flag} {example}",
                names.join(", ")
            ))
        })
    }

    fn open(&self) -> Result<WorkingCopy, CliError> {
        if is_local(&self.url) && !Path::new(&self.url).exists() {
            return Err(
                CliError::usage(format!("no GitOps repository at {}", self.url))
                    .hint("dk gitops init creates one (or set gitops.repo to yours)"),
            );
        }
        if is_local(&self.url) {
            repo::check_pushable(Path::new(&self.url), &self.base)
                .map_err(|err| gitops_error("cannot promote into gitops.repo", err))?;
        }
        let key = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(self.url.as_bytes()))
        };
        let dir = self.dk_home.join("cache").join("gitops").join(&key[..16]);
        WorkingCopy::open(&self.url, &dir, &self.base).map_err(|err| {
            gitops_error(
                &format!("cannot reach the GitOps repository {}", self.url),
                err,
            )
        })
    }

    fn forge(&self, ctx: &Context) -> Result<Box<dyn Forge>, CliError> {
        let api = ctx.config()?.string("gitops.apiUrl")?;
        let forge: Box<dyn Forge> = match self.provider.as_str() {
            "git" => Box::new(GitForge),
            "github" | "gitea" => {
                let (variable, default_api) = if self.provider == "github" {
                    (GITHUB_TOKEN, Some("https://api.github.com".to_owned()))
                } else {
                    (GITEA_TOKEN, self.api_on_repo_host("/api/v1"))
                };
                let api = api.or(default_api).ok_or_else(|| {
                    CliError::usage("set gitops.apiUrl to the forge's API base URL")
                })?;
                Box::new(
                    GitHubForge::new(&self.url, &api, forge_token(ctx, variable), variable)
                        .map_err(|err| gitops_error("bad GitOps repository URL", err))?,
                )
            }
            "gitlab" => {
                let api = api
                    .or_else(|| self.api_on_repo_host("/api/v4"))
                    .ok_or_else(|| CliError::usage("set gitops.apiUrl to GitLab's API base URL"))?;
                Box::new(
                    GitLabForge::new(&self.url, &api, forge_token(ctx, GITLAB_TOKEN))
                        .map_err(|err| gitops_error("bad GitOps repository URL", err))?,
                )
            }
            other => {
                return Err(CliError::usage(format!("unknown provider {other}"))
                    .hint("use gitops.provider git, github, gitea or gitlab"));
            }
        };
        Ok(forge)
    }

    /// `<scheme>://<repository host><suffix>`: a self-hosted forge's API beside its repositories.
    fn api_on_repo_host(&self, suffix: &str) -> Option<String> {
        let (scheme, rest) = self.url.split_once("://")?;
        let host = rest.split('/').next()?;
        Some(format!("{scheme}://{host}{suffix}"))
    }
}

/// A forge's token from `variable`, with a warning when it is not set.
fn forge_token(ctx: &Context, variable: &str) -> Option<String> {
    let token = ctx.env.get(variable).map(str::to_owned);
    if token.is_none() {
        ctx.ui.warn(format!(
            "{variable} is not set: the forge will refuse to open pull requests"
        ));
    }
    token
}

/// One command's GitOps repository: its settings, a locked working copy and the provider.
pub struct Session {
    pub settings: Settings,
    pub wc: WorkingCopy,
    pub forge: Box<dyn Forge>,
}

impl Session {
    pub fn open(ctx: &Context) -> Result<Session, CliError> {
        let settings = settings(ctx)?;
        let wc = settings.open()?;
        let forge = settings.forge(ctx)?;
        Ok(Session {
            settings,
            wc,
            forge,
        })
    }

    /// The open promotions (and whatever else the forge lists on dk's branches).
    pub fn list(&self) -> Result<Vec<PullRequest>, CliError> {
        self.forge
            .list(&self.wc)
            .map_err(|err| gitops_error("cannot list promotions", err))
    }
}

/// Checks names given on the command line (`what`, value) before any use: DNS labels, and
/// versions as semver.
pub fn check_names(names: &[(&'static str, Option<&String>)]) -> Result<(), CliError> {
    for (what, value) in names {
        let Some(value) = value else { continue };
        let checked = if *what == "version" {
            names::version(value).map(drop)
        } else {
            names::label(what, value).map(drop)
        };
        checked.map_err(|err| gitops_error(&format!("bad {what}"), err))?;
    }
    Ok(())
}

pub fn check_target(target: &TargetArgs) -> Result<(), CliError> {
    check_names(&[
        ("cell", Some(&target.cell)),
        ("namespace", target.namespace.as_ref()),
    ])
}
