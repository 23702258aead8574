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
    "charts/dk-app/templates/packagedeployment.yaml",
    "argocd/applicationset.yaml",
];

/// Where an app's values live.
pub fn values_path(env: &str, cell: &str, package: &str) -> String {
    format!("envs/{env}/cells/{cell}/apps/{package}/values.yaml")
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
            write(&work.join(name), &contents)?;
        }
        for env in envs {
            write(&work.join(format!("envs/{env}/cells/c0/apps/.gitkeep")), "")?;
        }
        let git = Git::new(&work);
        git.run(&["add", "-A"])?;
        git.run(&["commit", "-q", "-m", "GitOps repository (dk gitops init)"])?;
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

fn write(path: &Path, contents: &str) -> Result<(), GitOpsError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|err| GitOpsError::io(dir, err))?;
    }
    std::fs::write(path, contents).map_err(|err| GitOpsError::io(path, err))
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
        git.run(&["fetch", "-q", "--prune", "origin"])?;
        Ok(WorkingCopy {
            git,
            base: base.to_owned(),
            _lock: lock,
        })
    }

    pub fn dir(&self) -> PathBuf {
        self.git.dir().to_owned()
    }

    fn origin(&self, branch: &str) -> String {
        format!("origin/{branch}")
    }

    /// A file as it is on `branch` of the remote.
    pub fn read(&self, branch: &str, path: &str) -> Result<Option<String>, GitOpsError> {
        self.git
            .try_output(&["show", &format!("{}:{path}", self.origin(branch))])
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

    /// Commits `path` = `contents` on a new `branch` from the base, and pushes the branch.
    pub fn commit_branch(
        &self,
        branch: &str,
        path: &str,
        contents: &str,
        message: &str,
    ) -> Result<(), GitOpsError> {
        self.git
            .run(&["checkout", "-q", "-B", branch, &self.origin(&self.base)])?;
        write(&self.dir().join(path), contents)?;
        self.git.run(&["add", "--", path])?;
        self.git.run(&["commit", "-q", "-m", message])?;
        self.push(branch)
    }

    /// Adds an empty commit with `trailer` on the remote `branch`.
    pub fn add_trailer(
        &self,
        branch: &str,
        message: &str,
        trailer: &str,
    ) -> Result<(), GitOpsError> {
        self.git
            .run(&["checkout", "-q", "-B", branch, &self.origin(branch)])?;
        self.git.run(&[
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            message,
            "--trailer",
            trailer,
        ])?;
        self.push(branch)
    }

    /// The values of `key` trailers on the commits of `branch` that are not on the base.
    pub fn trailers(&self, branch: &str, key: &str) -> Result<Vec<String>, GitOpsError> {
        let text = self.git.run(&[
            "log",
            &format!("{}..{}", self.origin(&self.base), self.origin(branch)),
            &format!("--format=%(trailers:key={key},valueonly,separator=%x0A)"),
        ])?;
        let mut values: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        values.sort();
        values.dedup();
        Ok(values)
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
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.git
                .run(&["checkout", "-q", "-B", &self.base, &self.origin(&self.base)])?;
            self.git.run(&[
                "merge",
                "-q",
                "--no-ff",
                "-m",
                message,
                &self.origin(branch),
            ])?;
            let pushed = self.push(&self.base);
            match pushed {
                Ok(_) => break,
                // Someone landed first (or holds the remote's lock): take theirs and try again,
                // a little later each time so that racing promoters spread out.
                Err(_) if attempt < MERGE_ATTEMPTS => {
                    let pause = 50 * u64::from(attempt) + u64::from(std::process::id() % 50);
                    std::thread::sleep(std::time::Duration::from_millis(pause));
                    self.git.run(&["fetch", "-q", "--prune", "origin"])?;
                }
                Err(err) => return Err(err),
            }
        }
        let sha = self.git.run(&["rev-parse", "HEAD"])?;
        self.git
            .run(&["push", "-q", "origin", "--delete", branch])?;
        self.git.run(&["fetch", "-q", "--prune", "origin"])?;
        Ok(sha)
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
            let Some(text) = self
                .git
                .try_output(&["show", &format!("{commit}:{path}")])?
            else {
                continue;
            };
            if let Some(release) = crate::values::read(&text)
                && versions.last() != Some(&release)
            {
                versions.push(release);
            }
        }
        Ok(versions)
    }
}
