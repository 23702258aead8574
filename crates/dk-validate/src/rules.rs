//! The catalogue of lint rules. Codes are stable once released: tools and severity overrides
//! refer to them.

use serde::Serialize;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One lint rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Rule {
    pub code: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
}

macro_rules! rules {
    ($($ident:ident = $code:literal, $name:literal, $severity:ident, $summary:literal;)+) => {
        $(pub const $ident: Rule = Rule {
            code: $code,
            name: $name,
            severity: Severity::$severity,
            summary: $summary,
        };)+
        /// Every rule, in code order.
        pub const ALL: &[Rule] = &[$($ident),+];
    };
}

rules! {
    YAML_SYNTAX = "DK001", "yaml-syntax", Error, "The file is not valid YAML.";
    UNKNOWN_FIELD = "DK002", "unknown-field", Warning, "A field dk does not know (often a typo); it is ignored.";
    INVALID_VALUE = "DK003", "invalid-value", Error, "A value has the wrong type.";
    MISSING_FIELD = "DK004", "missing-field", Error, "A required field is missing.";
    UNKNOWN_VALUE = "DK005", "unknown-value", Error, "A value outside its allowed set (runtime, mode, classification, ...).";
    API_VERSION = "DK006", "api-version", Error, "The apiVersion is not datakit.infoblox.dev/v1alpha1.";
    UNKNOWN_KIND = "DK007", "unknown-kind", Error, "A document is not a manifest of a known kind.";
    MISPLACED_MANIFEST = "DK008", "misplaced-manifest", Warning, "A manifest sits in the folder of another kind.";
    UNREADABLE_FILE = "DK009", "unreadable-file", Error, "A manifest file cannot be read.";
    MISSING_TRANSFORM = "DK010", "missing-transform", Error, "dk.yaml does not hold a Transform.";
    DUPLICATE_NAME = "DK011", "duplicate-name", Error, "Two manifests of one kind share a name in the same scope.";
    OVERRIDE_CONFLICT = "DK012", "override-conflict", Error, "A --set or -f override does not fit the manifest.";
    INVALID_POLICY = "DK013", "invalid-policy", Error, "The project's .dk/policies.yaml is invalid.";
    YAML_LIMITS = "DK014", "yaml-limits", Error, "A YAML file is too large, nested too deep or expands too much through aliases.";
    INVALID_NAME = "DK101", "invalid-name", Error, "A name is not a DNS label (lowercase letters, digits, '-', at most 63).";
    INVALID_VERSION = "DK102", "invalid-version", Error, "A version is not semantic (MAJOR.MINOR.PATCH).";
    INVALID_SCHEDULE = "DK103", "invalid-schedule", Error, "A cron expression does not parse.";
    INVALID_DURATION = "DK104", "invalid-duration", Error, "A duration is not like 30s, 5m or 1h30m.";
    DATASET_LOCATOR = "DK105", "dataset-locator", Error, "A DataSet must set exactly one of table, prefix, topic and path.";
    DUPLICATE_FIELD = "DK106", "duplicate-field", Error, "Two schema fields share a name.";
    EMPTY_IO = "DK107", "empty-io", Error, "A Transform needs at least one input and one output (a dbt Transform may have no inputs).";
    DATASET_REFERENCE = "DK108", "dataset-reference", Error, "An input or output must name a dataset or select one by tags, not both.";
    INVALID_RESOURCES = "DK109", "invalid-resources", Error, "cpu and memory must be Kubernetes quantities (500m, 2Gi).";
    INVALID_ENV = "DK110", "invalid-env", Error, "An env entry has an invalid, duplicate or reserved name.";
    RUNTIME_MODE = "DK111", "runtime-mode", Error, "The runtime does not support the mode (dbt and cloudquery are batch only).";
    SCHEDULE_AND_TRIGGER = "DK112", "schedule-and-trigger", Error, "A Transform sets both schedule and trigger, or a schedule trigger without a schedule.";
    STREAMING_SCHEDULE = "DK113", "streaming-schedule", Warning, "A streaming Transform has a schedule, which is ignored.";
    LINEAGE_SOURCE_FORMAT = "DK114", "lineage-source-format", Error, "A field's from must read dataset.field.";
    SECRET_REFERENCE = "DK115", "secret-reference", Error, "A Store secret must be an ${ENV_VAR} reference.";
    INLINE_SECRET = "DK116", "inline-secret", Warning, "A connection value looks like a secret written in clear.";
    GROUP_STORE = "DK117", "group-store", Error, "A DataSetGroup holds a DataSet from another store.";
    CONNECTION_KEY = "DK118", "connection-key", Error, "A Store's connection key is unknown to its built-in connector, or has the wrong type.";
    CREDENTIAL_FILE = "DK119", "credential-file", Error, "A file dk build would bundle looks like a credential (by name or content).";
    LINK_OUTSIDE_PACKAGE = "DK120", "link-outside-package", Error, "A symlink in the package resolves outside it (through other links too); dk build refuses it.";
    REQUIREMENTS_OPTION = "DK121", "requirements-option", Error, "requirements.txt holds a pip option, URL or path that could make pip install from elsewhere than the machine's index.";
    UNKNOWN_DATASET = "DK201", "unknown-dataset", Error, "A referenced DataSet does not exist.";
    UNKNOWN_STORE = "DK202", "unknown-store", Error, "A referenced Store does not exist.";
    UNKNOWN_CONNECTOR = "DK203", "unknown-connector", Error, "A referenced Connector does not exist.";
    UNKNOWN_LINEAGE_SOURCE = "DK204", "unknown-lineage-source", Error, "A field's from names a dataset or field that does not exist.";
    CAPABILITY = "DK205", "capability", Error, "A Connector cannot be read (source) or written (destination) as the Transform needs.";
    PII_CLASSIFICATION = "DK301", "pii-classification", Error, "A DataSet with pii: true fields must be confidential or restricted.";
    OUTPUT_CLASSIFICATION = "DK302", "output-classification", Warning, "An output DataSet declares no classification (an error with require_classification).";
    RETENTION_REQUIRED = "DK303", "retention-required", Warning, "Confidential and restricted data declare retention.days (an error with require_retention).";
    PII_PROPAGATION = "DK304", "pii-propagation", Error, "A field derived from PII is pii: true unless it declares masking.";
    CLASSIFICATION_DOWNGRADE = "DK305", "classification-downgrade", Error, "A DataSet is classified lower than the data its fields derive from.";
    OWNER_REQUIRED = "DK306", "owner-required", Error, "A Transform names its owner.";
    OWNER_PATTERN = "DK307", "owner-pattern", Error, "An owner does not match the policy's owner_pattern.";
    PII_RETENTION = "DK308", "pii-retention", Error, "PII is kept longer than the policy's max_pii_retention_days.";
    REQUIRED_TAGS = "DK309", "required-tags", Error, "Confidential data lacks the policy's confidential_required_tags.";
}

/// The rule with `code`, if any.
pub fn by_code(code: &str) -> Option<&'static Rule> {
    ALL.iter().find(|rule| rule.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_are_unique_and_ordered() {
        for pair in ALL.windows(2) {
            assert!(
                pair[0].code < pair[1].code,
                "{} !< {}",
                pair[0].code,
                pair[1].code
            );
        }
        let mut names: Vec<_> = ALL.iter().map(|rule| rule.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        assert_eq!(by_code("DK301").map(|r| r.name), Some("pii-classification"));
    }
}
