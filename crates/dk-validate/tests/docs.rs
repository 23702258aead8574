//! docs/lint-rules.md lists every rule from the catalogue in code (DK_UPDATE_DOCS=1 regenerates).

use std::path::PathBuf;

#[test]
fn lint_rules_are_documented() {
    let mut table =
        String::from("| Code | Name | Severity | What it checks |\n|---|---|---|---|\n");
    for rule in dk_validate::rules::ALL {
        let severity = match rule.severity {
            dk_validate::Severity::Error => "error",
            dk_validate::Severity::Warning => "warning",
        };
        table.push_str(&format!(
            "| `{}` | {} | {severity} | {} |\n",
            rule.code, rule.name, rule.summary
        ));
    }
    let document = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/lint-rules.md");
    dk_test::check_generated_section(&document, "lint-rules", &table);
}
