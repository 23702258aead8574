//! Files that look like credentials, by name (`.env`, `id_rsa`, `.aws/credentials`, ...) or by
//! content (private key blocks, AWS access key ids, GitHub, GitLab, Slack, Google and Stripe
//! tokens). `dk build` refuses to bundle them and `dk lint` reports them (DK119), both through
//! [`credential_files`], unless the Transform allows them in `spec.build.allow`.

use std::io::Read;
use std::path::Path;
use std::sync::LazyLock;

use ignore::gitignore::GitignoreBuilder;

use crate::PackageError;
use crate::bundle::{self, Entry, EntryKind};

/// How much of each file is scanned: keys and tokens sit in small files, near the top.
const SCAN_BYTES: u64 = 1 << 20;

/// A file that looks like it holds a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suspect {
    /// Relative to the package, `/`-separated.
    pub path: String,
    /// What it looks like (`a private key`, `named like a dotenv file`).
    pub reason: String,
}

/// Names that hold credentials whatever their content (gitignore syntax).
const NAMES: &[(&str, &str)] = &[
    (".env", "a dotenv file"),
    (".env.*", "a dotenv file"),
    ("!.env.example", ""),
    ("!.env.sample", ""),
    ("!.env.template", ""),
    ("credentials.json", "a credentials file"),
    ("**/.aws/credentials", "AWS credentials"),
    ("id_rsa", "an SSH private key"),
    ("id_dsa", "an SSH private key"),
    ("id_ecdsa", "an SSH private key"),
    ("id_ed25519", "an SSH private key"),
    (".netrc", "a netrc file (passwords)"),
    ("_netrc", "a netrc file (passwords)"),
    (".pgpass", "a PostgreSQL password file"),
    (".git-credentials", "git credentials"),
    ("**/.docker/config.json", "Docker registry credentials"),
    ("*.p12", "a PKCS#12 key store"),
    ("*.pfx", "a PKCS#12 key store"),
    ("*.key", "a private key file"),
];

/// Content that is a credential, wherever it appears: each pattern with the literals one of
/// which it must contain. The literal test is a plain substring search; the regular expression
/// runs only where one is found, so ordinary files (code, CSV) cost one pass per literal, not a
/// regex match per pattern (lint scans every file of every package).
struct Pattern {
    literals: &'static [&'static str],
    regex: regex_lite::Regex,
    what: &'static str,
}

static CONTENT: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    let patterns: [(&'static [&'static str], &str, &'static str); 12] = [
        (
            &["PRIVATE KEY"],
            r"-----BEGIN ([A-Z]+ )*PRIVATE KEY( BLOCK)?-----",
            "a private key",
        ),
        (
            &["AKIA", "ASIA"],
            r"\b(AKIA|ASIA)[0-9A-Z]{16}\b",
            "an AWS access key id",
        ),
        (&["gh"], r"\bgh[pousr]_[A-Za-z0-9]{36}\b", "a GitHub token"),
        (
            &["github_pat_"],
            r"\bgithub_pat_[A-Za-z0-9_]{22,}",
            "a GitHub token",
        ),
        (&["glpat-"], r"\bglpat-[A-Za-z0-9_-]{20,}", "a GitLab token"),
        (
            &["xox"],
            r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
            "a Slack token",
        ),
        (&["AIza"], r"\bAIza[0-9A-Za-z_-]{35}\b", "a Google API key"),
        (
            &["k_live_"],
            r"\b[sr]k_live_[0-9A-Za-z]{24,}\b",
            "a Stripe secret key",
        ),
        (&["npm_"], r"\bnpm_[A-Za-z0-9]{36}\b", "an npm token"),
        (
            &["_authToken"],
            r"_authToken\s*=\s*\S{8,}",
            "an npm registry token (.npmrc)",
        ),
        (
            &["pypi-"],
            r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}",
            "a PyPI token",
        ),
        (
            &["eyJ"],
            r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
            "a JSON Web Token (a kubeconfig or service token)",
        ),
    ];
    patterns
        .into_iter()
        .map(|(literals, pattern, what)| Pattern {
            literals,
            regex: regex_lite::Regex::new(pattern).expect("a valid pattern"),
            what,
        })
        .collect()
});

