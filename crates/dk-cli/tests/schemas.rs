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
        ("completions", &["completions", "bash"], 0),
    ];
    for (name, args, code) in cases {
        check(&ctx, name, args, *code);
    }
    // Exits 1 or 0 depending on this machine; the report has the same shape either way.
    let doctor = common::run(&ctx, &["doctor", "--timeout", "2s", "-o", "json"]);
    assert_valid("doctor", &doctor.json());
    run_ok(&ctx, &["gitops", "init", "-q"], 0);
    assert_valid("status", &run_ok(&ctx, &["status", "-o", "json"], 0).json());
}

/// Runs `dk ARGS -o json`, checks its exit code and validates its output against `name`.
fn check(ctx: &dk_test::TestContext, name: &str, args: &[&str], code: i32) -> Value {
    check_with(ctx, &[], name, args, code)
}

fn check_with(
    ctx: &dk_test::TestContext,
    env: &[(&str, &str)],
    name: &str,
    args: &[&str],
    code: i32,
) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let output = common::run_ok_with(ctx, env, &all, code).json();
    assert_valid(name, &output);
    output
}

#[test]
fn package_run_lineage_and_governance_reports_match_their_schemas() {
    let ctx = context();
    std::fs::create_dir_all(ctx.work().join(".dk")).unwrap();
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);

    check(&ctx, "lint", &["lint", "demo"], 0);
    let explain = check(&ctx, "lint-explain", &["lint", "--explain", "DK303"], 0);
    assert_eq!(explain["code"], "DK303");
    let text = common::run(&ctx, &["lint", "--explain", "DK303", "-o", "json"]).stdout;
    assert_eq!(text.matches("\"code\"").count(), 1, "one code key: {text}");
    check(&ctx, "show", &["show", "demo"], 0);
    check(&ctx, "run-dry-run", &["run", "demo", "--dry-run"], 0);
    check(&ctx, "run", &["run", "demo"], 0);
    check(&ctx, "test", &["test", "demo"], 0);
    check(&ctx, "lineage", &["lineage", "demo"], 0);
    check(&ctx, "lineage-flush", &["lineage", "flush"], 0);
    let events = check(&ctx, "lineage-events", &["lineage", "events"], 0);
    assert!(
        !events["events"].as_array().unwrap().is_empty(),
        "{events:#}"
    );
    check(&ctx, "governance", &["governance", "report"], 0);
    check(&ctx, "pipeline", &["pipeline", "show"], 0);
    check(&ctx, "build", &["build", "demo", "--tag", "v1.0.0"], 0);
    check(&ctx, "inspect", &["inspect", "default/demo:v1.0.0"], 0);
    if let Some(registry) = dk_test::service("DK_TEST_REGISTRY", "an OCI registry") {
        let registry = format!("{registry}/{}", ctx.unique_name());
        check(
            &ctx,
            "publish",
            &[
                "publish",
                "demo",
                "--tag",
                "v1.0.0",
                "--registry",
                &registry,
            ],
            0,
        );
        let reference = format!("{registry}/default/demo:v1.0.0");
        let out = ctx.work().join("pulled");
        check(
            &ctx,
            "pull",
            &["pull", &reference, "-d", out.to_str().unwrap()],
            0,
        );
    }
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

/// The promotion reports, on the embedded GitOps repository (no infrastructure).
#[test]
fn gitops_and_promotion_reports_match_their_schemas() {
    let ctx = context();
    check(&ctx, "gitops-init", &["gitops", "init"], 0);
    run_ok(&ctx, &["init", "my-pkg", "--runtime", "generic-python"], 0);
    run_ok(&ctx, &["build", "my-pkg", "--tag", "v1.0.0", "-q"], 0);
    let manifest = ctx.read("my-pkg/dk.yaml");
    assert!(manifest.contains("  version: 0.1.0\n"), "{manifest}");
    ctx.write(
        "my-pkg/dk.yaml",
        manifest.replacen("  version: 0.1.0\n", "  version: 1.1.0\n", 1),
    );
    run_ok(&ctx, &["build", "my-pkg", "--tag", "v1.1.0", "-q"], 0);

    let promote = ["promote", "my-pkg"];
    let dev = check(
        &ctx,
        "promote",
        &[&promote[..], &["v1.0.0", "--to", "dev"]].concat(),
        0,
    );
    assert_eq!(dev["outcome"], "merged", "{dev:#}");
    check(
        &ctx,
        "promote",
        &[&promote[..], &["v1.1.0", "--to", "dev"]].concat(),
        0,
    );
    let prod = check(
        &ctx,
        "promote",
        &[&promote[..], &["v1.0.0", "--to", "prod"]].concat(),
        0,
    );
    assert_eq!(prod["outcome"], "open", "{prod:#}");
    let pr = prod["pullRequest"].as_str().unwrap();
    check(&ctx, "promote-state", &["promote", "check", pr], 1);
    let listed = check(&ctx, "promote-list", &["promote", "list"], 0);
    assert_eq!(
        listed["promotions"].as_array().unwrap().len(),
        1,
        "{listed:#}"
    );
    check(&ctx, "promote-close", &["promote", "close", pr], 0);
    let rollback = check(&ctx, "promote", &["rollback", "my-pkg", "--env", "dev"], 0);
    assert_eq!(rollback["version"], "v1.0.0", "{rollback:#}");
}

/// The dev stack's reports with services in them: dk's own S3 and lineage server start, Kafka
/// and PostgreSQL have no program on this PATH.
#[test]
fn dev_stack_reports_match_their_schema() {
    let ctx = context();
    // Ports free now: the services dk starts itself bind theirs, and nothing else (another
    // test's stack) answers on the others.
    let services = ["postgres", "kafka", "s3", "lineage"];
    let keys = services.map(|service| format!("{service}.port"));
    let webs = ["s3.webPort", "lineage.webPort"].map(str::to_owned);
    let listeners: Vec<_> = keys
        .into_iter()
        .chain(webs)
        .map(|key| (key, std::net::TcpListener::bind("127.0.0.1:0").unwrap()))
        .collect();
    for (key, listener) in &listeners {
        let port = listener.local_addr().unwrap().port().to_string();
        run_ok(
            &ctx,
            &["config", "set", &format!("dev.services.{key}"), &port],
            0,
        );
    }
    drop(listeners);
    let empty = ctx.root().join("no-tools").display().to_string();
    let env = [("PATH", empty.as_str())];
    let up = check_with(&ctx, &env, "dev", &["dev", "up", "--allow-partial"], 0);
    let healthy = up["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|service| service["health"] == "healthy")
        .count();
    assert_eq!(healthy, 2, "{up:#}");
    check_with(&ctx, &env, "dev", &["dev", "status"], 0);
    check_with(&ctx, &env, "dev", &["dev", "down", "--volumes"], 0);
}
