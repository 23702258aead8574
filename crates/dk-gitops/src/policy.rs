//! The promotion policy: `policy.yaml` at the root of the GitOps repository says, per
//! environment, what a version must prove before it runs there: a signature by one of
//! `requireSignature`'s public keys, and signed provenance from the builder
//! `requireProvenance.builder`. It is read from the base branch only (what was reviewed and
//! merged), never from a promotion's branch or a working tree the promoter could edit, so
//! weakening it is a change to the base like any other. Unknown keys and environments are
//! errors: a typo must not switch a gate off.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use crate::GitOpsError;
use crate::environments::Environments;
use crate::repo::WorkingCopy;

/// Where the policy lives in the GitOps repository.
pub const POLICY: &str = "policy.yaml";

/// The policy a new repository starts with (`dk gitops init`): nothing required.
pub const DEFAULT: &str = include_str!("../skeleton/policy.yaml");

/// What one environment requires. Empty: nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirement {
    /// A signature by any one of these keys.
    pub keys: Vec<PublicKey>,
    /// Provenance from this builder, signed by one of `keys`.
    pub builder: Option<String>,
}

impl Requirement {
    /// Whether the environment requires anything at all.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.builder.is_none()
    }
}

/// A public key the policy names (PEM `-----BEGIN PUBLIC KEY-----`, ECDSA P-256 or Ed25519).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// The SHA-256 of its SubjectPublicKeyInfo DER, hex: the `keyid` of dk's signatures.
    pub id: String,
    /// As PEM, the way the chart's init container reads it.
    pub pem: String,
    pub key: dk_trust::PublicKey,
    /// Where it was written: the repository path of its file, else `policy.yaml:LINE`.
    pub origin: String,
}

/// The parsed policy, per environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    environments: BTreeMap<String, Requirement>,
}

impl Policy {
    /// What `env` requires (nothing when the policy does not name it).
    pub fn requirement(&self, env: &str) -> Requirement {
        self.environments.get(env).cloned().unwrap_or_default()
    }

