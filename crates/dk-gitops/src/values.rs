//! An app's values file: dk owns `appVersion`, `digest` and `registry`; every other key and
//! comment is the user's and survives every promotion.

use serde_json::{Value, json};

use dk_manifest::yaml::{Seg, set_value};

use crate::GitOpsError;

/// The keys dk writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub package: String,
    pub namespace: String,
    pub version: String,
    pub digest: String,
    pub registry: String,
}

/// A new values file for `release` in `env`/`cell`.
pub fn new_file(release: &Release, env: &str, cell: &str) -> String {
    format!(
        "# {} in {env}/{cell}. dk promote sets appVersion, digest and registry; add your own keys\n\
         # (replicas, resources, schedule): promotions keep them and their comments.\n\
         package: {}\nnamespace: {}\nappVersion: {}\ndigest: {}\nregistry: {}\n",
        release.package,
        release.package,
        release.namespace,
        release.version,
        release.digest,
        release.registry,
    )
}

/// `text` with dk's keys set to `release`.
pub fn update(text: &str, release: &Release) -> Result<String, GitOpsError> {
    let mut text = text.to_owned();
    for (key, value) in [
        ("appVersion", &release.version),
        ("digest", &release.digest),
        ("registry", &release.registry),
    ] {
        text = set_value(&text, &[Seg::from(key)], &json!(value))
            .map_err(|err| GitOpsError::Invalid(format!("values file: {err}")))?
            .text;
    }
    Ok(text)
}

/// A top-level text value of a values file (`registry`, `namespace`).
pub fn field(text: &str, key: &str) -> Option<String> {
    let value: Value = serde_saphyr::from_str(text).ok()?;
    value.get(key)?.as_str().map(str::to_owned)
}

/// `appVersion` and `digest` of a values file.
pub fn read(text: &str) -> Option<(String, String)> {
    let value: Value = serde_saphyr::from_str(text).ok()?;
    let version = value.get("appVersion")?.as_str()?.to_owned();
    let digest = value
        .get("digest")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Some((version, digest))
}

/// A line diff of two values files (short texts): ` ` kept, `-` removed, `+` added, in order.
pub fn diff(path: &str, old: &str, new: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    // Longest common subsequence, from the end: lcs[i][j] covers a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut text = format!("--- a/{path}\n+++ b/{path}\n");
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            text.push_str(&format!(" {}\n", a[i]));
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            text.push_str(&format!("-{}\n", a[i]));
            i += 1;
        } else {
            text.push_str(&format!("+{}\n", b[j]));
            j += 1;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_diff_keeps_order() {
        assert_eq!(
            super::diff("v.yaml", "a: 1\nb: 2\nc: 3\n", "a: 1\nb: 5\nc: 3\n"),
            "--- a/v.yaml\n+++ b/v.yaml\n a: 1\n-b: 2\n+b: 5\n c: 3\n"
        );
    }

    use super::*;

    fn release(version: &str) -> Release {
        Release {
            package: "my-pkg".into(),
            namespace: "default".into(),
            version: version.into(),
            digest: format!("sha256:{}", "a".repeat(64)),
            registry: "ghcr.io/org".into(),
        }
    }

    #[test]
    fn promotions_keep_hand_written_keys_and_comments() {
        let mut text = new_file(&release("v1.0.0"), "prod", "c0");
        text.push_str("# two replicas in prod, see INC-42\nreplicas: 2\n");
        for minor in 1..=10 {
            text = update(&text, &release(&format!("v1.{minor}.0"))).unwrap();
        }
        assert!(
            text.contains("# two replicas in prod, see INC-42\nreplicas: 2\n"),
            "{text}"
        );
        assert_eq!(read(&text).unwrap().0, "v1.10.0");
    }
}