/// What in `text` looks like a credential, if anything.
pub fn credential_in(text: &str) -> Option<&'static str> {
    CONTENT
        .iter()
        .find(|pattern| {
            pattern
                .literals
                .iter()
                .any(|literal| text.contains(literal))
                && pattern.regex.is_match(text)
        })
        .map(|pattern| pattern.what)
}

static NAME_RULES: LazyLock<ignore::gitignore::Gitignore> = LazyLock::new(|| {
    let mut builder = GitignoreBuilder::new("");
    // `.ENV` and `Credentials.JSON` are the same files to whoever reads them.
    builder
        .case_insensitive(true)
        .expect("case folding of plain globs");
    for (pattern, _) in NAMES {
        builder.add_line(None, pattern).expect("valid patterns");
    }
    builder.build().expect("valid patterns")
});

fn by_name(path: &str) -> Option<&'static str> {
    let matched = NAME_RULES.matched_path_or_any_parents(path, false);
    let glob = matched.is_ignore().then(|| matched.inner()).flatten()?;
    NAMES
        .iter()
        .find(|(pattern, _)| *pattern == glob.original())
        .map(|(_, what)| *what)
}

/// The bundled files (`entries`, a package's selection) that look like credentials, minus those
/// `allow` names (gitignore-style globs, `spec.build.allow`).
pub fn credential_files(entries: &[Entry], allow: &[String]) -> Result<Vec<Suspect>, PackageError> {
    let files = entries
        .iter()
        .filter(|entry| matches!(entry.kind, EntryKind::File { .. }))
        .map(|entry| (entry.path.as_str(), entry.source.as_path()));
    suspects(files, allow, |_| None)
}

/// The files of the package in `dir` that `dk build` would bundle and refuse as credentials
/// ([`bundle::selection`], then [`credential_files`]'s test). `known` gives the text of a file
/// (by its `/`-separated path in the package) that the caller has read already, so that it is
/// not read a second time; other files are read. A link leading outside the package is
/// [`PackageError::LinksOutside`], as for `dk build`.
pub fn package_credentials<'a>(
    dir: &Path,
    allow: &[String],
    known: impl Fn(&str) -> Option<&'a str>,
) -> Result<Vec<Suspect>, PackageError> {
    let selected = bundle::selection(dir)?;
    let files = selected
        .iter()
        .filter(|selected| selected.link.is_none())
        .map(|selected| (selected.path.as_str(), selected.source.as_path()));
    suspects(files, allow, known)
}

fn suspects<'a, 'b>(
    files: impl Iterator<Item = (&'b str, &'b Path)>,
    allow: &[String],
    known: impl Fn(&str) -> Option<&'a str>,
) -> Result<Vec<Suspect>, PackageError> {
    let allowed = if allow.is_empty() {
        None
    } else {
        let mut builder = GitignoreBuilder::new("");
        for pattern in allow {
            builder.add_line(None, pattern).map_err(|err| {
                PackageError::Invalid(format!("spec.build.allow: `{pattern}`: {err}"))
            })?;
        }
        let allowed = builder
            .build()
            .map_err(|err| PackageError::Invalid(format!("spec.build.allow: {err}")))?;
        Some(allowed)
    };
    let mut suspects = Vec::new();
    for (path, source) in files {
        if allowed
            .as_ref()
            .is_some_and(|allowed| allowed.matched_path_or_any_parents(path, false).is_ignore())
        {
            continue;
        }
        let reason = match by_name(path) {
            Some(what) => Some(format!("named like {what}")),
            None => match known(path) {
                Some(text) => credential_in(&scanned(text.as_bytes())),
                None => scan(source)?,
            }
            .map(|what| format!("holds {what}")),
        };
        if let Some(reason) = reason {
            suspects.push(Suspect {
                path: path.to_owned(),
                reason,
            });
        }
    }
    Ok(suspects)
}

