//! GitOps promotion (DESIGN §7): the GitOps repository (`envs/<env>/cells/<cell>/apps/<pkg>/
//! values.yaml`, the shared chart, the Argo CD ApplicationSet), environments with their approval
//! policies, and providers that turn a promotion into a pull request: `git` (branches, approvals
//! as SSH-signed commits checked against the repository's own allowed signers, merged by dk), `github` (the REST API; Gitea serves the same) and
//! `gitlab` (merge requests and approvals). A promotion is a typed [`plan`]: its branch
//! ([`branch::BranchName`]), the pull request's text and labels, the environments it skips,
//! the auto-merge policy and the approval gate; the frontend only renders it.
//! Git network operations use the system `git`, so the user's credentials work unchanged.

use std::path::PathBuf;

pub mod argocd;
pub mod branch;
pub mod doctor;
pub mod environments;
pub mod forge;
pub mod gate;
pub mod git;
pub mod names;
pub mod plan;
pub mod policy;
pub mod promotion;
pub mod repo;
pub mod source;
pub mod values;

#[derive(Debug, thiserror::Error)]
pub enum GitOpsError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`git {command}` failed: {message}")]
    Git { command: String, message: String },
    #[error("{0}")]
    Invalid(String),
    /// A name or version given on the command line (or in config) that is not the shape it
    /// must have; it never reaches a path, a branch or a URL.
    #[error("{what} {value:?} is not {rule}")]
    BadName {
        what: &'static str,
        value: String,
        rule: &'static str,
    },
    /// Reading or writing the working copy was refused: a link, a special or oversized file.
    #[error(transparent)]
    Fs(#[from] dk_fs::FsError),
    /// The GitOps repository holds a symbolic link where a promotion writes.
    #[error(
        "{path} is a symbolic link in the GitOps repository (branch {branch}); dk does not write through links"
    )]
    Link { path: String, branch: String },
    /// An artifact only this machine has, promoted into a repository a cluster reads.
    #[error(
        "{package} {version} was never pushed to a registry: a cluster reading {repo} could not pull it"
    )]
    NeverPushed {
        package: String,
        version: String,
        repo: String,
    },
    /// gitops.repo is a folder with the base branch checked out, which git refuses to push to.
    #[error(
        "{} has {base} checked out and refuses pushes to it: run `git -C {} config receive.denyCurrentBranch updateInstead` (dk gitops init PATH does), or set gitops.repo to a bare clone",
        path.display(),
        path.display()
    )]
    CheckedOut { path: PathBuf, base: String },
    /// The promotion's branch no longer merges cleanly: the base changed the same files since
    /// it was opened (another promotion of the package to the same environment and cell).
    #[error("{branch} conflicts with {base}: {files} changed there since the promotion was opened")]
    Conflict {
        branch: String,
        base: String,
        files: String,
    },
    /// `policy.yaml` on the base branch is not a policy dk can apply: a gate must not open
    /// because of a typo.
    #[error("{location}: {message}")]
    Policy {
        location: String,
        message: String,
        hint: String,
    },
    /// The registry holding an artifact's signatures could not be read.
    #[error("{0}")]
    Registry(String),
    #[error("{message}")]
    Forge {
        message: String,
        /// The variable holding the forge's token (`GITHUB_TOKEN`, …), for hints.
        token_variable: &'static str,
    },
}

impl GitOpsError {
    pub fn io(path: &std::path::Path, source: std::io::Error) -> GitOpsError {
        GitOpsError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// `text` without terminal escape sequences (CSI `ESC [ … final`, OSC `ESC ] … BEL`) and
/// without other control characters, so what a forge says cannot drive the terminal.
pub(crate) fn strip_controls(text: &str) -> String {
    let mut clean = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            match chars.next() {
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&c) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' {
                            break;
                        }
                        if c == '\u{1b}' {
                            chars.next();
                            break;
                        }
                    }
                }
                _ => {}
            }
        } else if !c.is_control() {
            clean.push(c);
        }
    }
    clean
}