    /// The repository files the policy's keys come from: a promotion must not change them.
    pub fn files(&self) -> Vec<String> {
        let mut files: Vec<String> = self
            .environments
            .values()
            .flat_map(|r| &r.keys)
            .filter(|key| !key.origin.starts_with(POLICY))
            .map(|key| key.origin.clone())
            .collect();
        files.sort();
        files.dedup();
        files
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    environments: Option<HashMap<Spanned<String>, Option<RawRequirement>>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawRequirement {
    #[serde(default)]
    require_signature: Vec<Spanned<String>>,
    #[serde(default)]
    require_provenance: Option<Spanned<RawProvenance>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvenance {
    builder: String,
}

const WHAT: &str = "the promotion policy";

fn error(at: Location, message: impl Into<String>, hint: impl Into<String>) -> GitOpsError {
    GitOpsError::Policy {
        location: format!("{POLICY}:{}:{}", at.line(), at.column()),
        message: message.into(),
        hint: hint.into(),
    }
}

/// Parses `text` (the base branch's `policy.yaml`) for `environments`; a key given as a path
/// is read with `read` (the file on the base branch, `None` when it is not there).
pub fn parse(
    text: &str,
    environments: &Environments,
    read: impl Fn(&str) -> Result<Option<String>, GitOpsError>,
) -> Result<Policy, GitOpsError> {
    let raw: RawPolicy = serde_saphyr::from_str(text).map_err(|err| {
        let at = err.location().unwrap_or(Location::UNKNOWN);
        let message = err.without_snippet().to_string();
        let message = message.lines().next().unwrap_or_default().to_owned();
        error(
            at,
            format!("{WHAT} does not parse: {message}"),
            "write environments: {ENV: {requireSignature: [KEY…], requireProvenance: {builder: ID}}} (see the comments dk gitops init wrote)",
        )
    })?;
    let mut entries: Vec<_> = raw.environments.unwrap_or_default().into_iter().collect();
    entries.sort_by_key(|(name, _)| (name.referenced.line(), name.referenced.column()));
    let mut policy = Policy::default();
    for (name, requirement) in entries {
        let at = name.referenced;
        if environments.get(&name.value).is_err() {
            let configured: Vec<&str> = environments.0.iter().map(|e| e.name.as_str()).collect();
            return Err(error(
                at,
                format!("`{}` is not an environment", name.value),
                format!(
                    "name one of the configured environments ({}); a misspelt one would require nothing",
                    configured.join(", ")
                ),
            ));
        }
        let Some(requirement) = requirement else {
            continue;
        };
        let mut keys = Vec::new();
        for key in &requirement.require_signature {
            let key = public_key(key, &read)?;
            if !keys.iter().any(|k: &PublicKey| k.id == key.id) {
                keys.push(key);
            }
        }
        let builder = match requirement.require_provenance {
            Some(provenance) if keys.is_empty() => {
                return Err(error(
                    provenance.referenced,
                    format!("{}: requireProvenance without requireSignature", name.value),
                    "list the keys whose signature the provenance must carry under requireSignature: unsigned provenance proves nothing",
                ));
            }
            Some(provenance) if provenance.value.builder.trim().is_empty() => {
                return Err(error(
                    provenance.referenced,
                    format!("{}: requireProvenance.builder is empty", name.value),
                    "give the builder id the provenance must name (runDetails.builder.id)",
                ));
            }
            Some(provenance) => Some(provenance.value.builder),
            None => None,
        };
        policy
            .environments
            .insert(name.value, Requirement { keys, builder });
    }
    Ok(policy)
}

/// The policy on the base branch of the GitOps repository: what was reviewed and merged, never
/// a promotion's branch or a working tree. A repository without one requires nothing.
pub fn from_base(wc: &WorkingCopy, environments: &Environments) -> Result<Policy, GitOpsError> {
    let Some(text) = wc.read(&wc.base, POLICY)? else {
        return Ok(Policy::default());
    };
    parse(&text, environments, |path| wc.read(&wc.base, path))
}

/// A `requireSignature` entry: inline PEM, or the repository path of a PEM file.
fn public_key(
    entry: &Spanned<String>,
    read: &impl Fn(&str) -> Result<Option<String>, GitOpsError>,
) -> Result<PublicKey, GitOpsError> {
    let at = entry.referenced;
    let text = entry.value.trim();
    let (pem, origin) = if text.starts_with("-----BEGIN") {
        (text.to_owned(), format!("{POLICY}:{}", at.line()))
    } else {
        let path = text;
        let bad_path = path.is_empty()
            || path.starts_with('/')
            || path.contains('\\')
            || path.split('/').any(|part| matches!(part, "" | "." | ".."));
        if bad_path {
            return Err(error(
                at,
                format!("{path:?} is neither a PEM public key nor a path in the repository"),
                "inline the key (-----BEGIN PUBLIC KEY----- …) or give its path from the repository's root, like keys/release.pub",
            ));
        }
        let contents = read(path)?.ok_or_else(|| {
            error(
                at,
                format!("{path} is not in the GitOps repository's base branch"),
                "commit the public key there first (dk key generate NAME writes NAME.pub), in a reviewed change",
            )
        })?;
        (contents.trim().to_owned(), path.to_owned())
    };
    let key = dk_trust::PublicKey::from_pem(&pem).map_err(|why| {
        let private = pem.contains("PRIVATE KEY");
        error(
            at,
            // An inline key's place is the error's own; a file is named.
            match origin.starts_with(POLICY) {
                true => why.to_string(),
                false => format!("{origin}: {why}"),
            },
            if private {
                "never commit a private key: give the public half (NAME.pub from dk key generate), and replace the exposed key"
            } else {
                "give a PEM public key (-----BEGIN PUBLIC KEY-----), as dk key generate writes NAME.pub"
            },
        )
    })?;
    Ok(PublicKey {
        id: key.key_id(),
        pem: key.to_pem(),
        key,
        origin,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::environments::defaults;

    /// An Ed25519 SubjectPublicKeyInfo (44 bytes of DER) as PEM.
    pub(crate) const KEY: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----";

    /// [`KEY`] under another id, for tests that only compare ids.
    pub(crate) fn key(id: &str) -> PublicKey {
        let spanned = Spanned::new(KEY.to_owned(), Location::UNKNOWN, Location::UNKNOWN);
        let mut key = public_key(&spanned, &no_files).unwrap();
        key.id = id.to_owned();
        key
    }

    fn no_files(_: &str) -> Result<Option<String>, GitOpsError> {
        Ok(None)
    }

    fn err(text: &str) -> (String, String, String) {
        match parse(text, &defaults(), no_files).unwrap_err() {
            GitOpsError::Policy {
                location,
                message,
                hint,
            } => (location, message, hint),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn the_default_requires_nothing() {
        let policy = parse(DEFAULT, &defaults(), no_files).unwrap();
        assert_eq!(policy, Policy::default());
        assert!(policy.requirement("prod").is_empty());
    }

    #[test]
    fn keys_inline_and_from_the_repository_with_a_builder() {
        let text = format!(
            "environments:\n  prod:\n    requireSignature:\n      - keys/release.pub\n      - |\n{}\n    requireProvenance:\n      builder: https://ci.example/release\n  int:\n    requireSignature: [keys/release.pub]\n",
            KEY.lines()
                .map(|l| format!("        {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        let other = KEY.replace("Gb9E", "Hb9E");
        let read = |path: &str| -> Result<Option<String>, GitOpsError> {
            Ok((path == "keys/release.pub").then(|| other.clone()))
        };
        let policy = parse(&text, &defaults(), read).unwrap();
        let prod = policy.requirement("prod");
        assert_eq!(prod.keys.len(), 2);
        assert_eq!(prod.keys[0].origin, "keys/release.pub");
        assert_eq!(prod.keys[1].origin, "policy.yaml:6");
        assert_eq!(prod.keys[1].id.len(), 64, "{}", prod.keys[1].id);
        assert_ne!(prod.keys[0].id, prod.keys[1].id);
        assert_eq!(prod.builder.as_deref(), Some("https://ci.example/release"));
        assert_eq!(policy.requirement("int").keys, prod.keys[..1]);
        assert!(policy.requirement("dev").is_empty());
        assert_eq!(policy.files(), ["keys/release.pub"]);
    }

    #[test]
    fn a_misspelt_key_is_an_error_at_its_place() {
        let (location, message, _) =
            err("environments:\n  prod:\n    requireSignatures: [keys/a.pub]\n");
        assert_eq!(location, "policy.yaml:3:5");
        assert!(message.contains("requireSignatures"), "{message}");
        let (location, message, _) = err("enviroments:\n  prod: {}\n");
        assert_eq!(location, "policy.yaml:1:1");
        assert!(message.contains("enviroments"), "{message}");
        let (location, message, _) = err(
            "environments:\n  prod:\n    requireSignature: [keys/a.pub]\n    requireProvenance: {buider: x}\n",
        );
        assert!(location.starts_with("policy.yaml:4:"), "{location}");
        assert!(message.contains("buider"), "{message}");
    }

    #[test]
    fn an_unknown_environment_is_an_error_naming_the_configured_ones() {
        let (location, message, hint) =
            err("environments:\n  dev: {}\n  prd:\n    requireSignature: []\n");
        assert_eq!(location, "policy.yaml:3:3");
        assert_eq!(message, "`prd` is not an environment");
        assert!(hint.contains("dev, int, prod"), "{hint}");
    }

    #[test]
    fn bad_keys_are_refused_with_what_to_give() {
        let (location, message, _) =
            err("environments:\n  prod:\n    requireSignature:\n      - keys/missing.pub\n");
        assert_eq!(location, "policy.yaml:4:9");
        assert!(message.contains("keys/missing.pub is not in"), "{message}");
        let (_, message, _) =
            err("environments:\n  prod:\n    requireSignature: [../etc/key.pub]\n");
        assert!(message.contains("neither a PEM"), "{message}");
        let (_, message, _) = err("environments:\n  prod:\n    requireSignature: [/etc/key.pub]\n");
        assert!(message.contains("neither a PEM"), "{message}");
        let broken = KEY.replace("MCow", "M!ow");
        let (_, message, _) = err(&format!(
            "environments:\n  prod:\n    requireSignature: [{broken:?}]\n"
        ));
        assert!(message.contains("not a public key PEM"), "{message}");
        let truncated = KEY.replace("\n-----END PUBLIC KEY-----", "");
        let (_, message, _) = err(&format!(
            "environments:\n  prod:\n    requireSignature: [{truncated:?}]\n"
        ));
        assert!(message.contains("not a public key PEM"), "{message}");
        let private =
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----";
        let (_, message, hint) = err(&format!(
            "environments:\n  prod:\n    requireSignature: [{private:?}]\n"
        ));
        assert!(message.contains("not a public key PEM"), "{message}");
        assert!(hint.contains("never commit a private key"), "{hint}");
    }

    #[test]
    fn provenance_needs_keys_and_a_builder() {
        let (location, message, _) =
            err("environments:\n  prod:\n    requireProvenance: {builder: ci}\n");
        assert!(location.starts_with("policy.yaml:3:"), "{location}");
        assert!(message.contains("without requireSignature"), "{message}");
        let (_, message, _) = err(&format!(
            "environments:\n  prod:\n    requireSignature: [{KEY:?}]\n    requireProvenance: {{builder: ' '}}\n"
        ));
        assert!(message.contains("builder is empty"), "{message}");
    }

    #[test]
    fn yaml_that_does_not_parse_says_where() {
        let (location, message, _) = err("environments:\n  prod: [\n");
        assert!(location.starts_with("policy.yaml:"), "{location}");
        assert!(
            message.starts_with("the promotion policy does not parse"),
            "{message}"
        );
    }
}