fn scan(path: &Path) -> Result<Option<&'static str>, PackageError> {
    let (file, _) =
        dk_fs::open_regular(path, u64::MAX).map_err(|err| PackageError::fs(path, err))?;
    let mut bytes = Vec::new();
    file.take(SCAN_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|err| PackageError::io(path, err))?;
    Ok(credential_in(&scanned(&bytes)))
}

/// The part of a file's bytes that is scanned, as text.
fn scanned(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(&bytes[..bytes.len().min(SCAN_BYTES as usize)])
}

/// The refusal of a build: each file, and the two ways out.
pub fn refusal(suspects: &[Suspect]) -> String {
    let mut text = String::from("the package holds files that look like credentials:");
    for suspect in suspects {
        text.push_str(&format!("\n  {}: {}", suspect.path, suspect.reason));
    }
    text
}

/// What to do about a refusal.
pub const HINT: &str = "exclude each file in .dkignore (or .gitignore), or, if it must be bundled, allow it in dk.yaml: spec.build.allow: [\"PATH-OR-GLOB\"]";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_hold_credentials() {
        assert_eq!(by_name(".env"), Some("a dotenv file"));
        assert_eq!(by_name("config/.env.production"), Some("a dotenv file"));
        assert_eq!(by_name(".env.example"), None);
        assert_eq!(by_name("home/.aws/credentials"), Some("AWS credentials"));
        assert_eq!(by_name("keys/id_rsa"), Some("an SSH private key"));
        assert_eq!(by_name("keys/id_rsa.pub"), None);
        assert_eq!(by_name("credentials.json"), Some("a credentials file"));
        assert_eq!(by_name("main.py"), None);
        assert_eq!(by_name(".ENV"), Some("a dotenv file"));
        assert_eq!(by_name("Credentials.JSON"), Some("a credentials file"));
    }

    #[test]
    fn contents_that_are_credentials() {
        let github = format!("token = \"ghp_{}\"", "a".repeat(36));
        assert_eq!(credential_in(&github), Some("a GitHub token"));
        assert_eq!(
            credential_in("-----BEGIN OPENSSH PRIVATE KEY-----\nabc"),
            Some("a private key")
        );
        assert_eq!(
            credential_in("-----BEGIN RSA PRIVATE KEY-----"),
            Some("a private key")
        );
        assert_eq!(
            credential_in("aws_access_key_id=AKIAIOSFODNN7EXAMPLE"),
            Some("an AWS access key id")
        );
        assert_eq!(
            credential_in(&format!("glpat-{}", "x".repeat(20))),
            Some("a GitLab token")
        );
        assert_eq!(
            credential_in("SLACK=xoxb-123456789012-abcdefgh"),
            Some("a Slack token")
        );
        assert_eq!(
            credential_in(&format!(
                "//registry.npmjs.org/:_authToken=npm_{}",
                "A".repeat(36)
            )),
            Some("an npm token")
        );
        assert_eq!(
            credential_in("//npm.example/:_authToken=0123456789abcdef"),
            Some("an npm registry token (.npmrc)")
        );
        assert_eq!(
            credential_in(&format!(
                "password = pypi-AgEIcHlwaS5vcmc{}",
                "B".repeat(60)
            )),
            Some("a PyPI token")
        );
        assert_eq!(
            credential_in(
                "    token: eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJkay10ZXN0In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
            ),
            Some("a JSON Web Token (a kubeconfig or service token)")
        );
        assert_eq!(credential_in("-----BEGIN CERTIFICATE-----"), None);
        assert_eq!(credential_in("select * from orders"), None);
    }
}
