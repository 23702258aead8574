//! The GitOps repository: its skeleton (`dk gitops init`), and a working copy of it under
//! `$DK_HOME` where promotions are prepared, committed and pushed.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::GitOpsError;
use crate::git::Git;

macro_rules! skeleton {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../skeleton/", $path)))),*]
    };
}

/// The files `dk gitops init` writes.
pub const SKELETON: &[(&str, &str)] = skeleton![
    "README.md",
    "charts/dk-app/Chart.yaml",
    "charts/dk-app/values.yaml",
    "charts/dk-app/templates/_helpers.tpl",
    "charts/dk-app/templates/checks.yaml",
    "charts/dk-app/templates/job.yaml",
    "charts/dk-app/templates/cronjob.yaml",
    "charts/dk-app/templates/deployment.yaml",
    "charts/dk-app/templates/keys.yaml",
    "argocd/applicationset.yaml",
    ".dk/allowed_signers",
    "policy.yaml",
];

/// Who may approve under the `git` provider: an ssh-keygen allowed-signers file, read from the
/// base branch only.
pub const ALLOWED_SIGNERS: &str = ".dk/allowed_signers";

/// The largest file dk reads from the repository (a values file, the allowed signers).
pub const MAX_FILE: u64 = 1 << 20;

/// The trailer that makes a signed commit an approval of the branch it names.
const APPROVAL_TRAILER: &str = "Promotion-Approval";

/// A verified approval: who (the allowed signer's principal) and with which key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub principal: String,
    pub fingerprint: String,
}

/// Where an app's values live.
pub fn values_path(env: &str, cell: &str, package: &str) -> String {
    format!("envs/{env}/cells/{cell}/apps/{package}/values.yaml")
}

/// `url` as the ApplicationSet may name it: without credentials. An https URL loses its whole
/// user part (often a token); an ssh one keeps its user (`git@`) and loses a password.
pub fn public_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = match authority.rsplit_once('@') {
        Some((user, host)) if scheme.starts_with("ssh") => {
            let user = user.split(':').next().unwrap_or_default();
            format!("{user}@{host}")
        }
        Some((_, host)) => host.to_owned(),
        None => authority.to_owned(),
    };
    format!("{scheme}://{host}{path}")
}

/// Creates the GitOps repository at `path` on `base`, with the skeleton and one folder per
/// environment; `bare` makes it a bare repository (the zero-infrastructure default, which
/// promotions push to like any remote). A repository that is there already is left alone.
pub fn init(
    path: &Path,
    base: &str,
    envs: &[&str],
    repo_url: &str,
    bare: bool,
) -> Result<bool, GitOpsError> {
    if path.join(".git").exists() || path.join("HEAD").exists() {
        return Ok(false);
    }
    let work = if bare {
        path.with_extension(format!("init-{}", std::process::id()))
    } else {
        path.to_owned()
    };
    std::fs::create_dir_all(&work).map_err(|err| GitOpsError::io(&work, err))?;
    let created = (|| {
        Git::new(&work).run(&["init", "-q", "-b", base])?;
        for (name, contents) in SKELETON {
            let contents = contents
                .replace("REPO_URL", repo_url)
                .replace("BASE_BRANCH", base);
            dk_fs::write_atomic_beneath(&work, Path::new(name), contents.as_bytes())?;
        }
        for env in envs {
            let keep = format!("envs/{env}/cells/c0/apps/.gitkeep");
            dk_fs::write_atomic_beneath(&work, Path::new(&keep), b"")?;
        }
        let git = Git::new(&work);
        git.run(&["add", "-A"])?;
        git.run(&["commit", "-q", "-m", "GitOps repository (dk gitops init)"])?;
        if !bare {
            // Promotions push to the checked-out base branch when gitops.repo is this folder:
            // git updates the clean working tree instead of refusing the push.
            git.run(&["config", "receive.denyCurrentBranch", "updateInstead"])?;
        }
        if bare {
            let parent = path.parent().unwrap_or(path);
            Git::new(parent).run(&[
                "clone",
                "-q",
                "--bare",
                &work.display().to_string(),
                &path.display().to_string(),
            ])?;
        }
        Ok(())
    })();
    if bare {
        let _ = std::fs::remove_dir_all(&work);
    }
    created.map(|()| true)
}

