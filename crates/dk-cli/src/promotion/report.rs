//! Carrying out one promotion or rollback: dk-gitops plans it, this resolves the artifact,
//! says what is skipped, and renders what the plan did.

use std::io::{self, Write};

use serde::Serialize;

use dk_gitops::branch::Kind;
use dk_gitops::gate::{self, Subject, Verdict};
use dk_gitops::plan::{self, Notes, Outcome, Plan, Step, Target};
use dk_gitops::source;
use dk_gitops::values::Release;

use super::artifact::{Artifact, artifact};
use super::close::{Closed, close};
use super::verify::{SignatureVerifier, refuse_unverified};
use super::{Session, TargetArgs, gitops_error};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::output::{Render, Ui};

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PromotionReport {
    kind: Kind,
    package: String,
    version: String,
    digest: String,
    env: String,
    cell: String,
    previous: Option<String>,
    outcome: Outcome,
    pull_request: Option<String>,
    branch: Option<String>,
    url: Option<String>,
    approvals: usize,
    required: u32,
    skipped: Vec<String>,
    /// The open promotions a rollback superseded and closed.
    closed: Vec<Closed>,
    /// What the environment's policy (policy.yaml on the base branch) required, and what of
    /// it verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    verified: Option<Verdict>,
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
        let verb = match self.kind {
            Kind::Rollback => "Rollback of",
            Kind::Promotion => "Promotion of",
        };
        match self.outcome {
            Outcome::Unchanged => writeln!(
                out,
                "{} {what}: already there, nothing to do",
                styles.success("✓")
            ),
            Outcome::DryRun => {
                writeln!(out, "{verb} {what} (dry run: nothing changed)\n")?;
                writeln!(out, "{}", self.diff.as_deref().unwrap_or_default())?;
                writeln!(out, "{}", self.body.as_deref().unwrap_or_default())
            }
            Outcome::Merged => {
                writeln!(out, "{} {verb} {what}: merged", styles.success("✓"))?;
                writeln!(
                    out,
                    "  {}",
                    self.pull_request.as_deref().unwrap_or_default()
                )
            }
            Outcome::Opened | Outcome::FoundOpen => {
                let found = if self.outcome == Outcome::FoundOpen {
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
        }?;
        if let Some(verified) = self.verified.as_ref().and_then(Verdict::summary) {
            writeln!(out, "  Verified {}: {verified}", self.digest)?;
        }
        for closed in &self.closed {
            writeln!(
                out,
                "{} Closed {}: superseded by this rollback",
                styles.success("✓"),
                closed.what()
            )?;
        }
        Ok(())
    }
}

/// One promotion or rollback, as the command line asked for it.
pub struct Request<'a> {
    pub kind: Kind,
    pub package: &'a str,
    pub version: String,
    pub env: &'a str,
    /// `--registry`, when given.
    pub registry: Option<&'a str>,
    pub target: &'a TargetArgs,
}

/// Plans `request` (with `artifact` when the caller knows it already, else the one the
/// version stands for), carries the plan out unless it is a dry run, and reports.
pub fn promote(
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
    let flag = match request.kind {
        Kind::Promotion => "--to",
        Kind::Rollback => "--env",
    };
    let env = settings.environment(request.env, flag)?;
    let cell = request.target.cell.as_str();
    let target = Target::read(
        wc,
        env,
        plan::Request {
            kind: request.kind,
            package: request.package,
            version: &request.version,
            cell,
        },
    )
    .map_err(|err| gitops_error("cannot read the GitOps repository", err))?;
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
    let previous = target.previous();
    let mut report = PromotionReport {
        kind: request.kind,
        package: request.package.to_owned(),
        version: request.version.clone(),
        digest: artifact.digest.clone(),
        env: env.name.clone(),
        cell: cell.to_owned(),
        previous: previous.as_ref().map(|(v, _)| v.clone()),
        outcome: Outcome::Unchanged,
        pull_request: None,
        branch: None,
        url: None,
        approvals: 0,
        required: env.approvals,
        skipped: Vec::new(),
        closed: Vec::new(),
        verified: None,
        diff: None,
        body: None,
    };
    if target.holds(&release) {
        return ctx.ui.emit_message(&report);
    }
    let subject = Subject {
        registry: release.registry.clone(),
        namespace: release.namespace.clone(),
        package: release.package.clone(),
        digest: release.digest.clone(),
    };
    let (requirement, verdict) = gate::promotion(
        wc,
        &settings.environments,
        &env.name,
        &subject,
        &SignatureVerifier::new(ctx),
    )
    .map_err(|err| gitops_error("cannot verify the promoted artifact", err))?;
    refuse_unverified(&verdict, &subject.reference())?;
    report.verified = Some(verdict.clone());
    let updates = target.current.is_some();
    let diff = previous
        .as_ref()
        .and_then(|(_, digest)| crate::contract::digest_diff(ctx, digest, &artifact.digest));
    let notes = Notes {
        diff: diff.as_ref(),
        gate: Some((&requirement, &verdict)),
    };
    let plan = target
        .plan(wc, &settings.environments, release, notes)
        .map_err(|(step, err)| match step {
            Step::Values if updates => gitops_error("cannot update the values file", err),
            Step::Values => gitops_error("cannot write the values file", err),
            _ => gitops_error("cannot read the GitOps repository", err),
        })?;
    if !plan.skipped.is_empty() {
        ctx.ui
            .note(format!("Warning: {}", plan::skip_warning(&plan.skipped)));
    }
    report.skipped = plan.skipped.clone();
    if request.target.dry_run {
        report.outcome = Outcome::DryRun;
        report.diff = Some(plan.diff());
        report.body = Some(plan.description());
        return ctx.ui.emit_message(&report);
    }
    let done = plan
        .carry_out(wc, forge.as_ref())
        .map_err(|(step, err)| match step {
            Step::Merge => gitops_error("cannot merge the promotion", err),
            _ => gitops_error("Promotion PR not created", err),
        })?;
    report.outcome = done.outcome;
    report.closed = close_superseded(session, &plan)?;
    if let Some(pr) = done.pull_request {
        report.pull_request = Some(pr.id);
        report.branch = Some(plan.branch.to_string());
        report.url = pr.url;
        report.approvals = pr.approvals.len();
    }
    ctx.ui.emit_message(&report)
}

/// Closes the open promotions a rollback supersedes (none for a promotion), once the rollback
/// is under way: merged, they would undo it.
fn close_superseded(session: &Session, plan: &Plan) -> Result<Vec<Closed>, CliError> {
    if plan.target.kind != Kind::Rollback {
        return Ok(Vec::new());
    }
    let reason = plan.closing_reason();
    plan.supersedes(&session.list()?)
        .into_iter()
        .map(|(pr, branch)| close(session, pr, branch, Some(reason.clone())))
        .collect()
}
