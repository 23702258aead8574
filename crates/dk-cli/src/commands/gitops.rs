//! `dk gitops init`, `dk promote`, `dk rollback`, `dk status`: GitOps promotion through pull
//! requests (DESIGN §7), on the zero-infrastructure `git` provider or a forge.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::Value;

use dk_config::env::{ARGOCD_TOKEN, GITEA_TOKEN, GITHUB_TOKEN, GITLAB_TOKEN};
use dk_gitops::GitOpsError;
use dk_gitops::environments::{Environments, join_names};
use dk_gitops::forge::{BRANCH_PREFIX, Forge, GitForge, GitHubForge, GitLabForge, PullRequest};
use dk_gitops::names;
use dk_gitops::promotion::{self, Change, Opened};
use dk_gitops::repo::{self, WorkingCopy, values_path};
use dk_gitops::source::{self, Pushed, Source};
use dk_gitops::values::{self, Release};
use dk_package::layout::Descriptor;
use dk_package::reference::{RemoteRef, split_registry};

use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::output::{Render, Ui, table, write_table};

/// The GitOps repository
#[derive(Debug, Subcommand)]
pub enum GitOpsCommand {
    Init(InitArgs),
}

/// Create the GitOps repository: envs/<env>/cells/<cell>/apps, the dk-app chart, the Argo CD ApplicationSet
#[derive(Debug, Args)]
#[command(after_help = "\
Without PATH: $DK_HOME/gitops, a bare repository promotions push to (provider git), so
promotion works with nothing else installed (git clone it to look inside). With PATH: a normal
repository to push to your forge; then point gitops.repo at it.

Examples:
  dk gitops init
  dk gitops init ./gitops && dk config set gitops.repo $(pwd)/gitops")]
pub struct InitArgs {
    /// Where to create it (default: gitops.repo when it is a path, else $DK_HOME/gitops)
    pub path: Option<PathBuf>,
}

/// Promote a published version to an environment through a pull request
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "\
Writes envs/ENV/cells/CELL/apps/PKG/values.yaml (appVersion, digest, registry, and the
artifact's mode, schedule, image, replicas, resources; your keys and comments stay), commits it on a branch and opens a pull request labelled promotion, env:ENV,
cell:CELL, package:PKG, whose body shows old -> new version and digest and what changed in the
DataSets. Environments that auto-merge (dev) merge at once; the others wait for their approvals
(int 1, prod 2). Re-running finds the open pull request. Promoting past environments that do not
run the version works, with a warning.

The registry is --registry, else the `registry` setting, else the one dk publish pushed this
artifact to. An artifact never pushed anywhere goes only into the embedded default repository
($DK_HOME/gitops, registry: local); any other gitops.repo is read by a cluster, and refuses it.

Examples:
  dk publish ./my-pkg --registry ghcr.io/my-org && dk promote my-pkg v1.0.0 --to dev
  dk promote my-pkg v1.0.0 --to dev
  dk promote my-pkg v1.0.0 --to prod          Warning: Skipping dev and int environments
  dk promote my-pkg v1.1.0 --to int --dry-run
  dk promote list --env prod
  dk promote approve dk/promote/prod/c0/my-pkg/v1.0.0 --key ~/.ssh/id_ed25519
  dk promote check dk/promote/prod/c0/my-pkg/v1.0.0
  dk promote merge dk/promote/prod/c0/my-pkg/v1.0.0"
)]
pub struct PromoteArgs {
    #[command(subcommand)]
    pub command: Option<PromoteCommand>,
    /// The package
    #[arg(required = true)]
    pub package: Option<String>,
    /// The published version (its tag)
    #[arg(required = true)]
    pub version: Option<String>,
    /// The environment
    #[arg(long = "to", value_name = "ENV", required = true)]
    pub to: Option<String>,
    /// The registry the cluster pulls from (default: the `registry` setting, else where dk
    /// publish pushed this artifact)
    #[arg(long, value_name = "REGISTRY")]
    pub registry: Option<String>,
    #[command(flatten)]
    pub target: TargetArgs,
}

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

