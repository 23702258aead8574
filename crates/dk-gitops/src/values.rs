//! An app's values file: dk owns `namespace`, `appVersion`, `digest` and `registry`, and the
//! artifact's `mode`, `schedule` and `image`; it writes the artifact's `replicas` and
//! `resources` where the file has none. Every other key and comment is the user's and survives
//! every promotion.

use serde_json::{Map, Value, json};

use dk_manifest::yaml::{Seg, remove_value, set_value};

use crate::GitOpsError;
use crate::policy::Requirement;
use crate::source::LOCAL;

/// The keys dk writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    pub package: String,
    pub namespace: String,
    pub version: String,
    pub digest: String,
    pub registry: String,
    /// The artifact's workload keys ([`crate::source::workload`]); `None` leaves them as they are.
    pub workload: Option<Map<String, Value>>,
}

/// Why `registry: local`, above it in the file while it is so.
const LOCAL_NOTE: &str = "# registry local: the artifact is only in the local registry of the machine that promoted it; a cluster cannot pull it (dk publish --registry REG, then promote again).";

/// Workload keys that follow the artifact on every promotion.
const FOLLOW: [&str; 3] = ["mode", "schedule", "image"];
/// Workload keys the artifact sets only where the file has none: a human's value wins.
const DEFAULTS: [&str; 2] = ["replicas", "resources"];

/// A new values file for `release` in `env`/`cell`.
pub fn new_file(release: &Release, env: &str, cell: &str) -> Result<String, GitOpsError> {
    let text = format!(
        "# {} in {env}/{cell}. dk promote sets namespace, appVersion, digest, registry, and mode,\n\
         # schedule and image from the artifact (replicas and resources where absent); add your\n\
         # own keys and edit replicas or resources: promotions keep them and their comments.\n\
         package: {}\nnamespace: {}\nappVersion: {}\ndigest: {}\nregistry: {}\n",
        release.package,
        release.package,
        release.namespace,
        release.version,
        release.digest,
        release.registry,
    );
    update(&text, release)
}

fn edit_error(err: impl std::fmt::Display) -> GitOpsError {
    GitOpsError::Invalid(format!("values file: {err}"))
}

/// `text` with dk's keys set to `release`.
pub fn update(text: &str, release: &Release) -> Result<String, GitOpsError> {
    let present: Value = serde_saphyr::from_str(text).unwrap_or(Value::Null);
    let mut text = text.to_owned();
    for (key, value) in [
        ("namespace", &release.namespace),
        ("appVersion", &release.version),
        ("digest", &release.digest),
        ("registry", &release.registry),
    ] {
        text = set_value(&text, &[Seg::from(key)], &json!(value))
            .map_err(edit_error)?
            .text;
    }
    for (key, value) in release.workload.iter().flatten() {
        let follows = FOLLOW.contains(&key.as_str());
        if !follows && (!DEFAULTS.contains(&key.as_str()) || !present[key.as_str()].is_null()) {
            continue;
        }
        text = if !value.is_null() {
            set_value(&text, &[Seg::from(key.as_str())], value)
                .map_err(edit_error)?
                .text
        } else if follows {
            remove_value(&text, &[Seg::from(key.as_str())])
                .map_err(edit_error)?
                .map_or(text, |edited| edited.text)
        } else {
            text
        };
    }
    Ok(note_local(&text, release.registry == LOCAL))
}

/// `text` with [`LOCAL_NOTE`] above the top-level `registry:` line when `local`, else without it.
fn note_local(text: &str, local: bool) -> String {
    let mut out = String::with_capacity(text.len() + LOCAL_NOTE.len());
    for line in text.split_inclusive('\n') {
        if line.trim_end() == LOCAL_NOTE {
            continue;
        }
        if local && line.starts_with("registry:") {
            out.push_str(LOCAL_NOTE);
            out.push('\n');
        }
        out.push_str(line);
    }
    out
}

/// The key under which the cluster finds what to verify before the package runs: the public
/// keys and the builder the environment's policy requires (public keys are not secrets).
const VERIFY: &str = "verify";

/// The `verify` section `requirement` asks the cluster to check; `None` when it asks nothing.
pub fn verify_section(requirement: &Requirement) -> Option<Value> {
    if requirement.is_empty() {
        return None;
    }
    let mut section = Map::new();
    let keys = requirement.keys.iter().map(|key| json!(key.pem)).collect();
    section.insert("keys".into(), Value::Array(keys));
    if let Some(builder) = &requirement.builder {
        section.insert("builder".into(), json!(builder));
    }
    Some(Value::Object(section))
}

