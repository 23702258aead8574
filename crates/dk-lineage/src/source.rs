//! Where a package's code lives in git, as it goes into lineage (`sourceCodeLocation`) and into
//! artifact annotations (`org.opencontainers.image.source`): never with credentials.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::run::SourceCode;

/// A git remote as a URI without credentials: `git@host:org/repo.git` becomes
/// `ssh://git@host/org/repo.git`, `https://user:token@host/x?access_token=t#frag` becomes
/// `https://host/x`. Query strings and fragments are dropped because forges accept tokens there
/// (`?access_token=`, `?private_token=`); an ssh user name is kept because it is not a secret
/// (`git@`), its password is not.
pub fn public_remote(remote: &str) -> String {
    without_passwords(&uri_of(remote))
}

/// `user:password@` keeps only `user@` wherever it stands: git reads `https:/user:pw@host/x` (one
/// slash) as scp-like syntax, which puts the credentials in the path.
fn without_passwords(uri: &str) -> String {
    uri.split('/')
        .map(|segment| match segment.rsplit_once('@') {
            Some((userinfo, host)) if userinfo.contains(':') => {
                format!("{}@{host}", userinfo.split(':').next().unwrap_or_default())
            }
            _ => segment.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The remote as a URI, without query, fragment or `;` parameters (forges accept tokens there).
fn uri_of(remote: &str) -> String {
    let remote = remote
        .split(['?', '#', ';'])
        .next()
        .unwrap_or_default()
        .trim_end();
    if let Some((scheme, rest)) = remote.split_once("://") {
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = match authority.rsplit_once('@') {
            Some((user, host)) if scheme == "ssh" => {
                let user = user.split(':').next().unwrap_or_default();
                format!("{user}@{host}")
            }
            Some((_, host)) => host.to_owned(),
            None => authority.to_owned(),
        };
        return format!("{scheme}://{host}/{path}");
    }
    // scp-like syntax, `[user[:password]@]host:path`: only the user name is kept.
    let head = remote.split('/').next().unwrap_or_default();
    let (user, rest) = match head.rsplit_once('@') {
        Some((userinfo, _)) => (
            userinfo.split(':').next().map(|user| format!("{user}@")),
            &remote[userinfo.len() + 1..],
        ),
        None => (None, remote),
    };
    match rest.split_once(':') {
        Some((host, path)) if !host.contains('/') => {
            format!("ssh://{}{host}/{path}", user.unwrap_or_default())
        }
        _ => format!("file://{remote}"),
    }
}

/// What `git -C dir ARGS` prints, trimmed, when it succeeds (`None` without git, outside a
/// repository, or on any failure).
pub fn git_output(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Where the code in `dir` lives in git, when it is in a repository: the `origin` remote (or the
/// repository's own path) without credentials, commit, branch and folder.
pub fn git_source(dir: &Path) -> Option<SourceCode> {
    let git = |args: &[&str]| git_output(dir, args);
    let facts = git(&[
        "rev-parse",
        "--show-toplevel",
        "--show-prefix",
        "HEAD",
        "--abbrev-ref",
        "HEAD",
    ])?;
    let mut lines = facts.lines();
    let (root, prefix) = (lines.next()?, lines.next().unwrap_or_default());
    let (version, branch) = (lines.next(), lines.next());
    let remote = git(&["config", "--get", "remote.origin.url"]).unwrap_or_else(|| root.to_owned());
    Some(SourceCode {
        repo_url: public_remote(&remote),
        path: Some(prefix.trim_end_matches('/').to_owned()).filter(|path| !path.is_empty()),
        version: version.map(str::to_owned),
        branch: branch.filter(|branch| *branch != "HEAD").map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::public_remote;

    #[test]
    fn remotes_become_uris_without_credentials() {
        for (remote, uri) in [
            (
                "git@github.com:acme/pipelines.git",
                "ssh://git@github.com/acme/pipelines.git",
            ),
            (
                "https://user:ghp_token@github.com/acme/p.git",
                "https://github.com/acme/p.git",
            ),
            (
                "https://github.com/acme/p.git",
                "https://github.com/acme/p.git",
            ),
            (
                "ssh://git:secret@host:22/acme/p.git",
                "ssh://git@host:22/acme/p.git",
            ),
            ("/srv/git/pipelines", "file:///srv/git/pipelines"),
            (
                "https:/user:SLASHPW@host/o/r.git",
                "ssh://https//user@host/o/r.git",
            ),
            ("https://host/o/r.git;token=TOKS", "https://host/o/r.git"),
            (
                "https://gitlab.example/acme/p.git?access_token=glpat-SECRET",
                "https://gitlab.example/acme/p.git",
            ),
            (
                "https://host/acme/p.git?private_token=SECRET#frag",
                "https://host/acme/p.git",
            ),
            ("https://host/acme/p.git#SECRET", "https://host/acme/p.git"),
            ("https://oauth2:SECRET@host?x=1", "https://host/"),
            (
                "git:SECRET@github.com:acme/p.git",
                "ssh://git@github.com/acme/p.git",
            ),
        ] {
            let public = public_remote(remote);
            assert_eq!(public, uri, "{remote}");
            assert!(!public.contains("SECRET"), "{public}");
        }
    }
}
