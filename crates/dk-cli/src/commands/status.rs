//! `dk status`: which version runs where, one row per environment and cell, from Argo CD or
//! the GitOps repository.

use std::io::{self, Write};

use clap::Args;
use serde::Serialize;

use dk_config::env::ARGOCD_TOKEN;
use dk_gitops::branch::BranchName;
use dk_gitops::forge::PullRequest;
use dk_gitops::repo::values_path;
use dk_gitops::values;
use dk_manifest::suggest::did_you_mean;

use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::output::{Render, Ui, table, write_table};
use crate::promotion::{Session, check_names, gitops_error};

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

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct StatusRow {
    package: String,
    environment: String,
    cell: String,
    version: Option<String>,
    /// For people: the committed state, and an open promotion as a sentence.
    status: String,
    /// The open promotion of this package, environment and cell, for scripts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pending: Option<PendingPromotion>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct PendingPromotion {
    /// The pull request (`#12`, or the branch for provider git).
    id: String,
    version: String,
    approvals: usize,
    required: u32,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct StatusReport {
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

pub fn run(args: StatusArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    check_names(&[("package", args.package.as_ref())])?;
    let session = Session::open(ctx)?;
    let Session { settings, wc, .. } = &session;
    let argocd = ctx.config()?.string("argocd.server")?;
    let all_apps = wc
        .apps()
        .map_err(|err| gitops_error("cannot read the GitOps repository", err))?;
    let mut apps: Vec<(String, String)> = all_apps
        .iter()
        .filter(|(package, _)| args.package.as_deref().is_none_or(|p| p == package))
        .cloned()
        .collect();
    let open = session.list()?;
    // Open promotions, with their branches read back; others are not dk's.
    let open: Vec<(&PullRequest, BranchName)> = open
        .iter()
        .filter_map(|pr| Some((pr, BranchName::parse(&pr.branch).ok()?)))
        .collect();
    for (_, branch) in &open {
        if args.package.as_deref().is_none_or(|p| p == branch.package) {
            apps.push((branch.package.clone(), branch.cell.clone()));
        }
    }
    if let Some(package) = &args.package
        && apps.is_empty()
    {
        // Argo CD may know an application the repository does not; without it, a name found
        // nowhere is most likely a typo, not a package deployed nowhere.
        if argocd.is_none() {
            let known = all_apps
                .iter()
                .map(|(name, _)| name.as_str())
                .chain(open.iter().map(|(_, branch)| branch.package.as_str()));
            let hint = match did_you_mean(package, known) {
                Some(name) => format!("did you mean `{name}`? (`dk status` lists every package)"),
                None => format!(
                    "`dk promote {package} VERSION --to ENV` deploys it; `dk status` lists every package"
                ),
            };
            return Err(CliError::usage(format!(
                "`{package}` was never promoted: no environment of the GitOps repository has it and no promotion of it is open"
            ))
            .hint(hint));
        }
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
            let pending = open.iter().find(|(_, branch)| {
                branch.env == env.name && &branch.cell == cell && &branch.package == package
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
            if let Some((pr, branch)) = pending {
                let open = format!(
                    "PR {} open ({}/{} approvals) for {}",
                    pr.id,
                    pr.approvals.len(),
                    env.approvals,
                    branch.version
                );
                status = if committed.is_some() {
                    format!("{status}; {open}")
                } else {
                    open
                };
            }
            let pending = pending.map(|(pr, branch)| PendingPromotion {
                id: pr.id.clone(),
                version: branch.version.clone(),
                approvals: pr.approvals.len(),
                required: env.approvals,
            });
            rows.push(StatusRow {
                package: package.clone(),
                environment: env.name.clone(),
                cell: cell.clone(),
                version: committed.map(|(version, _)| version),
                status,
                pending,
            });
        }
    }
    ctx.ui.emit(&StatusReport {
        source: if argocd.is_some() { "argocd" } else { "gitops" },
        rows,
    })
}