/// `text` with its `verify` section set to what `requirement` asks (removed when nothing).
pub fn set_verify(text: &str, requirement: &Requirement) -> Result<String, GitOpsError> {
    let path = [Seg::from(VERIFY)];
    Ok(match verify_section(requirement) {
        Some(section) => set_value(text, &path, &section).map_err(edit_error)?.text,
        None => remove_value(text, &path)
            .map_err(edit_error)?
            .map_or_else(|| text.to_owned(), |edited| edited.text),
    })
}

/// Whether the `verify` section of `text` is exactly what `requirement` asks the cluster to
/// check: a values file whose keys differ would have the cluster verify against other keys.
pub fn verifies(text: &str, requirement: &Requirement) -> bool {
    let present: Value = serde_saphyr::from_str(text).unwrap_or(Value::Null);
    // The chart's default shape (no keys, no builder) asks as little as no section at all.
    let asks = |v: &&Value| {
        v.get("keys")
            .and_then(Value::as_array)
            .is_some_and(|k| !k.is_empty())
            || v.get("builder")
                .and_then(Value::as_str)
                .is_some_and(|b| !b.is_empty())
    };
    present.get(VERIFY).filter(asks) == verify_section(requirement).as_ref()
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
            workload: None,
        }
    }

    #[test]
    fn promotions_keep_hand_written_keys_and_comments() {
        let mut text = new_file(&release("v1.0.0"), "prod", "c0").unwrap();
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

    #[test]
    fn the_artifact_sets_its_workload_and_a_humans_replicas_win() {
        let mut first = release("v1.0.0");
        first.registry = LOCAL.into();
        first.workload = Some(
            json!({"mode": "batch", "schedule": {"cron": "0 2 * * *", "timezone": "UTC", "suspend": false}, "image": null, "replicas": 1, "resources": {"memory": "1Gi"}})
                .as_object()
                .unwrap()
                .clone(),
        );
        let text = new_file(&first, "dev", "c0").unwrap();
        assert!(
            text.contains(&format!("{LOCAL_NOTE}\nregistry: local\n")),
            "{text}"
        );
        let value: Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(value["schedule"]["cron"], "0 2 * * *");
        assert_eq!(value["replicas"], 1);
        assert!(value.get("image").is_none(), "{text}");
        let edited = text.replace("replicas: 1", "replicas: 3  # INC-7");
        let mut next = release("v1.1.0");
        next.workload = Some(
            json!({"mode": "streaming", "schedule": null, "image": "node:22", "replicas": 1, "resources": null})
                .as_object()
                .unwrap()
                .clone(),
        );
        let text = update(&edited, &next).unwrap();
        assert!(!text.contains(LOCAL_NOTE), "{text}");
        assert!(text.contains("replicas: 3  # INC-7"), "{text}");
        let value: Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(value["mode"], "streaming");
        assert!(value.get("schedule").is_none(), "{text}");
        assert_eq!(value["image"], "node:22");
        assert_eq!(value["resources"]["memory"], "1Gi");
        assert_eq!(value["registry"], "ghcr.io/org");
    }

    #[test]
    fn the_verify_section_follows_the_policy_and_keeps_the_rest() {
        use crate::policy::Requirement;
        let text = new_file(&release("v1.0.0"), "prod", "c0").unwrap() + "# mine\nreplicas: 2\n";
        let requirement = Requirement {
            keys: vec![crate::policy::tests::key("k1")],
            builder: Some("https://ci.example/release".into()),
        };
        assert!(verifies(&text, &Requirement::default()));
        let empty = format!("{text}verify:\n  keys: []\n  builder: \"\"\n");
        assert!(verifies(&empty, &Requirement::default()));
        assert!(!verifies(&empty, &requirement));
        assert!(!verifies(&text, &requirement));
        let gated = set_verify(&text, &requirement).unwrap();
        assert!(verifies(&gated, &requirement), "{gated}");
        assert!(!verifies(&gated, &Requirement::default()));
        assert!(gated.contains("# mine\nreplicas: 2\n"), "{gated}");
        let value: Value = serde_saphyr::from_str(&gated).unwrap();
        assert_eq!(value["verify"]["keys"][0], requirement.keys[0].pem.as_str());
        assert_eq!(value["verify"]["builder"], "https://ci.example/release");
        // A hand edit of the keys is no longer what the policy asks.
        let edited = gated.replace("MCow", "MCox");
        assert_ne!(edited, gated);
        assert!(!verifies(&edited, &requirement));
        let ungated = set_verify(&gated, &Requirement::default()).unwrap();
        assert_eq!(ungated, text);
    }
}
