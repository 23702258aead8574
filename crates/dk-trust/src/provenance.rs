//! What dk states about an artifact, as in-toto Statements v1: the SLSA v1 provenance of a
//! build, and the statement a signature of the artifact signs (its manifest digest).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use dk_package::bundle::{Entry, EntryKind};

use crate::TrustError;

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PROVENANCE_PREDICATE: &str = "https://slsa.dev/provenance/v1";
/// The predicate of a signature of the artifact itself: it names the artifact, nothing more.
pub const SIGNATURE_PREDICATE: &str = "https://datakit.dev/signature/v1";
/// How dk builds: the externalParameters and internalParameters of its provenance.
pub const BUILD_TYPE: &str = "https://datakit.dev/build/package/v1";
/// The builder a build names unless configured: "local" claims nothing about the machine.
pub const DEFAULT_BUILDER: &str = "local";

/// An in-toto Statement v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    #[serde(rename = "_type")]
    pub statement_type: String,
    pub subject: Vec<ResourceDescriptor>,
    pub predicate_type: String,
    #[serde(default)]
    pub predicate: Value,
}

/// An in-toto ResourceDescriptor (the fields dk uses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceDescriptor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Value>,
}

impl Statement {
    pub fn from_slice(bytes: &[u8]) -> Result<Statement, TrustError> {
        serde_json::from_slice(bytes)
            .map_err(|err| TrustError::Invalid(format!("not an in-toto statement: {err}")))
    }

    pub fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a statement serialises")
    }

    /// Whether a subject of the statement is the artifact `digest` (`sha256:<hex>`).
    pub fn names(&self, digest: &str) -> bool {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.subject
            .iter()
            .any(|s| s.digest.get("sha256").is_some_and(|d| d == hex))
    }
}

fn subject(name: &str, digest: &str) -> Vec<ResourceDescriptor> {
    vec![ResourceDescriptor {
        name: Some(name.to_owned()),
        uri: None,
        digest: BTreeMap::from([(
            "sha256".to_owned(),
            digest.strip_prefix("sha256:").unwrap_or(digest).to_owned(),
        )]),
        annotations: None,
    }]
}

/// The statement `dk sign` signs for the artifact `name` (`namespace/name`) at `digest`.
pub fn signature_statement(name: &str, digest: &str) -> Statement {
    Statement {
        statement_type: STATEMENT_TYPE.to_owned(),
        subject: subject(name, digest),
        predicate_type: SIGNATURE_PREDICATE.to_owned(),
        predicate: json!({}),
    }
}

/// The package's git state: where it is, at which commit and tree, and whether its folder
/// differs from that commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitState {
    /// The repository (its origin without credentials, else its folder).
    pub uri: String,
    /// The package's folder in the repository, `""` at its root.
    pub path: String,
    pub commit: String,
    pub tree: String,
    pub dirty: bool,
}

/// The git state of the package folder `dir`, `None` outside a repository (or without `git`).
/// `uri` is the repository's public address, found by the caller.
pub fn git_state(dir: &Path, uri: &str) -> Option<GitState> {
    let git = |args: &[&str]| -> Option<String> {
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
    };
    let path = git(&["rev-parse", "--show-prefix"])?;
    let ids = git(&["rev-parse", "HEAD", "HEAD^{tree}"])?;
    let (commit, tree) = ids.split_once('\n')?;
    let status = git(&["status", "--porcelain", "--", "."])?;
    Some(GitState {
        uri: uri.to_owned(),
        path: path.trim_end_matches('/').to_owned(),
        commit: commit.trim().to_owned(),
        tree: tree.trim().to_owned(),
        dirty: !status.is_empty(),
    })
}

/// Files are hashed as they are read; none is larger than a build takes, but the read is
/// still bounded.
const INPUT_FILE_LIMIT: u64 = 16 << 30;

/// The digest of a package's inputs: SHA-256 of the lines `<sha256 of the file>  <path>`, sorted
/// by path (what `sha256sum` prints); a link's line hashes its target text instead.
pub fn inputs_digest(entries: &[Entry]) -> Result<String, TrustError> {
    let mut lines: Vec<(String, String)> = Vec::with_capacity(entries.len());
    for entry in entries {
        let hash = match &entry.kind {
            EntryKind::File { .. } => {
                let (mut file, _) = dk_fs::open_regular(&entry.source, INPUT_FILE_LIMIT)
                    .map_err(|err| TrustError::Io(err.to_string()))?;
                let mut hasher = Sha256::new();
                let mut buffer = vec![0u8; 1 << 16];
                loop {
                    let n = file.read(&mut buffer).map_err(|err| {
                        TrustError::Io(format!("{}: {err}", entry.source.display()))
                    })?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buffer[..n]);
                }
                hex::encode(hasher.finalize())
            }
            EntryKind::Symlink { target } => hex::encode(Sha256::digest(target.as_bytes())),
        };
        lines.push((entry.path.clone(), hash));
    }
    lines.sort();
    let mut all = Sha256::new();
    for (path, hash) in &lines {
        all.update(format!("{hash}  {path}\n").as_bytes());
    }
    Ok(format!("sha256:{}", hex::encode(all.finalize())))
}

