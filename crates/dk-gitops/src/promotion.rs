//! Opening and merging a promotion so that a re-run and a concurrent run of the same promotion
//! converge on one pull request: a pushed branch whose pull request was never opened is
//! reused, a pull request someone else opened first is found, and a merge someone else made
//! first counts as done.

use crate::GitOpsError;
use crate::forge::{Forge, PullRequest, labels_trailer};
use crate::repo::WorkingCopy;
use crate::values;

/// One promotion's change and its pull request's text.
#[derive(Debug)]
pub struct Change<'a> {
    pub branch: &'a str,
    pub path: &'a str,
    pub contents: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub labels: &'a [String],
}

/// Where a promotion stands once [`open`] is done.
#[derive(Debug)]
pub enum Opened {
    /// Its pull request was open already (an earlier or a concurrent run).
    Found(PullRequest),
    /// dk opened it.
    Opened(PullRequest),
    /// The same change is on the base already: a concurrent run merged it.
    Landed,
}

/// Opens the pull request of `change`, or finds it. A branch left by a run whose pull request
/// failed to open is reused; a pull request or merge made by a concurrent run of the same
/// promotion is found instead of failing.
pub fn open(
    wc: &WorkingCopy,
    forge: &dyn Forge,
    change: &Change<'_>,
) -> Result<Opened, GitOpsError> {
    if let Some(pr) = forge.find(wc, change.branch)? {
        return Ok(Opened::Found(pr));
    }
    let message = format!(
        "{}\n\n{}\n{}",
        change.title,
        change.body,
        labels_trailer(change.labels)
    );
    let reused = wc.push_change(change.branch, change.path, change.contents, &message)?;
    if reused && landed(wc, change)? {
        return Ok(Opened::Landed);
    }
    match forge.open(wc, change.branch, change.title, change.body, change.labels) {
        // A concurrent run merged the change between the check above and the opening: this
        // pull request has nothing to merge, and would be a second one.
        Ok(pr) if landed(wc, change)? => {
            forge.close(wc, &pr, None)?;
            Ok(Opened::Landed)
        }
        Ok(pr) => Ok(Opened::Opened(pr)),
        Err(err) => settle(|| {
            if landed(wc, change)? {
                return Ok(Some(Opened::Landed));
            }
            Ok(forge.find(wc, change.branch)?.map(Opened::Found))
        })?
        .ok_or(err),
    }
}

/// How often the state a concurrent run leaves is read again, 100 ms apart and doubling: its
/// pull request can be closed as merged a moment before the merge shows on the base, and in
/// that moment it is neither open nor landed.
const SETTLE_ATTEMPTS: u32 = 5;

/// The first `Some` that `look` finds, giving a concurrent run about 1.5 s to finish.
fn settle<T>(
    mut look: impl FnMut() -> Result<Option<T>, GitOpsError>,
) -> Result<Option<T>, GitOpsError> {
    for attempt in 0..SETTLE_ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(std::time::Duration::from_millis(100 << (attempt - 1)));
        }
        if let Some(found) = look()? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// Whether the base holds the release `change` writes, after a fetch.
fn landed(wc: &WorkingCopy, change: &Change<'_>) -> Result<bool, GitOpsError> {
    wc.fetch()?;
    let wanted = values::read(change.contents);
    Ok(wanted.is_some()
        && wc
            .read(&wc.base, change.path)?
            .as_deref()
            .and_then(values::read)
            == wanted)
}

/// Merges `pr`; a merge that fails because the same change landed already (a concurrent run
/// merged it) is done, not an error.
pub fn merge(
    wc: &WorkingCopy,
    forge: &dyn Forge,
    pr: &PullRequest,
    message: &str,
    change: &Change<'_>,
) -> Result<(), GitOpsError> {
    match forge.merge(wc, pr, message) {
        Ok(_) => Ok(()),
        Err(err) => match settle(|| Ok(landed(wc, change)?.then_some(())))? {
            Some(()) => Ok(()),
            None => Err(err),
        },
    }
}
