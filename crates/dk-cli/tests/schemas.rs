//! Each command's actual `-o json` output validates against its checked-in schema in
//! docs/schemas/ (generated from the report types; `crates/dk-cli/src/schemas.rs`).

mod common;

use common::{context, run_ok};
use serde_json::Value;

fn schema(name: &str) -> jsonschema::Validator {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/schemas")
        .join(format!("{name}.json"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn assert_valid(name: &str, output: &Value) {
    let validator = schema(name);
    let errors: Vec<String> = validator
        .iter_errors(output)
        .map(|err| format!("{}: {err}", err.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:#?}\n{output:#}");
}

#[test]
fn the_main_commands_json_output_matches_their_schemas() {
    let ctx = context();
    let cases: &[(&str, &[&str], i32)] = &[
        ("init", &["init", "demo", "--runtime", "generic-python"], 0),
        ("version", &["version"], 0),
        (
            "config-set",
            &["config", "set", "lineage.namespace", "shop"],
            0,
        ),
        ("config-get", &["config", "get", "lineage.namespace"], 0),
        ("config-list", &["config", "list"], 0),
        ("config-path", &["config", "path"], 0),
        ("config-unset", &["config", "unset", "lineage.namespace"], 0),
        ("catalog-create", common::CREATE_GROUP, 0),
        ("catalog-list", &["dataset", "list", "demo"], 0),
        (
            "catalog-show",
            &["store", "show", "local-files", "--dir", "demo"],
            0,
        ),
        ("doctor", &["doctor", "--timeout", "2s"], -1),
        ("completions", &["completions", "bash"], 0),
    ];
    for (name, args, code) in cases {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let result = common::run(&ctx, &all);
        if *code >= 0 {
            assert_eq!(
                result.code,
                *code,
                "dk {}\n{}",
                all.join(" "),
                result.transcript()
            );
        }
        assert_valid(name, &result.json());
    }
    run_ok(&ctx, &["gitops", "init", "-q"], 0);
    assert_valid("status", &run_ok(&ctx, &["status", "-o", "json"], 0).json());
}

/// Runs `dk ARGS -o json`, checks its exit code and validates its output against `name`.
fn check(ctx: &dk_test::TestContext, name: &str, args: &[&str], code: i32) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let result = common::run(ctx, &all);
    assert_eq!(
        result.code,
        code,
        "dk {}\n{}",
        all.join(" "),
        result.transcript()
    );
    let output = result.json();
    assert_valid(name, &output);
    output
}

#[test]
fn package_run_lineage_and_governance_reports_match_their_schemas() {
    let ctx = context();
    std::fs::create_dir_all(ctx.work().join(".dk")).unwrap();
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);

    check(&ctx, "lint", &["lint", "demo"], 0);
    check(&ctx, "lint-explain", &["lint", "--explain", "DK303"], 0);
    check(&ctx, "show", &["show", "demo"], 0);
    check(&ctx, "run-dry-run", &["run", "demo", "--dry-run"], 0);
    check(&ctx, "run", &["run", "demo"], 0);
    check(&ctx, "lineage", &["lineage", "demo"], 0);
    let events = check(&ctx, "lineage-events", &["lineage", "events"], 0);
    assert!(
        !events["events"].as_array().unwrap().is_empty(),
        "{events:#}"
    );
    check(&ctx, "governance", &["governance", "report"], 0);
    check(&ctx, "pipeline", &["pipeline", "show"], 0);
    check(&ctx, "build", &["build", "demo", "--tag", "v1.0.0"], 0);
    check(&ctx, "inspect", &["inspect", "default/demo:v1.0.0"], 0);
    // A change to an output's columns, so the diff has findings to describe.
    let clean = ctx.read("demo/dataset/demo-clean.yaml");
    ctx.write(
        "demo/dataset/demo-clean.yaml",
        clean.replacen(
            "    - name: country\n",
            "    - name: region\n      type: string\n    - name: country\n",
            1,
        ),
    );
    let diff = check(&ctx, "diff", &["diff", "v1.0.0", "demo"], 0);
    assert_eq!(diff["level"], "minor", "{diff:#}");
    check(&ctx, "dev", &["dev", "status"], 0);
}
