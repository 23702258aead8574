//! Defect 8: a `file` store's `connection.path: []` linted clean and the run wrote under the
//! current folder; typos in a Store's connection keys (`hostname:` for postgres,
//! `bootstrap-server:` for kafka) linted clean and the run fell back to localhost. Built-in
//! connectors now declare their keys and types (DK118), and every run is gated by lint.

use dk_test::TestContext;

use crate::common::{context, run, run_ok};

/// `dk init pkg` with its `local-files` store replaced by a store of `connector` whose
/// connection is `connection` (YAML lines, indented under `connection:`).
fn package_with_store(ctx: &TestContext, connector: &str, connection: &str) {
    run_ok(ctx, &["init", "pkg"], 0);
    ctx.write(
        "pkg/store/local-files.yaml",
        format!(
            "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Store\nmetadata:\n  name: local-files\nspec:\n  connector: {connector}\n  connection:\n{connection}"
        ),
    );
}

/// The DK118 findings of `dk lint pkg`, as (message, hint, line).
fn connection_findings(ctx: &TestContext) -> Vec<(String, String, u64)> {
    let lint = run(ctx, &["lint", "pkg", "-o", "json"]);
    lint.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|finding| finding["code"] == "DK118")
        .map(|finding| {
            assert_eq!(finding["severity"], "error");
            assert_eq!(finding["location"]["file"], "pkg/store/local-files.yaml");
            (
                finding["message"].as_str().unwrap().to_owned(),
                finding["hint"].as_str().unwrap_or_default().to_owned(),
                finding["location"]["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn assert_run_refused(ctx: &TestContext) {
    let work_before: Vec<_> = std::fs::read_dir(ctx.work()).unwrap().collect();
    let result = run(ctx, &["run", "pkg"]);
    assert_eq!(result.code, 1, "{}", result.transcript());
    assert!(
        format!("{}{}", result.stdout, result.stderr).contains("[DK118]"),
        "{}",
        result.transcript()
    );
    assert_eq!(
        std::fs::read_dir(ctx.work()).unwrap().count(),
        work_before.len(),
        "the refused run wrote into the current folder"
    );
    assert!(!ctx.work().join("pkg/output").exists());
}

#[test]
fn a_file_store_path_that_is_not_a_string_is_refused_by_lint_and_run() {
    let ctx = context();
    package_with_store(&ctx, "file", "    path: []\n");
    assert_eq!(
        connection_findings(&ctx),
        [(
            "store 'local-files': connection.path must be a string".to_owned(),
            "write path: VALUE as a string".to_owned(),
            8
        )]
    );
    assert_run_refused(&ctx);
}

#[test]
fn a_file_store_without_a_path_is_refused() {
    let ctx = context();
    package_with_store(&ctx, "file", "    root: data\n");
    let findings = connection_findings(&ctx);
    let messages: Vec<&str> = findings.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        messages,
        [
            "store 'local-files': connector file needs connection.path",
            "store 'local-files': connector file does not read connection.root",
        ]
    );
    assert_run_refused(&ctx);
}

#[test]
fn a_postgres_hostname_typo_is_an_error_with_a_suggestion_not_localhost() {
    let ctx = context();
    package_with_store(
        &ctx,
        "postgres",
        "    hostname: db.internal\n    port: 5432\n    database: shop\n",
    );
    assert_eq!(
        connection_findings(&ctx),
        [(
            "store 'local-files': connector postgres does not read connection.hostname".to_owned(),
            "did you mean `host`?".to_owned(),
            8
        )]
    );
    assert_run_refused(&ctx);
}

#[test]
fn a_kafka_bootstrap_server_typo_suggests_the_faq_spelling() {
    let ctx = context();
    package_with_store(&ctx, "kafka", "    bootstrap-server: broker:9092\n");
    assert_eq!(
        connection_findings(&ctx),
        [(
            "store 'local-files': connector kafka does not read connection.bootstrap-server"
                .to_owned(),
            "did you mean `bootstrap-servers`?".to_owned(),
            8
        )]
    );
}

#[test]
fn the_faq_kafka_store_and_custom_connectors_lint_clean() {
    let ctx = context();
    package_with_store(&ctx, "kafka", "    bootstrap-servers: my-kafka:9092\n");
    assert_eq!(connection_findings(&ctx), []);
    std::fs::remove_dir_all(ctx.work().join("pkg")).unwrap();
    package_with_store(
        &ctx,
        "warehouse",
        "    account: acme\n    any-key: [1, 2]\n",
    );
    ctx.write(
        "pkg/connector/warehouse.yaml",
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Connector\nmetadata:\n  name: warehouse\nspec:\n  type: snowflake\n  capabilities: [source, destination]\n",
    );
    assert_eq!(connection_findings(&ctx), []);
}
