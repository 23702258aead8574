//! Organisation policies: `<project root>/.dk/policies.yaml`.
//!
//! ```yaml
//! policies:
//!   require_classification: true        # DK302 becomes an error
//!   require_retention: true             # DK303 becomes an error
//!   owner_pattern: "^[a-z-]+@example\\.com$"
//!   max_pii_retention_days: 730
//!   confidential_required_tags: [gdpr]
//!   semver: warning                     # dk build warns of a too-small version bump
//! severity:                             # raise, lower or turn off any rule by code
//!   DK116: error
//!   DK113: off
//! ```
//!
//! The file is checked as strictly as a manifest: every problem is a DK013 finding at its
//! `file:line:column`, and an unknown key is an error (a misspelt policy must not silently stop
//! being enforced).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use dk_manifest::load::{Problem, read_source};
use dk_manifest::path;
use dk_manifest::suggest::did_you_mean;
use dk_manifest::yaml::{self, Location, Node};

use crate::Finding;
use crate::rules::{self, Severity};

/// Where a project keeps its policies, relative to its root.
pub const POLICY_FILE: &str = ".dk/policies.yaml";

#[derive(Debug, Clone, Default, Deserialize)]
struct PolicyFile {
    #[serde(default)]
    policies: Settings,
    #[serde(default)]
    severity: BTreeMap<String, Level>,
}

const POLICY_KEYS: &[&str] = &[
    "require_classification",
    "require_retention",
    "owner_pattern",
    "max_pii_retention_days",
    "confidential_required_tags",
    "semver",
];

/// The policy keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Settings {
    #[serde(default)]
    pub require_classification: bool,
    #[serde(default)]
    pub require_retention: bool,
    #[serde(default)]
    pub owner_pattern: Option<String>,
    #[serde(default)]
    pub max_pii_retention_days: Option<u32>,
    #[serde(default)]
    pub confidential_required_tags: Vec<String>,
    /// What `dk build --tag` does with a version bump smaller than the contract diff requires.
    #[serde(default)]
    pub semver: SemverCheck,
}

/// `semver: error` (the default) refuses a too-small bump; `warning` builds it with a warning.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SemverCheck {
    #[default]
    Error,
    Warning,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Level {
    Error,
    Warning,
    Off,
}

/// The policies in force for one project.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub settings: Settings,
    pub owner_pattern: Option<regex_lite::Regex>,
    /// Severity by rule code; `None` turns the rule off.
    overrides: BTreeMap<&'static str, Option<Severity>>,
}

impl Policy {
    /// Reads the policy file of a project root, if any; its problems become DK013 findings.
    pub fn load(root: Option<&Path>, findings: &mut Vec<Finding>) -> Policy {
        let Some(path) = root
            .map(|root| root.join(POLICY_FILE))
            // Anything at the path is read (and a FIFO or device reported), never skipped: a
            // policy file that silently stops applying is worse than an error.
            .filter(|path| path.exists())
        else {
            return Policy::default();
        };
        let invalid = |message: String, location: Option<Location>| {
            Finding::new(&rules::INVALID_POLICY, message, location)
        };
        let source = match read_source(&path) {
            Ok(source) => source,
            Err(Problem::Unreadable { message, .. }) => {
                findings.push(invalid(
                    format!("cannot read {}: {message}", path.display()),
                    None,
                ));
                return Policy::default();
            }
            Err(other) => {
                findings.push(invalid(other.to_string(), None));
                return Policy::default();
            }
        };
        let node = match yaml::parse_document(&source) {
            Ok(Some(node)) => node,
            Ok(None) => return Policy::default(),
            Err(err) if err.is_limit() => {
                findings.push(crate::problems::syntax_limit(&err));
                return Policy::default();
            }
            Err(err) => {
                findings.push(invalid(
                    format!("invalid YAML: {}", err.message),
                    Some(err.location),
                ));
                return Policy::default();
            }
        };
        let mut unknown = Vec::new();
        let result = yaml::from_node::<PolicyFile>(&node, &mut unknown);
        for field in unknown {
            let within = if field.parent.is_empty() {
                String::new()
            } else {
                format!(" in {}", field.parent)
            };
            let hint = if field.parent.is_empty() && POLICY_KEYS.contains(&field.key.as_str()) {
                Some(format!(
                    "policy keys go under `policies:`, e.g. policies: {{{}: ...}}",
                    field.key
                ))
            } else {
                field.suggestion.map(|s| format!("did you mean `{s}`?"))
            };
            findings.push(
                invalid(
                    format!("unknown policy key `{}`{within}", field.key),
                    Some(field.location),
                )
                .with_optional_hint(hint),
            );
        }
        let file = match result {
            Ok(file) => file,
            Err(err) => {
                let hint = err.suggestion.map(|s| format!("did you mean `{s}`?"));
                let at = if err.path.is_empty() {
                    String::new()
                } else {
                    format!("{}: ", err.path)
                };
                findings.push(
                    invalid(format!("{at}{}", err.message), err.location).with_optional_hint(hint),
                );
                return Policy::default();
            }
        };
        Policy::from_file(file, &node, findings)
    }

    fn from_file(file: PolicyFile, node: &Node, findings: &mut Vec<Finding>) -> Policy {
        let mut overrides = BTreeMap::new();
        if file.policies.require_classification {
            overrides.insert(rules::OUTPUT_CLASSIFICATION.code, Some(Severity::Error));
        }
        if file.policies.require_retention {
            overrides.insert(rules::RETENTION_REQUIRED.code, Some(Severity::Error));
        }
        for (code, level) in &file.severity {
            match rules::by_code(code) {
                Some(rule) => {
                    let severity = match level {
                        Level::Error => Some(Severity::Error),
                        Level::Warning => Some(Severity::Warning),
                        Level::Off => None,
                    };
                    overrides.insert(rule.code, severity);
                }
                None => findings.push(
                    Finding::new(
                        &rules::INVALID_POLICY,
                        format!("severity: unknown rule `{code}`"),
                        node.locate(&path!["severity", code.as_str()]),
                    )
                    .with_hint(
                        did_you_mean(code, rules::ALL.iter().map(|rule| rule.code)).map_or_else(
                            || "`dk lint --explain CODE` lists a rule".into(),
                            |s| format!("did you mean `{s}`?"),
                        ),
                    ),
                ),
            }
        }
        let owner_pattern = file.policies.owner_pattern.as_deref().and_then(|pattern| {
            regex_lite::Regex::new(pattern)
                .map_err(|err| {
                    findings.push(Finding::new(
                        &rules::INVALID_POLICY,
                        format!("owner_pattern is not a valid regular expression: {err}"),
                        node.locate_value(&path!["policies", "owner_pattern"]),
                    ));
                })
                .ok()
        });
        Policy {
            settings: file.policies,
            owner_pattern,
            overrides,
        }
    }

    /// Applies the severity overrides: findings of rules turned off are dropped.
    pub fn apply(&self, findings: Vec<Finding>) -> Vec<Finding> {
        findings
            .into_iter()
            .filter_map(|mut finding| match self.overrides.get(finding.code) {
                None => Some(finding),
                Some(None) => None,
                Some(Some(severity)) => {
                    finding.severity = *severity;
                    Some(finding)
                }
            })
            .collect()
    }
}