/// Refuses, before anything is pushed, a local non-bare repository at `path` that has `base`
/// checked out and refuses pushes to it (git's default): the merge would fail half-way, after
/// the promotion's branch was pushed.
pub fn check_pushable(path: &Path, base: &str) -> Result<(), GitOpsError> {
    if !path.join(".git").exists() {
        return Ok(());
    }
    let git = Git::new(path);
    if git
        .try_run(&["symbolic-ref", "--short", "HEAD"])?
        .as_deref()
        != Some(base)
    {
        return Ok(());
    }
    let setting = git.try_run(&["config", "receive.denyCurrentBranch"])?;
    if matches!(
        setting.as_deref(),
        Some("updateInstead" | "ignore" | "warn" | "false")
    ) {
        return Ok(());
    }
    Err(GitOpsError::CheckedOut {
        path: path.to_owned(),
        base: base.to_owned(),
    })
}

/// How often a merge is pushed again after the remote moved on.
const MERGE_ATTEMPTS: u32 = 10;

/// A working copy of the GitOps repository, locked while one dk works in it.
#[derive(Debug)]
pub struct WorkingCopy {
    pub git: Git,
    pub base: String,
    _lock: File,
}

impl WorkingCopy {
    /// Clones `url` into `dir` (or reuses the clone), fetches, and locks it.
    pub fn open(url: &str, dir: &Path, base: &str) -> Result<WorkingCopy, GitOpsError> {
        std::fs::create_dir_all(dir).map_err(|err| GitOpsError::io(dir, err))?;
        let lock_path = dir.with_extension("lock");
        let lock = File::create(&lock_path).map_err(|err| GitOpsError::io(&lock_path, err))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|err| GitOpsError::io(&lock_path, err.into()))?;
        if !dir.join(".git").exists() {
            let parent = dir.parent().unwrap_or(dir);
            Git::new(parent).run(&["clone", "-q", url, &dir.display().to_string()])?;
        }
        let git = Git::new(dir);
        git.run(&["remote", "set-url", "origin", url])?;
        // A merge an earlier dk was killed in the middle of (or one from before merges were
        // aborted on failure) would block every checkout.
        if dir.join(".git/MERGE_HEAD").exists() {
            git.run(&["merge", "--abort"])?;
        }
        let wc = WorkingCopy {
            git,
            base: base.to_owned(),
            _lock: lock,
        };
        wc.fetch()?;
        Ok(wc)
    }

    /// Fetches the remote's branches, dropping the deleted ones.
    pub fn fetch(&self) -> Result<(), GitOpsError> {
        self.git
            .run(&["fetch", "-q", "--prune", "origin"])
            .map(drop)
    }

    pub fn dir(&self) -> PathBuf {
        self.git.dir().to_owned()
    }

    fn origin(&self, branch: &str) -> String {
        format!("origin/{branch}")
    }

    /// A file as it is on `branch` of the remote; `None` when it is not there. A link is
    /// refused and so is a file over [`MAX_FILE`]: the size is asked before the bytes.
    pub fn read(&self, branch: &str, path: &str) -> Result<Option<String>, GitOpsError> {
        self.blob(&self.origin(branch), branch, path)
    }

    fn blob(&self, rev: &str, branch: &str, path: &str) -> Result<Option<String>, GitOpsError> {
        let listing = self.git.run(&["ls-tree", "-l", rev, "--", path])?;
        let Some((meta, _)) = listing.lines().next().and_then(|l| l.split_once('\t')) else {
            return Ok(None);
        };
        let fields: Vec<&str> = meta.split_whitespace().collect();
        let [mode, kind, object, size] = fields[..] else {
            return Ok(None);
        };
        if mode == "120000" {
            return Err(GitOpsError::Link {
                path: path.to_owned(),
                branch: branch.to_owned(),
            });
        }
        if kind != "blob" {
            return Err(GitOpsError::Invalid(format!(
                "{path} on {branch} of the GitOps repository is a {kind}, not a file"
            )));
        }
        if size.parse::<u64>().map_or(true, |size| size > MAX_FILE) {
            return Err(GitOpsError::Invalid(format!(
                "{path} on {branch} of the GitOps repository is larger than {MAX_FILE} bytes"
            )));
        }
        self.git.try_output(&["cat-file", "blob", object])
    }

    /// Refuses a symbolic link on `branch` at `path` or at any folder above it, before anything
    /// is checked out or written: git would check the link out and a write would follow it.
    pub fn refuse_links(&self, branch: &str, path: &str) -> Result<(), GitOpsError> {
        let prefixes: Vec<&str> = path
            .match_indices('/')
            .map(|(at, _)| &path[..at])
            .chain([path])
            .collect();
        let mut args = vec!["ls-tree", "-z", &self.origin(branch), "--"]
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        args.extend(prefixes.iter().map(|p| (*p).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let listing = self.git.run(&args)?;
        for entry in listing.split('\0') {
            if let Some((meta, name)) = entry.split_once('\t')
                && meta.starts_with("120000 ")
                && prefixes.contains(&name)
            {
                return Err(GitOpsError::Link {
                    path: name.to_owned(),
                    branch: branch.to_owned(),
                });
            }
        }
        Ok(())
    }

    pub fn branch_exists(&self, branch: &str) -> Result<bool, GitOpsError> {
        Ok(self
            .git
            .try_run(&["rev-parse", "--verify", "-q", &self.origin(branch)])?
            .is_some())
    }

    /// The remote branches below `prefix/`, named in full (`prefix/…`).
    pub fn branches(&self, prefix: &str) -> Result<Vec<String>, GitOpsError> {
        let refs = self.git.run(&[
            "for-each-ref",
            "--format=%(refname:strip=3)",
            &format!("refs/remotes/origin/{prefix}/"),
        ])?;
        Ok(refs
            .lines()
            .map(str::to_owned)
            .filter(|l| !l.is_empty())
            .collect())
    }

    fn push(&self, branch: &str) -> Result<(), GitOpsError> {
        self.git
            .run(&[
                "push",
                "-q",
                "origin",
                &format!("{branch}:refs/heads/{branch}"),
            ])
            .map(drop)
    }

    /// The files `branch` changes against the base (since they parted).
    pub fn changed(&self, branch: &str) -> Result<Vec<String>, GitOpsError> {
        let changed = self.git.run(&[
            "diff",
            "--name-only",
            &format!("{}...{}", self.origin(&self.base), self.origin(branch)),
        ])?;
        Ok(changed.lines().map(str::to_owned).collect())
    }

    /// Whether `branch` changes `path` and nothing else against the base (since they parted).
    fn changes_only(&self, branch: &str, path: &str) -> Result<bool, GitOpsError> {
        Ok(self.changed(branch)?.iter().map(String::as_str).eq([path]))
    }

    /// Whether the remote `branch` already holds exactly this change: `path` = `contents`
    /// and nothing else changed against the base. Such a branch is reused, never pushed over.
    fn holds(&self, branch: &str, path: &str, contents: &str) -> Result<bool, GitOpsError> {
        if !self.branch_exists(branch)? {
            return Ok(false);
        }
        Ok(self.changes_only(branch, path)?
            && self.read(branch, path)?.as_deref() == Some(contents))
    }

    /// Puts `path` = `contents` on `branch`, one commit from the base, and pushes it; `true`
    /// when the remote branch held this change already (a run whose pull request was never
    /// opened, or a concurrent run of the same promotion) and was reused. A link on the way to
    /// `path` is refused before anything is written. A stale branch is replaced only if it is
    /// still the one seen: a concurrent push wins, and its branch is reused when it matches.
    pub fn push_change(
        &self,
        branch: &str,
        path: &str,
        contents: &str,
        message: &str,
    ) -> Result<bool, GitOpsError> {
        self.refuse_links(&self.base, path)?;
        if self.holds(branch, path, contents)? {
            return Ok(true);
        }
        let seen = self
            .git
            .try_run(&["rev-parse", "--verify", "-q", &self.origin(branch)])?
            .unwrap_or_default();
        self.git
            .run(&["checkout", "-q", "-B", branch, &self.origin(&self.base)])?;
        let dir = self.dir();
        dk_fs::write_atomic_beneath(&dir, Path::new(path), contents.as_bytes()).map_err(|err| {
            match err {
                // A link the base did not have: the working copy was tampered with.
                dk_fs::FsError::Link { path: link } => GitOpsError::Link {
                    path: link
                        .strip_prefix(&dir)
                        .unwrap_or(&link)
                        .display()
                        .to_string(),
                    branch: branch.to_owned(),
                },
                other => other.into(),
            }
        })?;
        self.git.run(&["add", "--", path])?;
        self.git.run(&["commit", "-q", "-m", message])?;
        let pushed = self.git.run(&[
            "push",
            "-q",
            &format!("--force-with-lease=refs/heads/{branch}:{seen}"),
            "origin",
            &format!("{branch}:refs/heads/{branch}"),
        ]);
        match pushed {
            Ok(_) => Ok(false),
            Err(err) => {
                self.fetch()?;
                if self.holds(branch, path, contents)? {
                    Ok(true)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Adds an empty commit approving `branch`, signed with SSH (`key`, else the user's
    /// `user.signingKey`), and pushes it.
    pub fn approve(
        &self,
        branch: &str,
        message: &str,
        key: Option<&Path>,
    ) -> Result<(), GitOpsError> {
        // git signs in this working copy, dk's cache clone: a relative key names a file where
        // the user is, so it is made absolute here, where that is still the current directory.
        let key = key
            .map(std::path::absolute)
            .transpose()
            .map_err(|err| GitOpsError::Invalid(format!("cannot locate the SSH key: {err}")))?;
        let key = key.as_deref();
        match key {
            Some(key) if !key.is_file() => {
                return Err(GitOpsError::Invalid(format!(
                    "no SSH key at {} to sign the approval with",
                    key.display()
                )));
            }
            None if self.git.try_run(&["config", "user.signingKey"])?.is_none() => {
                return Err(GitOpsError::Invalid(
                    "an approval is a commit signed with your SSH key: give --key ~/.ssh/id_ed25519 (or git config --global user.signingKey)".to_owned(),
                ));
            }
            _ => {}
        }
        self.git
            .run(&["checkout", "-q", "-B", branch, &self.origin(branch)])?;
        let mut args = vec!["-c".to_owned(), "gpg.format=ssh".to_owned()];
        if let Some(key) = key {
            args.extend([
                "-c".to_owned(),
                format!("user.signingKey={}", key.display()),
            ]);
        }
        args.extend(
            [
                "commit",
                "-q",
                "-S",
                "--allow-empty",
                "-m",
                message,
                "--trailer",
                &format!("{APPROVAL_TRAILER}: {branch}"),
            ]
            .map(str::to_owned),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.git.run(&args)?;
        self.push(branch)
    }

    /// Whether `branch` conflicts with the base: git merges the two in memory
    /// (`git merge-tree`), as the merge would, without touching the working tree.
    pub fn conflicts(&self, branch: &str) -> Result<bool, GitOpsError> {
        let (base, branch) = (self.origin(&self.base), self.origin(branch));
        // Both must be commits, so that merge-tree's answer is about them, not a bad name.
        for name in [&base, &branch] {
            self.git
                .run(&["rev-parse", "--verify", "-q", &format!("{name}^{{commit}}")])?;
        }
        let args = ["merge-tree", "--write-tree", "--name-only", &base, &branch];
        match self.git.code(&args)? {
            0 => Ok(false),
            1 => Ok(true),
            code => Err(GitOpsError::Git {
                command: args.join(" "),
                message: format!("exit {code} (merge-tree --write-tree needs git 2.38 or newer)"),
            }),
        }
    }

    /// The approvals of `branch` that count: commits on it (not on the base) that carry the
    /// approval trailer naming this branch, whose signature git verifies against the allowed
    /// signers of the BASE branch, and whose tree is the branch's tree (a change pushed after
    /// an approval voids it). A key counts once, and so does a principal.
    pub fn approvals(&self, branch: &str) -> Result<Vec<Approval>, GitOpsError> {
        let Some(signers) = self.read(&self.base, ALLOWED_SIGNERS)? else {
            return Ok(Vec::new());
        };
        // An approval is of one values file: a branch that changes anything else (the chart,
        // the allowed signers) is no promotion dk merges, whoever signed it.
        let Ok(promotion) = crate::branch::BranchName::parse(branch) else {
            return Ok(Vec::new());
        };
        let path = promotion.values_path();
        if !self.changes_only(branch, &path)? {
            return Ok(Vec::new());
        }
        let file = Path::new(".git").join("dk-allowed-signers");
        dk_fs::write_atomic_beneath(&self.dir(), &file, signers.as_bytes())?;
        let tip = self
            .git
            .run(&["rev-parse", &format!("{}^{{tree}}", self.origin(branch))])?;
        let log = self.git.run(&[
            "-c",
            &format!("gpg.ssh.allowedSignersFile={}", self.dir().join(&file).display()),
            "log",
            &format!(
                "--format=%T%x1f%G?%x1f%GK%x1f%GS%x1f%(trailers:key={APPROVAL_TRAILER},valueonly,separator=%x2C)%x1e"
            ),
            &format!("{}..{}", self.origin(&self.base), self.origin(branch)),
        ])?;
        let mut approvals: Vec<Approval> = Vec::new();
        for record in log.split('\x1e') {
            let fields: Vec<&str> = record.trim().split('\x1f').collect();
            let [tree, "G", fingerprint, principal, approved] = fields[..] else {
                continue;
            };
            if tree != tip
                || approved.trim() != branch
                || fingerprint.is_empty()
                || principal.is_empty()
                || approvals
                    .iter()
                    .any(|a| a.fingerprint == fingerprint || a.principal == principal)
            {
                continue;
            }
            approvals.push(Approval {
                principal: principal.to_owned(),
                fingerprint: fingerprint.to_owned(),
            });
        }
        approvals.sort_by(|a, b| a.principal.cmp(&b.principal));
        Ok(approvals)
    }

    /// The message of the branch's first commit after the base: the promotion's description.
    pub fn description(&self, branch: &str) -> Result<String, GitOpsError> {
        let first = self.git.run(&[
            "rev-list",
            "--reverse",
            &format!("{}..{}", self.origin(&self.base), self.origin(branch)),
        ])?;
        let Some(commit) = first.lines().next() else {
            return Ok(String::new());
        };
        self.git.run(&["log", "-1", "--format=%B", commit])
    }

    /// Merges `branch` into the base and pushes; a push refused because someone else landed
    /// first is fetched, merged again and retried. The branch is deleted afterwards.
    pub fn merge(&self, branch: &str, message: &str) -> Result<String, GitOpsError> {
        // The commit whose approvals were counted, not whatever the branch points to after a
        // fetch below: a commit pushed in between is not merged unapproved.
        let head = self.git.run(&["rev-parse", &self.origin(branch)])?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.git
                .run(&["checkout", "-q", "-B", &self.base, &self.origin(&self.base)])?;
            if let Err(err) = self
                .git
                .run(&["merge", "-q", "--no-ff", "-m", message, &head])
            {
                return Err(self.abort_merge(branch, err));
            }
            let pushed = self.push(&self.base);
            match pushed {
                Ok(_) => break,
                // Someone landed first (or holds the remote's lock): take theirs and try again,
                // a little later each time so that racing promoters spread out.
                Err(_) if attempt < MERGE_ATTEMPTS => {
                    let pause = 50 * u64::from(attempt) + u64::from(std::process::id() % 50);
                    std::thread::sleep(std::time::Duration::from_millis(pause));
                    self.fetch()?;
                }
                Err(err) => return Err(err),
            }
        }
        let sha = self.git.run(&["rev-parse", "HEAD"])?;
        self.delete_branch(branch)?;
        Ok(sha)
    }

    /// Leaves the working copy as it was before a merge that failed, so that the next command
    /// starts clean; a conflict is told as such, naming the files.
    fn abort_merge(&self, branch: &str, err: GitOpsError) -> GitOpsError {
        let files = self
            .git
            .run(&["diff", "--name-only", "--diff-filter=U"])
            .unwrap_or_default();
        let _ = self.git.run(&["merge", "--abort"]);
        match files.lines().collect::<Vec<_>>() {
            conflicted if !conflicted.is_empty() => GitOpsError::Conflict {
                branch: branch.to_owned(),
                base: self.base.clone(),
                files: conflicted.join(", "),
            },
            _ => err,
        }
    }

    /// Deletes the remote `branch`; one already gone (a concurrent merge deleted it) is fine.
    pub fn delete_branch(&self, branch: &str) -> Result<(), GitOpsError> {
        let deleted = self.git.run(&["push", "-q", "origin", "--delete", branch]);
        self.fetch()?;
        match deleted {
            Err(err) if self.branch_exists(branch)? => Err(err),
            _ => Ok(()),
        }
    }

    /// The apps with a values file on the base, `(package, cell)`, in any environment. The
    /// folders are the repository's to name: only those dk could have written count.
    pub fn apps(&self) -> Result<Vec<(String, String)>, GitOpsError> {
        let listing = self.git.run(&[
            "ls-tree",
            "-r",
            "--name-only",
            &self.origin(&self.base),
            "envs",
        ])?;
        Ok(listing
            .lines()
            .filter_map(|line| {
                let parts: Vec<&str> = line.split('/').collect();
                match parts[..] {
                    ["envs", _, "cells", cell, "apps", package, "values.yaml"]
                        if crate::names::label("cell", cell).is_ok()
                            && crate::names::label("package", package).is_ok() =>
                    {
                        Some((package.to_owned(), cell.to_owned()))
                    }
                    _ => None,
                }
            })
            .collect())
    }

    /// The distinct `appVersion`s a values file had on the base, newest first.
    pub fn history(&self, path: &str) -> Result<Vec<(String, String)>, GitOpsError> {
        let commits = self.git.run(&[
            "log",
            "--first-parent",
            "--format=%H",
            &self.origin(&self.base),
            "--",
            path,
        ])?;
        let mut versions: Vec<(String, String)> = Vec::new();
        for commit in commits.lines() {
            let Some(text) = self.blob(commit, &self.base, path)? else {
                continue;
            };
            // A version dk would not have written is not one to roll back to: it would become
            // a branch name.
            if let Some(release) = crate::values::read(&text)
                && crate::names::version(&release.0).is_ok()
                && versions.last() != Some(&release)
            {
                versions.push(release);
            }
        }
        Ok(versions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bare repository whose main holds `envs/dev/cells/c0/apps/app -> /tmp` and a values
    /// file that is a link, and a working copy of it.
    fn linked() -> (tempfile::TempDir, WorkingCopy) {
        let dir = tempfile::tempdir().unwrap();
        let seed = dir.path().join("seed");
        let apps = seed.join("envs/dev/cells/c0/apps");
        std::fs::create_dir_all(apps.join("other")).unwrap();
        std::os::unix::fs::symlink("/tmp", apps.join("app")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", apps.join("other/values.yaml")).unwrap();
        let git = Git::new(&seed);
        git.run(&["init", "-q", "-b", "main"]).unwrap();
        git.run(&["add", "-A"]).unwrap();
        git.run(&["commit", "-q", "-m", "links"]).unwrap();
        let url = seed.display().to_string();
        let wc = WorkingCopy::open(&url, &dir.path().join("wc"), "main").unwrap();
        (dir, wc)
    }

    #[test]
    fn the_application_set_names_the_repository_without_credentials() {
        for (url, public) in [
            (
                "https://bot:tok@git.example/team/gitops.git",
                "https://git.example/team/gitops.git",
            ),
            ("https://tok@git.example/g", "https://git.example/g"),
            (
                "ssh://git:pw@git.example:22/g",
                "ssh://git@git.example:22/g",
            ),
            (
                "git@github.com:org/gitops.git",
                "git@github.com:org/gitops.git",
            ),
            ("https://git.example/g", "https://git.example/g"),
        ] {
            assert_eq!(super::public_url(url), public);
        }
    }

    #[test]
    fn links_in_the_repository_are_named_and_refused() {
        let (_dir, wc) = linked();
        let err = wc
            .refuse_links("main", &values_path("dev", "c0", "app"))
            .unwrap_err();
        assert!(
            matches!(&err, GitOpsError::Link { path, .. } if path == "envs/dev/cells/c0/apps/app"),
            "{err}"
        );
        let err = wc
            .read("main", &values_path("dev", "c0", "other"))
            .unwrap_err();
        assert!(matches!(err, GitOpsError::Link { .. }), "{err}");
        assert!(
            wc.refuse_links("main", &values_path("dev", "c0", "fresh"))
                .is_ok()
        );
        let err = wc
            .push_change("dk/x", &values_path("dev", "c0", "app"), "a: 1\n", "m")
            .unwrap_err();
        assert!(matches!(err, GitOpsError::Link { .. }), "{err}");
    }

    /// Two promotions of one app to one environment, both opened from the same base: the
    /// second no longer merges once the first did.
    #[test]
    fn a_conflicting_merge_is_named_and_leaves_the_working_copy_clean() {
        let dir = tempfile::tempdir().unwrap();
        let seed = dir.path().join("seed");
        let path = values_path("prod", "c0", "app");
        std::fs::create_dir_all(seed.join(&path).parent().unwrap()).unwrap();
        std::fs::write(seed.join(&path), "appVersion: v0.0.1\n").unwrap();
        let git = Git::new(&seed);
        git.run(&["init", "-q", "-b", "main"]).unwrap();
        git.run(&["config", "receive.denyCurrentBranch", "updateInstead"])
            .unwrap();
        git.run(&["add", "-A"]).unwrap();
        git.run(&["commit", "-q", "-m", "seed"]).unwrap();
        let url = seed.display().to_string();
        let clone = dir.path().join("wc");
        let wc = WorkingCopy::open(&url, &clone, "main").unwrap();
        for version in ["v0.1.0", "v0.2.0"] {
            let branch = format!("dk/promote/prod/c0/app/{version}");
            let values = format!("appVersion: {version}\n");
            wc.push_change(&branch, &path, &values, version).unwrap();
        }
        wc.merge("dk/promote/prod/c0/app/v0.1.0", "first").unwrap();
        let err = wc
            .merge("dk/promote/prod/c0/app/v0.2.0", "second")
            .unwrap_err();
        assert!(
            matches!(&err, GitOpsError::Conflict { files, .. } if *files == path),
            "{err}"
        );
        assert!(!clone.join(".git/MERGE_HEAD").exists(), "merge left open");
        drop(wc);

        // A merge left open by an earlier dk (killed mid-merge) is aborted when the working
        // copy is opened, rather than blocking every command after it.
        let stuck = Git::new(&clone);
        stuck
            .run(&["checkout", "-q", "-B", "main", "origin/main"])
            .unwrap();
        assert!(
            stuck
                .run(&["merge", "-q", "origin/dk/promote/prod/c0/app/v0.2.0"])
                .is_err()
        );
        assert!(clone.join(".git/MERGE_HEAD").exists());
        let wc = WorkingCopy::open(&url, &clone, "main").unwrap();
        assert!(!clone.join(".git/MERGE_HEAD").exists());
        wc.push_change(
            "dk/promote/prod/c0/app/v0.3.0",
            &path,
            "appVersion: v0.3.0\n",
            "third",
        )
        .unwrap();
        wc.merge("dk/promote/prod/c0/app/v0.3.0", "third").unwrap();
    }
}
