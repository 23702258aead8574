//! Closing a promotion without merging it: `dk promote close`, and `dk rollback` for the open
//! promotions it supersedes. It then leaves `dk status` and `dk promote list`.

use serde::Serialize;

use dk_gitops::branch::BranchName;
use dk_gitops::forge::PullRequest;

use super::{Session, gitops_error};
use crate::error::CliError;

/// A promotion dk closed.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Closed {
    pub id: String,
    pub branch: String,
    pub package: String,
    pub version: String,
    pub env: String,
    pub cell: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Said on the pull request (a forge's comment) and here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Closed {
    /// `#12 (my-pkg v1.2.0 to prod/c0)`.
    pub fn what(&self) -> String {
        format!(
            "{} ({} {} to {}/{})",
            self.id, self.package, self.version, self.env, self.cell
        )
    }
}

/// Closes `pr`, a promotion on `branch`, leaving `reason` on it.
pub fn close(
    session: &Session,
    pr: PullRequest,
    branch: BranchName,
    reason: Option<String>,
) -> Result<Closed, CliError> {
    session
        .forge
        .close(&session.wc, &pr, reason.as_deref())
        .map_err(|err| gitops_error(&format!("cannot close {}", pr.id), err))?;
    Ok(Closed {
        id: pr.id,
        branch: pr.branch,
        package: branch.package,
        version: branch.version,
        env: branch.env,
        cell: branch.cell,
        url: pr.url,
        reason,
    })
}