/// What a build knows about itself.
#[derive(Debug, Clone)]
pub struct BuildFacts {
    /// `namespace/name`.
    pub name: String,
    pub tag: String,
    /// The manifest digest of the artifact.
    pub digest: String,
    pub builder_id: String,
    pub dk_version: String,
    pub source: Option<GitState>,
    /// [`inputs_digest`] of the bundled files.
    pub inputs_digest: String,
    /// Every file time of the bundle.
    pub epoch: u64,
    /// SOURCE_DATE_EPOCH as given: the only time a provenance may state and stay reproducible.
    pub source_date_epoch: Option<u64>,
    /// Why a too-small version bump was allowed.
    pub allow_breaking: Option<String>,
}

/// The SLSA v1 provenance of a build, as an in-toto statement. It holds no wall-clock time
/// (only SOURCE_DATE_EPOCH, when set), so the same build states the same bytes.
pub fn provenance(facts: &BuildFacts) -> Statement {
    let mut external = json!({
        "package": facts.name,
        "tag": facts.tag,
    });
    let mut dependencies = vec![json!({
        "name": "inputs",
        "digest": {"sha256": facts.inputs_digest.trim_start_matches("sha256:")},
    })];
    if let Some(source) = &facts.source {
        external["source"] = json!({
            "uri": source.uri,
            "path": source.path,
        });
        dependencies.insert(
            0,
            json!({
                "uri": format!("git+{}@{}", source.uri, source.commit),
                "digest": {"gitCommit": source.commit, "gitTree": source.tree},
                "annotations": {"dirty": source.dirty, "path": source.path},
            }),
        );
    }
    let mut internal = json!({ "sourceDateEpoch": facts.epoch });
    if let Some(reason) = &facts.allow_breaking {
        internal["allowBreaking"] = json!(reason);
    }
    let mut metadata = json!({});
    if let Some(epoch) = facts.source_date_epoch
        && let Some(time) = rfc3339(epoch)
    {
        metadata["startedOn"] = json!(time);
        metadata["finishedOn"] = json!(time);
    }
    Statement {
        statement_type: STATEMENT_TYPE.to_owned(),
        subject: subject(&facts.name, &facts.digest),
        predicate_type: PROVENANCE_PREDICATE.to_owned(),
        predicate: json!({
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": external,
                "internalParameters": internal,
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {
                    "id": facts.builder_id,
                    "version": {"dk": facts.dk_version},
                },
                "metadata": metadata,
            },
        }),
    }
}

/// `epoch` as an RFC 3339 UTC time (days from the civil calendar, no time zone database).
fn rfc3339(epoch: u64) -> Option<String> {
    let days = i64::try_from(epoch / 86_400).ok()?;
    let secs = epoch % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    ))
}

/// The builder id a provenance names, `None` when it names none.
pub fn builder_of(statement: &Statement) -> Option<&str> {
    statement
        .predicate
        .pointer("/runDetails/builder/id")
        .and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000).unwrap(), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400).unwrap(), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn a_provenance_names_its_subject_and_builder() {
        let facts = BuildFacts {
            name: "default/demo".into(),
            tag: "v1.0.0".into(),
            digest: format!("sha256:{}", "a".repeat(64)),
            builder_id: "https://ci.example/builder".into(),
            dk_version: "0.1.0".into(),
            source: None,
            inputs_digest: format!("sha256:{}", "b".repeat(64)),
            epoch: 0,
            source_date_epoch: None,
            allow_breaking: None,
        };
        let statement = provenance(&facts);
        assert!(statement.names(&facts.digest));
        assert!(!statement.names(&format!("sha256:{}", "c".repeat(64))));
        assert_eq!(builder_of(&statement), Some("https://ci.example/builder"));
        let again = Statement::from_slice(&statement.to_vec()).unwrap();
        assert_eq!(again, statement);
        assert_eq!(statement.to_vec(), provenance(&facts).to_vec());
    }
}
