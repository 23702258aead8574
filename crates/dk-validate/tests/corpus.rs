//! The fixture corpus: every directory under `tests/corpus/` is a small project, and its
//! `expect.yaml` lists every finding `dk lint` must report for it as `CODE path:line`, optionally
//! with the severity (`CODE(error) path:line`) and followed by the exact message. Nothing more,
//! nothing less.

use std::path::{Path, PathBuf};

use dk_manifest::discover::{DiscoverOptions, load_projects};
use dk_manifest::yaml::Origin;
use dk_validate::Severity;

/// A finding as the corpus states it.
struct Actual {
    code: &'static str,
    severity: &'static str,
    place: String,
    message: String,
    hint: Option<String>,
}

/// Lints a copy of `case` (so that the repository around it is not taken for its project).
fn lint_case(case: &Path) -> Vec<Actual> {
    let dir = tempfile::tempdir().unwrap();
    dk_test::copy_tree(case, dir.path(), &["expect.yaml"]);
    let projects = load_projects(&[dir.path().to_owned()], &DiscoverOptions::default()).unwrap();
    let report = dk_validate::lint(&projects);
    report
        .findings
        .iter()
        .map(|finding| Actual {
            code: finding.code,
            severity: match finding.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            },
            place: match &finding.location {
                Some(location) => match location.origin() {
                    Origin::File(path) => {
                        let relative = path.strip_prefix(dir.path()).unwrap_or(path);
                        format!("{}:{}", relative.display(), location.pos.line)
                    }
                    other => other.to_string(),
                },
                None => "-".to_owned(),
            },
            message: finding.message.clone(),
            hint: finding.hint.clone(),
        })
        .collect()
}

/// `CODE[(severity)] path:line [message]`: what the expectation states must match exactly.
fn matches(expected: &str, actual: &Actual) -> bool {
    let mut parts = expected.splitn(3, ' ');
    let (head, place, message) = (parts.next().unwrap_or_default(), parts.next(), parts.next());
    let (code, severity) = match head.split_once('(') {
        Some((code, severity)) => (code, Some(severity.trim_end_matches(')'))),
        None => (head, None),
    };
    code == actual.code
        && severity.is_none_or(|severity| severity == actual.severity)
        && place == Some(actual.place.as_str())
        && message.is_none_or(|message| message == actual.message)
}

fn describe(actual: &Actual) -> String {
    format!(
        "{}({}) {} {}",
        actual.code, actual.severity, actual.place, actual.message
    )
}

#[test]
fn every_case_reports_exactly_its_expected_findings() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 40, "the corpus is missing cases");
    let mut failures = Vec::new();
    for case in &cases {
        let expected: Vec<String> =
            serde_saphyr::from_str(&std::fs::read_to_string(case.join("expect.yaml")).unwrap())
                .unwrap();
        let actual = lint_case(case);
        let missing: Vec<&String> = expected
            .iter()
            .filter(|e| !actual.iter().any(|a| matches(e, a)))
            .collect();
        let unexpected: Vec<String> = actual
            .iter()
            .filter(|a| !expected.iter().any(|e| matches(e, a)))
            .map(describe)
            .collect();
        if !missing.is_empty() || !unexpected.is_empty() || expected.len() != actual.len() {
            failures.push(format!(
                "{}:\n  missing: {missing:#?}\n  unexpected: {unexpected:#?}",
                case.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A mistyped dataset in `from:` was answered with `did you mean `clean.email`?` although that
/// dataset has no `email`: the hint names only fields the suggested dataset has.
#[test]
fn a_mistyped_lineage_source_is_suggested_with_a_field_it_has() {
    let case =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/lineage-source-suggestion");
    let hints: Vec<Option<String>> = lint_case(&case).into_iter().map(|a| a.hint).collect();
    assert_eq!(
        hints,
        [
            Some("did you mean `orders.amount`?".to_owned()),
            Some("did you mean `orders.amount`?".to_owned()),
            Some("did you mean dataset 'orders'? it has no field `region`".to_owned()),
        ]
    );
}
