//! The fixture corpus: every directory under `tests/corpus/` is a small project, and its
//! `expect.yaml` lists every finding `dk lint` must report for it as `CODE path:line`, optionally
//! followed by the exact message. Nothing more, nothing less.

use std::path::{Path, PathBuf};

use dk_manifest::discover::{DiscoverOptions, load_projects};
use dk_manifest::yaml::Origin;

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else if entry.file_name() != "expect.yaml" {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Lints a copy of `case` (so that the repository around it is not taken for its project) and
/// returns each finding as `CODE path:line message`.
fn lint_case(case: &Path) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(case, dir.path());
    let projects = load_projects(&[dir.path().to_owned()], &DiscoverOptions::default()).unwrap();
    let report = dk_validate::lint(&projects);
    report
        .findings
        .iter()
        .map(|finding| {
            let place = match &finding.location {
                Some(location) => match location.origin() {
                    Origin::File(path) => {
                        let relative = path.strip_prefix(dir.path()).unwrap_or(path);
                        format!("{}:{}", relative.display(), location.pos.line)
                    }
                    other => other.to_string(),
                },
                None => "-".to_owned(),
            };
            format!("{} {place} {}", finding.code, finding.message)
        })
        .collect()
}

fn matches(expected: &str, actual: &str) -> bool {
    // `CODE path:line` alone matches any message; with a message, it must be exact.
    actual == expected
        || (expected.split(' ').count() == 2
            && actual
                .strip_prefix(expected)
                .is_some_and(|rest| rest.starts_with(' ')))
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
    assert!(cases.len() >= 30, "the corpus is missing cases");
    let mut failures = Vec::new();
    for case in &cases {
        let expected: Vec<String> =
            serde_saphyr::from_str(&std::fs::read_to_string(case.join("expect.yaml")).unwrap())
                .unwrap();
        let actual = lint_case(case);
        let unmatched_expected: Vec<&String> = expected
            .iter()
            .filter(|e| !actual.iter().any(|a| matches(e, a)))
            .collect();
        let unexpected: Vec<&String> = actual
            .iter()
            .filter(|a| !expected.iter().any(|e| matches(e, a)))
            .collect();
        if !unmatched_expected.is_empty()
            || !unexpected.is_empty()
            || expected.len() != actual.len()
        {
            failures.push(format!(
                "{}:\n  missing: {unmatched_expected:#?}\n  unexpected: {unexpected:#?}",
                case.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