#[derive(Debug, Subcommand)]
pub enum PromoteCommand {
    /// Merge a promotion that has the approvals its environment requires
    #[command(after_help = "\
Examples:
  dk promote merge dk/promote/prod/c0/my-pkg/v1.0.0     git provider: the branch
  dk promote merge '#12'                                forge provider: the pull request")]
    Merge(PrArgs),
    /// Approve a promotion (git provider; on a forge, review the pull request there)
    #[command(after_help = "\
Adds an empty commit, signed with your SSH key (git's SSH signing), to the promotion's branch.
It counts when the key is in .dk/allowed_signers on the base branch; a key counts once, and a
change pushed after the approval voids it.

Examples:
  dk promote approve dk/promote/prod/c0/my-pkg/v1.0.0 --key ~/.ssh/id_ed25519
  dk promote approve dk/promote/prod/c0/my-pkg/v1.0.0     with git's user.signingKey")]
    Approve(ApproveArgs),
    /// Exit 1 unless a promotion has its approvals (a required CI status on the GitOps repo)
    #[command(after_help = "\
Examples:
  dk promote check dk/promote/prod/c0/my-pkg/v1.0.0
  dk promote check '#12' -o json")]
    Check(PrArgs),
    /// The open promotions
    #[command(after_help = "\
Examples:
  dk promote list
  dk promote list --env prod -o json")]
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct PrArgs {
    /// Pull request number (#12) or branch
    pub id: String,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The promotion's branch
    pub id: String,
    /// The SSH private key to sign with (default: git's user.signingKey)
    #[arg(long, value_name = "PATH")]
    pub key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this environment
    #[arg(long)]
    pub env: Option<String>,
}

/// Roll an environment back to the previous version (or the one given), through a pull request
#[derive(Debug, Args)]
#[command(after_help = "\
The previous version comes from the history of the values file; the same approvals apply, and
the pull request is labelled rollback.

Examples:
  dk rollback my-pkg --env prod
  dk rollback my-pkg --to v1.0.0 --env prod")]
pub struct RollbackArgs {
    /// The package
    pub package: String,
    /// The environment
    #[arg(long, value_name = "ENV")]
    pub env: String,
    /// The version to return to (default: the one before the current)
    #[arg(long = "to", value_name = "VERSION")]
    pub to: Option<String>,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Which version runs where: one row per environment and cell
#[derive(Debug, Args)]
#[command(after_help = "\
From Argo CD when argocd.server is set (application <env>-<cell>-<pkg>, with ARGOCD_TOKEN), else
from the GitOps repository: Committed, PR #12 open (1/2 approvals), Not deployed.

Examples:
  dk status my-pkg
  dk status -o json")]
pub struct StatusArgs {
    /// The package (default: every package in the GitOps repository)
    pub package: Option<String>,
}

fn gitops_error(what: &str, err: GitOpsError) -> CliError {
    let status = match &err {
        GitOpsError::Invalid(_)
        | GitOpsError::BadName { .. }
        | GitOpsError::NeverPushed { .. }
        | GitOpsError::CheckedOut { .. } => ExitStatus::Usage,
        GitOpsError::Forge { .. } | GitOpsError::Git { .. } => ExitStatus::External,
        GitOpsError::Io { .. } | GitOpsError::Fs(_) | GitOpsError::Link { .. } => {
            ExitStatus::Failure
        }
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
        GitOpsError::NeverPushed { version, .. } => Some(format!(
            "dk publish DIR --tag {version} --registry REGISTRY first; dk promote then pins that push (or give --registry)"
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
struct Settings {
    url: String,
    base: String,
    provider: String,
    environments: Environments,
    dk_home: PathBuf,
}

fn settings(ctx: &Context) -> Result<Settings, CliError> {
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

fn is_local(url: &str) -> bool {
    !url.contains("://") && !url.contains('@')
}

impl Settings {
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
}

impl Settings {
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
struct Session {
    settings: Settings,
    wc: WorkingCopy,
    forge: Box<dyn Forge>,
}

impl Session {
    fn open(ctx: &Context) -> Result<Session, CliError> {
        let settings = settings(ctx)?;
        let wc = settings.open()?;
        let forge = settings.forge(ctx)?;
        Ok(Session {
            settings,
            wc,
            forge,
        })
    }
}

pub fn run_gitops(command: GitOpsCommand, ctx: &Context) -> Result<ExitStatus, CliError> {
    let GitOpsCommand::Init(args) = command;
    let settings = settings(ctx)?;
    // The default is bare, a remote like any other; a PATH given is a normal repository to
    // push to a forge.
    let bare = args.path.is_none();
    let path = match args.path {
        Some(path) => path,
        None if is_local(&settings.url) => PathBuf::from(&settings.url),
        None => {
            return Err(CliError::usage(format!(
                "gitops.repo is {}, not a local path",
                settings.url
            ))
            .hint("give a PATH to create a repository there, then push it to your forge"));
        }
    };
    let envs: Vec<&str> = settings
        .environments
        .0
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    let absolute = std::path::absolute(&path).unwrap_or(path.clone());
    // Argo CD reads the repository at gitops.repo when it is a URL; a path only this machine has.
    let repo_url = if is_local(&settings.url) {
        absolute.display().to_string()
    } else {
        repo::public_url(&settings.url)
    };
    let created = repo::init(&absolute, &settings.base, &envs, &repo_url, bare)
        .map_err(|err| gitops_error("cannot create the GitOps repository", err))?;
    ctx.ui.emit(&Initialised {
        path: absolute.display().to_string(),
        created,
        environments: envs.iter().map(|e| (*e).to_owned()).collect(),
    })
}

#[derive(Debug, Serialize)]
struct Initialised {
    path: String,
    created: bool,
    environments: Vec<String>,
}

impl Render for Initialised {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let mark = ui.out_styles().success("✓");
        if self.created {
            writeln!(out, "{mark} Created the GitOps repository {}", self.path)?;
            writeln!(
                out,
                "  envs/{{{}}}/cells/c0/apps/, charts/dk-app/, argocd/applicationset.yaml",
                self.environments.join(",")
            )?;
            writeln!(
                out,
                "  .dk/allowed_signers: the SSH keys whose signed approvals count (provider git)"
            )?;
            writeln!(
                out,
                "  Next: dk promote PKG VERSION --to {}",
                self.environments.first().map_or("dev", String::as_str)
            )
        } else {
            writeln!(
                out,
                "{mark} The GitOps repository {} exists; nothing changed",
                self.path
            )
        }
    }
}

/// The artifact a version stands for: its digest, where it is published, its manifest files.
struct Artifact {
    namespace: String,
    digest: String,
    registry: String,
    files: Vec<(String, String)>,
}

/// Finds `package` `version` where it was published: `registry` (the flag), the configured
/// registry, the push dk publish recorded, else the local layout, which only the embedded
/// GitOps repository takes; never-built versions are refused.
fn artifact(
    ctx: &Context,
    settings: &Settings,
    package: &str,
    version: &str,
    namespace: Option<&str>,
    registry: Option<&str>,
) -> Result<Artifact, CliError> {
    let layout = super::package::layout(ctx)?;
    let tags = [
        version.to_owned(),
        format!("v{}", version.trim_start_matches('v')),
        version.trim_start_matches('v').to_owned(),
    ];
    let local = layout
        .list()
        .map_err(|err| CliError::failure("cannot read the local registry").cause(err))?
        .into_iter()
        .find_map(|descriptor| {
            let name = descriptor
                .annotations
                .get(dk_package::layout::REF_NAME)?
                .clone();
            let (path, tag) = name.rsplit_once(':')?;
            let (ns, pkg) = path.rsplit_once('/')?;
            (pkg == package && tags.iter().any(|t| t == tag) && namespace.is_none_or(|n| n == ns))
                .then(|| (ns.to_owned(), tag.to_owned(), descriptor))
        });
    // The manifests compare artifacts in the description; without them, it says so.
    let files = |descriptor: &Descriptor| layout.manifest_files(descriptor).unwrap_or_default();
    let records = match &local {
        Some((ns, tag, _)) => layout
            .publications(&format!("{ns}/{package}:{tag}"))
            .map_err(|err| CliError::failure("cannot read the local registry").cause(err))?,
        None => Vec::new(),
    };
    let pushes: Vec<Pushed> = records
        .iter()
        .map(|p| Pushed {
            host: &p.registry,
            repository: &p.repository,
            digest: &p.digest,
        })
        .collect();
    let configured = ctx.config()?.string("registry")?;
    let chosen = source::resolve(
        registry,
        configured.as_deref(),
        &pushes,
        local.as_ref().map(|(_, _, d)| d.digest.as_str()),
        local.as_ref().map_or("", |(ns, _, _)| ns.as_str()),
        package,
    );
    match chosen {
        Source::Published { registry, digest } => {
            let (namespace, _, descriptor) = local.expect("a push is of a local artifact");
            Ok(Artifact {
                namespace,
                digest,
                registry,
                files: files(&descriptor),
            })
        }
        Source::Given(registry) => {
            let namespace = namespace
                .map(str::to_owned)
                .or_else(|| local.as_ref().map(|(ns, _, _)| ns.clone()))
                .unwrap_or_else(|| "default".into());
            let (host, prefix) = split_registry(&registry);
            let repository = [prefix.as_deref(), Some(namespace.as_str()), Some(package)]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("/");
            let tag = local
                .as_ref()
                .map_or(version.to_owned(), |(_, tag, _)| tag.clone());
            let target = RemoteRef {
                registry: host.clone(),
                repository,
                tag: Some(tag),
                digest: None,
            };
            let client = super::package::registry_for(ctx, &host, false)?;
            let digest = super::run::runtime()?
                .block_on(client.digest_of(&target))
                .map_err(|err| {
                    CliError::new(ExitStatus::External, format!("cannot read {target}")).cause(err)
                })?
                .ok_or_else(|| {
                    CliError::failure(format!("{target} was never published"))
                        .hint(format!("dk publish --tag {version} first"))
                })?;
            let files = local
                .as_ref()
                .filter(|(_, _, d)| d.digest == digest)
                .map(|(_, _, d)| files(d))
                .unwrap_or_default();
            Ok(Artifact {
                namespace,
                digest,
                registry,
                files,
            })
        }
        Source::Local => {
            let (namespace, _, descriptor) = local.ok_or_else(|| {
                CliError::failure(format!("{package} {version} was never built or published"))
                    .hint(format!("dk build --tag {version}, then dk publish --registry REG (or configure `registry`)"))
            })?;
            let embedded = source::is_embedded(&settings.url, &settings.dk_home);
            source::check_local(embedded, &settings.url, package, version)
                .map_err(|err| gitops_error("not promoted", err))?;
            let files = files(&descriptor);
            Ok(Artifact {
                namespace,
                digest: descriptor.digest,
                registry: source::LOCAL.into(),
                files,
            })
        }
    }
}

/// The manifest files of the artifact a values file names, when it is in the local layout.
fn files_of_digest(ctx: &Context, digest: &str) -> Vec<(String, String)> {
    let Ok(layout) = super::package::layout(ctx) else {
        return Vec::new();
    };
    layout
        .list()
        .ok()
        .and_then(|list| list.into_iter().find(|d| d.digest == digest))
        .and_then(|descriptor| layout.manifest_files(&descriptor).ok())
        .unwrap_or_default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Promotion,
    Rollback,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Promotion => "promotion",
            Kind::Rollback => "rollback",
        }
    }

    fn branch_word(self) -> &'static str {
        match self {
            Kind::Promotion => "promote",
            Kind::Rollback => "rollback",
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PromotionReport {
    kind: &'static str,
    package: String,
    version: String,
    digest: String,
    env: String,
    cell: String,
    previous: Option<String>,
    /// `merged`, `open`, `found-open`, `unchanged`, `dry-run`.
    outcome: &'static str,
    pull_request: Option<String>,
    branch: Option<String>,
    url: Option<String>,
    approvals: usize,
    required: u32,
    skipped: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    diff: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
}

impl Render for PromotionReport {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let styles = ui.out_styles();
        let what = format!(
            "{} {} to {} ({})",
            self.package, self.version, self.env, self.cell
        );
        let verb = if self.kind == "rollback" {
            "Rollback of"
        } else {
            "Promotion of"
        };
        match self.outcome {
            "unchanged" => writeln!(
                out,
                "{} {what}: already there, nothing to do",
                styles.success("✓")
            ),
            "dry-run" => {
                writeln!(out, "{verb} {what} (dry run: nothing changed)\n")?;
                writeln!(out, "{}", self.diff.as_deref().unwrap_or_default())?;
                writeln!(out, "{}", self.body.as_deref().unwrap_or_default())
            }
            "merged" => {
                writeln!(out, "{} {verb} {what}: merged", styles.success("✓"))?;
                writeln!(
                    out,
                    "  {}",
                    self.pull_request.as_deref().unwrap_or_default()
                )
            }
            outcome => {
                let found = if outcome == "found-open" {
                    " (already open)"
                } else {
                    ""
                };
                writeln!(
                    out,
                    "{} {verb} {what}: pull request {}{found}, {}/{} approvals",
                    styles.success("✓"),
                    self.pull_request.as_deref().unwrap_or_default(),
                    self.approvals,
                    self.required
                )?;
                if let Some(url) = &self.url {
                    writeln!(out, "  {url}")?;
                }
                writeln!(
                    out,
                    "  Merge with: dk promote merge {} (needs {} approval(s))",
                    self.pull_request.as_deref().unwrap_or_default(),
                    self.required
                )
            }
        }
    }
}

struct Request<'a> {
    kind: Kind,
    package: &'a str,
    version: String,
    env: &'a str,
    /// `--registry`, when given.
    registry: Option<&'a str>,
    target: &'a TargetArgs,
}

fn promote(
    ctx: &Context,
    session: &Session,
    request: Request<'_>,
    artifact: Option<Artifact>,
) -> Result<ExitStatus, CliError> {
    let Session {
        settings,
        wc,
        forge,
    } = session;
    let env = settings
        .environments
        .get(request.env)
        .map_err(|err| gitops_error("unknown environment", err))?
        .clone();
    let cell = request.target.cell.as_str();
    let path = values_path(&env.name, cell, request.package);
    let current = wc
        .read(&settings.base, &path)
        .map_err(|err| gitops_error("cannot read the GitOps repository", err))?;
    let previous = current.as_deref().and_then(values::read);
    let artifact = match artifact {
        Some(artifact) => artifact,
        None => self::artifact(
            ctx,
            settings,
            request.package,
            &request.version,
            request.target.namespace.as_deref(),
            request.registry,
        )?,
    };
    let release = Release {
        package: request.package.to_owned(),
        namespace: artifact.namespace.clone(),
        version: request.version.clone(),
        digest: artifact.digest.clone(),
        registry: artifact.registry.clone(),
        workload: source::workload(&artifact.files),
    };
    let mut report = PromotionReport {
        kind: request.kind.label(),
        package: request.package.to_owned(),
        version: request.version.clone(),
        digest: artifact.digest.clone(),
        env: env.name.clone(),
        cell: cell.to_owned(),
        previous: previous.as_ref().map(|(v, _)| v.clone()),
        outcome: "unchanged",
        pull_request: None,
        branch: None,
        url: None,
        approvals: 0,
        required: env.approvals,
        skipped: Vec::new(),
        diff: None,
        body: None,
    };
    if previous
        .as_ref()
        .is_some_and(|(v, d)| *v == release.version && *d == release.digest)
    {
        return ctx.ui.emit(&report);
    }
    if request.kind == Kind::Promotion {
        for predecessor in settings.environments.predecessors(&env.name) {
            let there = wc
                .read(
                    &settings.base,
                    &values_path(&predecessor.name, cell, request.package),
                )
                .map_err(|err| gitops_error("cannot read the GitOps repository", err))?
                .as_deref()
                .and_then(values::read);
            if there.is_none_or(|(version, _)| version != release.version) {
                report.skipped.insert(0, predecessor.name.clone());
            }
        }
        if !report.skipped.is_empty() {
            let names: Vec<&str> = report.skipped.iter().map(String::as_str).collect();
            ctx.ui.note(format!(
                "Warning: Skipping {} environments",
                join_names(&names)
            ));
        }
    }
    let new_text = match &current {
        Some(text) => values::update(text, &release)
            .map_err(|err| gitops_error("cannot update the values file", err))?,
        None => values::new_file(&release, &env.name, cell)
            .map_err(|err| gitops_error("cannot write the values file", err))?,
    };
    let old_files = previous
        .as_ref()
        .map(|(_, digest)| files_of_digest(ctx, digest))
        .unwrap_or_default();
    let changes = dk_gitops::changes::describe(&old_files, &artifact.files);
    let verb = match request.kind {
        Kind::Promotion => "Promote",
        Kind::Rollback => "Roll back",
    };
    let title = format!(
        "{verb} {} {} to {} ({cell})",
        request.package, request.version, env.name
    );
    let mut body = format!(
        "| | Version | Digest |\n|---|---|---|\n| from | {} | {} |\n| to | {} | {} |\n\nRegistry: {}\n",
        previous
            .as_ref()
            .map_or("(not deployed)", |(v, _)| v.as_str()),
        previous.as_ref().map_or("", |(_, d)| d.as_str()),
        release.version,
        release.digest,
        release.registry,
    );
    if !changes.is_empty() {
        body.push_str("\nChanges in the package:\n");
        for change in &changes {
            body.push_str(&format!("- {change}\n"));
        }
    } else if previous.is_some() && (old_files.is_empty() || artifact.files.is_empty()) {
        body.push_str(
            "\nChanges in the package: not compared (an artifact is not in the local registry).\n",
        );
    }
    if !report.skipped.is_empty() {
        let names: Vec<&str> = report.skipped.iter().map(String::as_str).collect();
        body.push_str(&format!(
            "\n**Skipping {} environments**: they do not run {}.\n",
            join_names(&names),
            release.version
        ));
    }
    body.push_str(&format!(
        "\n{} needs {} approval(s){}.\n",
        env.name,
        env.approvals,
        if env.auto_merge {
            " and merges automatically"
        } else {
            ""
        }
    ));
    let labels = vec![
        request.kind.label().to_owned(),
        format!("env:{}", env.name),
        format!("cell:{cell}"),
        format!("package:{}", request.package),
    ];
    if request.target.dry_run {
        report.outcome = "dry-run";
        report.diff = Some(values::diff(
            &path,
            current.as_deref().unwrap_or_default(),
            &new_text,
        ));
        report.body = Some(format!("{title}\n\n{body}"));
        return ctx.ui.emit(&report);
    }
    let branch = format!(
        "{BRANCH_PREFIX}/{}/{}/{cell}/{}/{}",
        request.kind.branch_word(),
        env.name,
        request.package,
        request.version
    );
    let change = Change {
        branch: &branch,
        path: &path,
        contents: &new_text,
        title: &title,
        body: &body,
        labels: &labels,
    };
    let opened = promotion::open(wc, forge.as_ref(), &change)
        .map_err(|err| gitops_error("Promotion PR not created", err))?;
    let pr = match opened {
        Opened::Found(pr) => {
            report.outcome = "found-open";
            pr
        }
        Opened::Opened(pr) => {
            report.outcome = "open";
            pr
        }
        Opened::Landed => return ctx.ui.emit(&report),
    };
    report.pull_request = Some(pr.id.clone());
    report.branch = Some(branch.clone());
    report.url = pr.url.clone();
    report.approvals = pr.approvals.len();
    if env.auto_merge && pr.approvals.len() >= env.approvals as usize {
        promotion::merge(wc, forge.as_ref(), &pr, &format!("Merge {title}"), &change)
            .map_err(|err| gitops_error("cannot merge the promotion", err))?;
        report.outcome = "merged";
    }
    ctx.ui.emit(&report)
}

pub fn run_promote(args: PromoteArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    if let Some(command) = args.command {
        return run_promote_command(command, ctx);
    }
    let (Some(package), Some(version), Some(to)) = (args.package, args.version, args.to) else {
        return Err(CliError::usage("dk promote PKG VERSION --to ENV"));
    };
    check_names(&[
        ("package", Some(&package)),
        ("environment", Some(&to)),
        ("version", Some(&version)),
    ])?;
    check_target(&args.target)?;
    promote(
        ctx,
        &Session::open(ctx)?,
        Request {
            kind: Kind::Promotion,
            package: &package,
            version,
            env: &to,
            registry: args.registry.as_deref(),
            target: &args.target,
        },
        None,
    )
}

pub fn run_rollback(args: RollbackArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    check_names(&[
        ("package", Some(&args.package)),
        ("environment", Some(&args.env)),
        ("version", args.to.as_ref()),
    ])?;
    check_target(&args.target)?;
    let session = Session::open(ctx)?;
    let path = values_path(&args.env, &args.target.cell, &args.package);
    let history = session
        .wc
        .history(&path)
        .map_err(|err| gitops_error("cannot read the history of the GitOps repository", err))?;
    let Some((current, _)) = history.first() else {
        return Err(CliError::usage(format!(
            "{} is not deployed in {} ({})",
            args.package, args.env, args.target.cell
        ))
        .hint("dk status shows where it runs"));
    };
    let (version, digest) = match &args.to {
        Some(wanted) => match history.iter().find(|(v, _)| v == wanted) {
            Some(found) => found.clone(),
            None => {
                let artifact = artifact(
                    ctx,
                    &session.settings,
                    &args.package,
                    wanted,
                    args.target.namespace.as_deref(),
                    None,
                )?;
                return promote(
                    ctx,
                    &session,
                    Request {
                        kind: Kind::Rollback,
                        package: &args.package,
                        version: wanted.clone(),
                        env: &args.env,
                        registry: None,
                        target: &args.target,
                    },
                    Some(artifact),
                );
            }
        },
        None => history
            .iter()
            .find(|(v, _)| v != current)
            .cloned()
            .ok_or_else(|| {
                CliError::usage(format!(
                    "{} has run only {current} in {}: there is no previous version",
                    args.package, args.env
                ))
            })?,
    };
    let text = session
        .wc
        .read(&session.settings.base, &path)
        .map_err(|err| gitops_error("cannot read the GitOps repository", err))?
        .unwrap_or_default();
    let registry = values::field(&text, "registry").unwrap_or_else(|| source::LOCAL.into());
    let namespace = args
        .target
        .namespace
        .clone()
        .or_else(|| values::field(&text, "namespace"))
        .unwrap_or_else(|| "default".into());
    names::label("namespace", &namespace)
        .map_err(|err| gitops_error(&format!("bad namespace in {path}"), err))?;
    let files = files_of_digest(ctx, &digest);
    promote(
        ctx,
        &session,
        Request {
            kind: Kind::Rollback,
            package: &args.package,
            version,
            env: &args.env,
            registry: None,
            target: &args.target,
        },
        Some(Artifact {
            namespace,
            digest,
            registry,
            files,
        }),
    )
}

/// The branch name's parts: kind, env, cell, package, version.
fn parse_branch(branch: &str) -> Option<(String, String, String, String, String)> {
    // Branches come from the forge or the remote: one that dk would not name is not a
    // promotion, and its parts are never printed or used.
    names::promotion_id(branch).ok()?;
    let mut parts = branch
        .strip_prefix(&format!("{BRANCH_PREFIX}/"))?
        .splitn(5, '/');
    Some((
        parts.next()?.to_owned(),
        parts.next()?.to_owned(),
        parts.next()?.to_owned(),
        parts.next()?.to_owned(),
        parts.next()?.to_owned(),
    ))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PromotionState {
    id: String,
    branch: String,
    kind: String,
    package: String,
    version: String,
    env: String,
    cell: String,
    approvals: Vec<String>,
    required: u32,
    mergeable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    merged: bool,
    /// `dk promote check`: the exit status says whether it may merge.
    #[serde(skip)]
    gate: bool,
}

fn state(settings: &Settings, pr: PullRequest) -> Result<PromotionState, CliError> {
    let (kind, env, cell, package, version) = parse_branch(&pr.branch).ok_or_else(|| {
        CliError::usage(format!(
            "{} is not a dk promotion (its branch is {})",
            pr.id, pr.branch
        ))
    })?;
    let required = settings
        .environments
        .get(&env)
        .map_err(|err| gitops_error("unknown environment", err))?
        .approvals;
    Ok(PromotionState {
        mergeable: pr.approvals.len() >= required as usize,
        id: pr.id,
        branch: pr.branch,
        kind,
        package,
        version,
        env,
        cell,
        approvals: pr.approvals,
        required,
        url: pr.url,
        merged: false,
        gate: false,
    })
}

impl Render for PromotionState {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let styles = ui.out_styles();
        let mark = if self.mergeable {
            styles.success("✓")
        } else {
            styles.error("✗")
        };
        let verb = if self.merged {
            "merged"
        } else if self.mergeable {
            "can merge"
        } else {
            "waits for approvals"
        };
        writeln!(
            out,
            "{mark} {} ({} {} to {}/{}): {}/{} approvals, {verb}",
            self.id,
            self.package,
            self.version,
            self.env,
            self.cell,
            self.approvals.len(),
            self.required
        )?;
        if !self.approvals.is_empty() {
            writeln!(out, "  approved by {}", self.approvals.join(", "))?;
        }
        Ok(())
    }

    fn status(&self) -> ExitStatus {
        if self.gate && !self.mergeable {
            ExitStatus::Failure
        } else {
            ExitStatus::Success
        }
    }
}

#[derive(Debug, Serialize)]
struct PromotionList {
    promotions: Vec<PromotionState>,
}

impl Render for PromotionList {
    fn render_text(&self, _ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        if self.promotions.is_empty() {
            return writeln!(out, "No open promotions.");
        }
        let mut rows = table(&[
            "PULL REQUEST",
            "KIND",
            "PACKAGE",
            "VERSION",
            "ENV",
            "CELL",
            "APPROVALS",
        ]);
        for p in &self.promotions {
            rows.add_row(vec![
                p.id.clone(),
                p.kind.clone(),
                p.package.clone(),
                p.version.clone(),
                p.env.clone(),
                p.cell.clone(),
                format!("{}/{}", p.approvals.len(), p.required),
            ]);
        }
        write_table(out, &rows)
    }
}

/// Checks names given on the command line (`what`, value) before any use: DNS labels, and
/// versions as semver.
fn check_names(names: &[(&'static str, Option<&String>)]) -> Result<(), CliError> {
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

fn check_target(target: &TargetArgs) -> Result<(), CliError> {
    check_names(&[
        ("cell", Some(&target.cell)),
        ("namespace", target.namespace.as_ref()),
    ])
}

fn run_promote_command(command: PromoteCommand, ctx: &Context) -> Result<ExitStatus, CliError> {
    match &command {
        PromoteCommand::Check(PrArgs { id })
        | PromoteCommand::Merge(PrArgs { id })
        | PromoteCommand::Approve(ApproveArgs { id, .. }) => {
            names::promotion_id(id).map_err(|err| gitops_error("bad promotion", err))?;
        }
        PromoteCommand::List(args) => check_names(&[("environment", args.env.as_ref())])?,
    }
    let Session {
        settings,
        wc,
        forge,
    } = Session::open(ctx)?;
    let get = |id: &str| {
        forge
            .get(&wc, id)
            .map_err(|err| gitops_error("cannot read the promotion", err))
    };
    match command {
        PromoteCommand::Check(args) => {
            let mut state = state(&settings, get(&args.id)?)?;
            state.gate = true;
            ctx.ui.emit(&state)
        }
        PromoteCommand::Approve(args) => {
            let pr = get(&args.id)?;
            forge
                .approve(&wc, &pr, args.key.as_deref())
                .map_err(|err| gitops_error("cannot approve", err))?;
            ctx.ui.emit(&state(&settings, get(&args.id)?)?)
        }
        PromoteCommand::Merge(args) => {
            let pr = get(&args.id)?;
            let mut state = state(&settings, pr.clone())?;
            if !state.mergeable {
                return Err(CliError::failure(format!(
                    "{} has {}/{} approvals: {} needs {}",
                    state.id,
                    state.approvals.len(),
                    state.required,
                    state.env,
                    state.required
                ))
                .hint(format!(
                    "dk promote approve {} --key KEY (git provider: a key in .dk/allowed_signers on {}), or review it on the forge",
                    state.id, settings.base
                )));
            }
            forge
                .merge(&wc, &pr, &format!("Merge {}", pr.title))
                .map_err(|err| gitops_error("cannot merge the promotion", err))?;
            state.merged = true;
            ctx.ui.emit(&state)
        }
        PromoteCommand::List(args) => {
            let mut promotions = Vec::new();
            for pr in forge
                .list(&wc)
                .map_err(|err| gitops_error("cannot list promotions", err))?
            {
                if parse_branch(&pr.branch).is_none() {
                    continue;
                }
                let state = state(&settings, pr)?;
                if args.env.as_deref().is_none_or(|env| env == state.env) {
                    promotions.push(state);
                }
            }
            ctx.ui.emit(&PromotionList { promotions })
        }
    }
}

#[derive(Debug, Serialize)]
struct StatusRow {
    package: String,
    environment: String,
    cell: String,
    version: Option<String>,
    status: String,
}

#[derive(Debug, Serialize)]
struct StatusReport {
    source: &'static str,
    rows: Vec<StatusRow>,
}

impl Render for StatusReport {
    fn render_text(&self, _ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let packages: std::collections::BTreeSet<&str> =
            self.rows.iter().map(|r| r.package.as_str()).collect();
        let many = packages.len() > 1;
        let mut header = vec!["Environment", "Version", "Status"];
        if many {
            header.insert(0, "Package");
        }
        let mut rows = table(&header);
        for row in &self.rows {
            let environment = if row.cell == "c0" {
                row.environment.clone()
            } else {
                format!("{}/{}", row.environment, row.cell)
            };
            let mut cells = vec![
                environment,
                row.version.clone().unwrap_or_else(|| "-".into()),
                row.status.clone(),
            ];
            if many {
                cells.insert(0, row.package.clone());
            }
            rows.add_row(cells);
        }
        write_table(out, &rows)
    }
}

pub fn run_status(args: StatusArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    check_names(&[("package", args.package.as_ref())])?;
    let Session {
        settings,
        wc,
        forge,
    } = Session::open(ctx)?;
    let argocd = ctx.config()?.string("argocd.server")?;
    let listing = wc
        .git
        .run(&[
            "ls-tree",
            "-r",
            "--name-only",
            &format!("origin/{}", settings.base),
            "envs",
        ])
        .map_err(|err| gitops_error("cannot read the GitOps repository", err))?;
    // (package, cell) pairs deployed anywhere.
    let mut apps: Vec<(String, String)> = listing
        .lines()
        .filter_map(|line| {
            let parts: Vec<&str> = line.split('/').collect();
            match parts[..] {
                // Folders are the repository's to name: only those dk could have written count.
                ["envs", _, "cells", cell, "apps", package, "values.yaml"]
                    if names::label("cell", cell).is_ok()
                        && names::label("package", package).is_ok() =>
                {
                    Some((package.to_owned(), cell.to_owned()))
                }
                _ => None,
            }
        })
        .filter(|(package, _)| args.package.as_deref().is_none_or(|p| p == package))
        .collect();
    let open = forge
        .list(&wc)
        .map_err(|err| gitops_error("cannot list promotions", err))?;
    for pr in &open {
        if let Some((_, _, cell, package, _)) = parse_branch(&pr.branch)
            && args.package.as_deref().is_none_or(|p| p == package)
        {
            apps.push((package, cell));
        }
    }
    if let Some(package) = &args.package
        && apps.is_empty()
    {
        apps.push((package.clone(), "c0".into()));
    }
    apps.sort();
    apps.dedup();
    let mut rows = Vec::new();
    for (package, cell) in &apps {
        for env in &settings.environments.0 {
            let committed = wc
                .read(&settings.base, &values_path(&env.name, cell, package))
                .map_err(|err| gitops_error("cannot read the GitOps repository", err))?
                .as_deref()
                .and_then(values::read);
            let pending = open.iter().find(|pr| {
                parse_branch(&pr.branch)
                    .is_some_and(|(_, e, c, p, _)| e == env.name && &c == cell && &p == package)
            });
            let mut status = match (&argocd, &committed) {
                (Some(server), _) => dk_gitops::argocd::app_status(
                    server,
                    ctx.env.get(ARGOCD_TOKEN),
                    &format!("{}-{cell}-{package}", env.name),
                ),
                (None, Some(_)) => "Committed".to_owned(),
                (None, None) => "Not deployed".to_owned(),
            };
            if let Some(pr) = pending {
                let version = parse_branch(&pr.branch)
                    .map(|(_, _, _, _, v)| v)
                    .unwrap_or_default();
                let open = format!(
                    "PR {} open ({}/{} approvals) for {version}",
                    pr.id,
                    pr.approvals.len(),
                    env.approvals
                );
                status = if committed.is_some() {
                    format!("{status}; {open}")
                } else {
                    open
                };
            }
            rows.push(StatusRow {
                package: package.clone(),
                environment: env.name.clone(),
                cell: cell.clone(),
                version: committed.map(|(version, _)| version),
                status,
            });
        }
    }
    ctx.ui.emit(&StatusReport {
        source: if argocd.is_some() { "argocd" } else { "gitops" },
        rows,
    })
}
