mod common;

use common::{context, faq_package, run_ok, snapshot};

#[test]
fn show_prints_the_effective_manifest_with_what_it_resolves_to() {
    let ctx = context();
    run_ok(&ctx, &["init", "demo"], 0);
    let yaml = run_ok(&ctx, &["show", "demo"], 0);
    snapshot(&ctx, "show_demo_yaml", &yaml.transcript());
    let json = run_ok(&ctx, &["show", "demo", "-o", "json"], 0).json();
    assert_eq!(json["transform"]["spec"]["mode"], "batch");
    assert_eq!(json["datasets"].as_array().unwrap().len(), 2);
    assert_eq!(json["connectors"][0]["metadata"]["name"], "file");
    let sources: Vec<&str> = json["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["file"].as_str().unwrap())
        .collect();
    assert_eq!(
        sources,
        [
            "demo/dk.yaml",
            "demo/dataset/demo-raw.yaml",
            "demo/dataset/demo-clean.yaml",
            "demo/store/local-files.yaml",
            "built-in"
        ]
    );
}

#[test]
fn show_applies_overrides_with_typed_values() {
    let ctx = context();
    run_ok(&ctx, &["init", "demo"], 0);
    ctx.write(
        "prod.yaml",
        "metadata:\n  labels:\n    env: prod\nspec:\n  resources:\n    memory: 1Gi\n",
    );
    let json = run_ok(
        &ctx,
        &[
            "show",
            "demo",
            "-f",
            "prod.yaml",
            "--set",
            "spec.replicas=3",
            "--set",
            "spec.mode=streaming",
            "-o",
            "json",
        ],
        0,
    )
    .json();
    let transform = &json["transform"];
    assert_eq!(transform["spec"]["replicas"], 3);
    assert_eq!(transform["spec"]["mode"], "streaming");
    assert_eq!(
        transform["spec"]["resources"],
        serde_json::json!({"cpu": "500m", "memory": "1Gi"})
    );
    assert_eq!(
        transform["metadata"]["labels"],
        serde_json::json!({"team": "my-team", "env": "prod"})
    );
}

#[test]
fn show_refuses_a_package_with_errors() {
    let ctx = context();
    faq_package(&ctx, "internal");
    let result = run_ok(&ctx, &["show", "pkg"], 1);
    assert!(
        result.stdout.is_empty(),
        "nothing on stdout: {}",
        result.stdout
    );
    assert!(
        result
            .stderr
            .contains("pii=true requires sensitivity level"),
        "{}",
        result.stderr
    );
    assert!(
        result
            .stderr
            .contains("error: pkg has 1 error, 0 warnings; nothing to show"),
        "{}",
        result.stderr
    );
    let not_a_package = run_ok(&ctx, &["show", "."], 2);
    assert!(
        not_a_package.stderr.contains(". has no dk.yaml"),
        "{}",
        not_a_package.stderr
    );
}
