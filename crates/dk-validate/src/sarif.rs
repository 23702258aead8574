//! Findings as SARIF 2.1.0, the format GitHub code scanning and other CI annotators read.

use std::path::Path;

use serde_json::{Value, json};

use dk_manifest::yaml::Origin;

use crate::explain::explain;
use crate::rules::{ALL, Severity};
use crate::{Finding, Report};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// Percent-encodes a relative path for a URI reference (RFC 3986), keeping `/`.
fn uri_path(path: &Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn rule_descriptor(index: usize) -> Value {
    let rule = &ALL[index];
    let mut descriptor = json!({
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "defaultConfiguration": {"level": level(rule.severity)},
    });
    if let Some((_, explanation)) = explain(rule.code) {
        descriptor["fullDescription"] = json!({"text": explanation.rationale});
        descriptor["help"] = json!({
            "text": explanation.fix,
            "markdown": format!("{}\n\n**Fix:** {}\n\nRun `dk lint --explain {}` for a failing example.", explanation.rationale, explanation.fix, rule.code),
        });
    }
    descriptor
}

fn result(finding: &Finding) -> Value {
    let index = ALL
        .iter()
        .position(|rule| rule.code == finding.code)
        .unwrap_or_default();
    let text = match &finding.hint {
        Some(hint) => format!("{}\nhint: {hint}", finding.message),
        None => finding.message.clone(),
    };
    let mut result = json!({
        "ruleId": finding.code,
        "ruleIndex": index,
        "level": level(finding.severity),
        "message": {"text": text},
    });
    if let Some(location) = &finding.location {
        let physical = match location.origin() {
            Origin::File(path) if path.is_absolute() => Some(json!({
                "artifactLocation": {"uri": format!("file://{}", uri_path(path))},
            })),
            Origin::File(path) => Some(json!({
                "artifactLocation": {"uri": uri_path(path), "uriBaseId": "%SRCROOT%"},
            })),
            Origin::Flag(_) | Origin::Builtin => None,
        };
        match physical {
            Some(mut physical) => {
                physical["region"] =
                    json!({"startLine": location.pos.line, "startColumn": location.pos.column});
                result["locations"] = json!([{"physicalLocation": physical}]);
            }
            None => {
                result["locations"] = json!([{"logicalLocations": [{"name": location.to_string(), "kind": "argument"}]}]);
            }
        }
    }
    result
}

/// The report as a SARIF log. Relative paths resolve against `base` (the directory dk ran in),
/// recorded as `%SRCROOT%`.
pub fn to_sarif(report: &Report, tool_version: &str, base: Option<&Path>) -> Value {
    let mut run = json!({
        "tool": {"driver": {
            "name": "dk",
            "semanticVersion": tool_version,
            "rules": (0..ALL.len()).map(rule_descriptor).collect::<Vec<_>>(),
        }},
        "columnKind": "unicodeCodePoints",
        "results": report.findings.iter().map(result).collect::<Vec<_>>(),
    });
    if let Some(base) = base {
        let mut uri = format!("file://{}", uri_path(base));
        if !uri.ends_with('/') {
            uri.push('/');
        }
        run["originalUriBaseIds"] = json!({"%SRCROOT%": {"uri": uri}});
    }
    json!({"$schema": SCHEMA, "version": "2.1.0", "runs": [run]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_percent_encoded() {
        assert_eq!(
            uri_path(Path::new("my pkg/dataset/é.yaml")),
            "my%20pkg/dataset/%C3%A9.yaml"
        );
        assert_eq!(uri_path(Path::new("../a_b-c.yaml")), "../a_b-c.yaml");
    }
}
