//! `dk promote`: a published version into an environment through a pull request (DESIGN §7),
//! and the promotions' own verbs: `approve`, `check`, `merge`, `list`, `close`.

mod approve;
mod check;
pub(crate) mod close;
pub(crate) mod list;
mod merge;

use std::io::{self, Write};

use clap::{Args, Subcommand};
use serde::Serialize;

use dk_gitops::branch::{BranchName, Kind, PrId};
use dk_gitops::forge::PullRequest;
use dk_gitops::gate::{self, Verdict};
use dk_gitops::plan::{Gate, Pending};

use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::output::{Render, Ui};
use crate::promotion::report::{Request, promote};
use crate::promotion::verify::SignatureVerifier;
use crate::promotion::{Session, Settings, TargetArgs, check_names, check_target, gitops_error};

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

The gate: before anything is pushed (also with --dry-run), the digest is verified against the
environment's entry in policy.yaml on the GitOps repository's base branch (requireSignature,
requireProvenance); what is missing refuses the promotion (exit 1). The pull request says what
was verified, and dk promote check and merge verify the branch's digest again.

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
  dk promote merge dk/promote/prod/c0/my-pkg/v1.0.0
  dk promote close '#12' --reason 'v1.2.0 is withdrawn'"
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
    Approve(approve::ApproveArgs),
    /// Exit 1 unless a promotion has its approvals and passes its policy (a required CI status)
    #[command(after_help = "\
Fails while approvals are missing, when the branch conflicts with its base, and when the digest
its values pin does not pass the environment's policy.yaml on the base branch (a branch that
edits the policy, or drops its keys from the values, fails too).

Examples:
  dk promote check dk/promote/prod/c0/my-pkg/v1.0.0
  dk promote check '#12' -o json")]
    Check(PrArgs),
    /// The open promotions
    #[command(after_help = "\
Examples:
  dk promote list
  dk promote list --env prod -o json")]
    List(list::ListArgs),
    /// Close a promotion without merging it (a stale one leaves dk status)
    #[command(after_help = "\
GitHub and GitLab keep the reason as a comment on the pull request and close it (its branch
stays); the git provider deletes the promotion's branch. dk rollback closes the open
promotions it supersedes by itself.

Examples:
  dk promote close dk/promote/prod/c0/my-pkg/v1.2.0      git provider: the branch
  dk promote close '#12' --reason 'v1.2.0 is withdrawn'  forge provider: the pull request
  dk promote close '!7' -o json")]
    Close(close::CloseArgs),
}

#[derive(Debug, Args)]
pub struct PrArgs {
    /// Pull request number (#12) or branch
    pub id: String,
}

pub fn run(args: PromoteArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    if let Some(command) = args.command {
        return match command {
            PromoteCommand::Merge(args) => merge::run(args, ctx),
            PromoteCommand::Approve(args) => approve::run(args, ctx),
            PromoteCommand::Check(args) => check::run(args, ctx),
            PromoteCommand::List(args) => list::run(args, ctx),
            PromoteCommand::Close(args) => close::run(args, ctx),
        };
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

/// The session of a command on one promotion, and the id it names, checked before anything
/// is read.
fn open(ctx: &Context, id: &str) -> Result<(Session, PrId), CliError> {
    let id = PrId::parse(id).map_err(|err| gitops_error("bad promotion", err))?;
    Ok((Session::open(ctx)?, id))
}

/// The pull request of promotion `id`, as the forge has it now.
fn get(session: &Session, id: &PrId) -> Result<PullRequest, CliError> {
    session
        .forge
        .get(&session.wc, id)
        .map_err(|err| gitops_error("cannot read the promotion", err))
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PromotionState {
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
    /// `dk promote check`: the branch conflicts with its base.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    conflicts: bool,
    /// `dk promote check` and `merge`: what the environment's policy (policy.yaml on the base
    /// branch) required of the digest the branch pins, and what of it verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    verified: Option<Verdict>,
    /// The base it conflicts with.
    #[serde(skip)]
    base: Option<String>,
    /// `dk promote check`: the exit status says whether it may merge.
    #[serde(skip)]
    gate: bool,
}

impl PromotionState {
    fn of(pending: Pending) -> PromotionState {
        let mergeable = pending.gate() == Gate::Passes;
        let Pending {
            pr,
            branch,
            required,
        } = pending;
        PromotionState {
            mergeable,
            id: pr.id,
            branch: pr.branch,
            kind: branch.kind.word().to_owned(),
            package: branch.package,
            version: branch.version,
            env: branch.env,
            cell: branch.cell,
            approvals: pr.approvals,
            required,
            url: pr.url,
            merged: false,
            conflicts: false,
            verified: None,
            base: None,
            gate: false,
        }
    }
}

/// Puts the promotion through its environment's policy (dk-gitops's gate over the digest its
/// branch pins): it may merge only when that passes.
fn verify(ctx: &Context, session: &Session, state: &mut PromotionState) -> Result<(), CliError> {
    let branch =
        BranchName::parse(&state.branch).map_err(|err| gitops_error("not a dk promotion", err))?;
    let verdict = gate::open_promotion(
        &session.wc,
        &session.settings.environments,
        &branch,
        &SignatureVerifier::new(ctx),
    )
    .map_err(|err| gitops_error("cannot verify the promoted artifact", err))?;
    state.mergeable &= verdict.passes();
    state.verified = Some(verdict);
    Ok(())
}

/// `pr` as a promotion; `None` when its branch is not one dk names.
fn pending(settings: &Settings, pr: &PullRequest) -> Result<Option<Pending>, CliError> {
    Pending::of(pr, &settings.environments).map_err(|err| gitops_error("unknown environment", err))
}

/// The promotion `pr` is; refused when it is not one.
fn state(settings: &Settings, pr: &PullRequest) -> Result<PromotionState, CliError> {
    let pending = pending(settings, pr)?.ok_or_else(|| {
        CliError::usage(format!(
            "{} is not a dk promotion (its branch is {})",
            pr.id, pr.branch
        ))
    })?;
    Ok(PromotionState::of(pending))
}

impl Render for PromotionState {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let styles = ui.out_styles();
        let mark = if self.mergeable {
            styles.success("✓")
        } else {
            styles.error("✗")
        };
        let conflict;
        let verb = if self.merged {
            "merged"
        } else if self.conflicts {
            conflict = format!(
                "conflicts with {}: close it (dk promote close) and promote again",
                self.base.as_deref().unwrap_or("its base")
            );
            &conflict
        } else if self.mergeable {
            "can merge"
        } else {
            "waits for approvals"
        };
        let unverified = self.verified.as_ref().is_some_and(|v| !v.passes());
        let verb = if unverified && !self.merged && !self.conflicts {
            "fails its environment's policy"
        } else {
            verb
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
        if let Some(verdict) = &self.verified {
            if let Some(verified) = verdict.summary() {
                writeln!(out, "  verified {}: {verified}", verdict.digest)?;
            }
            for missing in &verdict.missing {
                writeln!(out, "  {} {missing}", styles.error("missing:"))?;
            }
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
