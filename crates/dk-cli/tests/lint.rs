mod common;

use common::{context, customer_data, faq_package, run_ok, snapshot, snapshot_json};

#[test]
fn faq_pii_rule_fails_with_the_faq_message_at_the_classification_line() {
    let ctx = context();
    faq_package(&ctx, "internal");
    let result = run_ok(&ctx, &["lint", "pkg"], 1);
    assert!(
        result
            .stdout
            .contains("✗ output 'customer-data': pii=true requires sensitivity level"),
        "{}",
        result.stdout
    );
    assert!(
        result
            .stdout
            .contains("--> pkg/dataset/customer-data.yaml:8:19"),
        "{}",
        result.stdout
    );
    snapshot(&ctx, "lint_faq_pii_text", &result.transcript());
    let json = run_ok(&ctx, &["lint", "pkg", "-o", "json"], 1);
    snapshot_json(&ctx, "lint_faq_pii_json", &json.json());
}

#[test]
fn faq_customer_data_is_clean_when_confidential() {
    let ctx = context();
    faq_package(&ctx, "confidential");
    run_ok(&ctx, &["lint", "pkg"], 0);
}

/// The FAQ's PII DataSet exactly as printed: confidential, no retention.
#[test]
fn faq_pii_dataset_as_printed_lints_without_errors_unless_the_policy_requires_retention() {
    let ctx = context();
    faq_package(&ctx, "confidential");
    let printed = customer_data("confidential").replace("  retention:\n    days: 365\n", "");
    assert!(!printed.contains("retention"));
    ctx.write("pkg/dataset/customer-data.yaml", printed);
    let loose = run_ok(&ctx, &["lint", "pkg"], 0);
    assert!(
        loose.stdout.contains("0 errors, 1 warning")
            && loose
                .stdout
                .contains("output 'customer-data': confidential data requires retention policy"),
        "{}",
        loose.stdout
    );
    ctx.write(
        ".dk/policies.yaml",
        "policies:\n  require_retention: true\n",
    );
    let strict = run_ok(&ctx, &["lint", "pkg"], 1);
    assert!(
        strict.stdout.contains("1 error, 0 warnings") && strict.stdout.contains("DK303"),
        "{}",
        strict.stdout
    );
}

#[test]
fn warnings_pass_unless_strict() {
    let ctx = context();
    faq_package(&ctx, "confidential");
    let manifest = ctx.read("pkg/dk.yaml").replace(
        "  owner: data-team\n",
        "  owner: data-team\n  sechdule:\n    cron: '0 * * * *'\n",
    );
    ctx.write("pkg/dk.yaml", manifest);
    let loose = run_ok(&ctx, &["lint", "pkg"], 0);
    snapshot(&ctx, "lint_warning", &loose.transcript());
    let strict = run_ok(&ctx, &["lint", "pkg", "--strict"], 1);
    assert!(
        strict
            .stdout
            .contains("0 errors, 1 warning (--strict: warnings fail)"),
        "{}",
        strict.stdout
    );
}

#[test]
fn syntax_errors_point_at_line_and_column() {
    let ctx = context();
    faq_package(&ctx, "confidential");
    ctx.write(
        "pkg/dataset/customer-data.yaml",
        customer_data("confidential").replace(
            "  table: public.customers\n",
            "  table: public.customers\n    oops: 1\n",
        ),
    );
    let result = run_ok(&ctx, &["lint", "pkg"], 1);
    snapshot(&ctx, "lint_syntax_error", &result.transcript());
}

#[test]
fn a_project_directory_lints_every_package_and_scan_dirs_combine() {
    let ctx = context();
    run_ok(&ctx, &["init", "one"], 0);
    run_ok(&ctx, &["init", "two", "--runtime", "generic-go"], 0);
    std::fs::create_dir_all(ctx.work().join("more")).unwrap();
    run_ok(&ctx, &["init", "three", "--dir", "more/three"], 0);
    let all = run_ok(&ctx, &["lint", "-o", "json"], 0).json();
    assert_eq!(all["packages"], 3);
    let scanned = run_ok(
        &ctx,
        &[
            "lint",
            "--scan-dir",
            "one",
            "--scan-dir",
            "more",
            "-o",
            "json",
        ],
        0,
    )
    .json();
    assert_eq!(scanned["packages"], 2);
}

#[test]
fn overrides_apply_in_memory_and_findings_point_at_the_flag() {
    let ctx = context();
    run_ok(&ctx, &["init", "demo"], 0);
    let before = ctx.read("demo/dk.yaml");
    let result = run_ok(&ctx, &["lint", "demo", "--set", "spec.timeout=soon"], 1);
    assert!(
        result.stdout.contains("--> --set spec.timeout=soon"),
        "{}",
        result.stdout
    );
    ctx.write(
        "values.yaml",
        "spec:\n  inputs:\n    - dataset: missing-dataset\n",
    );
    let values = run_ok(&ctx, &["lint", "demo", "-f", "values.yaml"], 1);
    assert!(
        values.stdout.contains("unknown DataSet `missing-dataset`"),
        "{}",
        values.stdout
    );
    assert!(
        values.stdout.contains("--> values.yaml:3:16"),
        "{}",
        values.stdout
    );
    assert_eq!(
        ctx.read("demo/dk.yaml"),
        before,
        "dk never writes a user's manifest"
    );
    let conflict = run_ok(&ctx, &["lint", "demo", "--set", "spec.inputs.x=1"], 1);
    assert!(conflict.stdout.contains("[DK012]"), "{}", conflict.stdout);
}

#[test]
fn usage_errors_exit_2_with_a_hint() {
    let ctx = context();
    let missing = run_ok(&ctx, &["lint", "nowhere"], 2);
    snapshot(&ctx, "lint_missing_dir", &missing.transcript());
    let empty = run_ok(&ctx, &["lint"], 2);
    assert!(
        empty.stderr.contains("no package (dk.yaml) found in ."),
        "{}",
        empty.stderr
    );
    run_ok(&ctx, &["init", "demo"], 0);
    let bad_set = run_ok(&ctx, &["lint", "demo", "--set", "novalue"], 2);
    assert!(
        bad_set.stderr.contains("expected PATH=VALUE"),
        "{}",
        bad_set.stderr
    );
    let scan_with_set = run_ok(&ctx, &["lint", "--scan-dir", ".", "--set", "a=b"], 2);
    assert!(
        scan_with_set.stderr.contains("cannot apply to a scan"),
        "{}",
        scan_with_set.stderr
    );
}
