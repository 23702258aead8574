//! `dk gitops init`: creates the GitOps repository (DESIGN §7).

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use dk_gitops::repo;

use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::output::{Render, Ui};
use crate::promotion::{gitops_error, is_local, settings};

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

pub fn run(args: InitArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
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
    // Promotions go to gitops.repo: a repository elsewhere is used once the config points at it.
    let promoted_to = is_local(&settings.url)
        && std::path::absolute(&settings.url).is_ok_and(|configured| configured == absolute);
    ctx.ui.emit_message(&Initialised {
        path: absolute.display().to_string(),
        created,
        promoted_to,
        environments: envs.iter().map(|e| (*e).to_owned()).collect(),
    })
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Initialised {
    path: String,
    created: bool,
    /// Whether gitops.repo names this repository, so promotions go to it.
    promoted_to: bool,
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
                "  policy.yaml: the signatures and provenance each environment requires (none yet)"
            )?;
            let first = self.environments.first().map_or("dev", String::as_str);
            if self.promoted_to {
                writeln!(out, "  Next: dk promote PKG VERSION --to {first}")
            } else {
                writeln!(
                    out,
                    "  Next: dk config set gitops.repo {}, then dk promote PKG VERSION --to {first}",
                    self.path
                )
            }
        } else {
            writeln!(
                out,
                "{mark} The GitOps repository {} exists; nothing changed",
                self.path
            )
        }
    }
}
