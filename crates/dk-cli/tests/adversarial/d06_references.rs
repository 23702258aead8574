//! Defect 6 (references): `../../tmp/x`, `a/../b`, empty, newline, emoji and uppercase were
//! accepted; `dk publish` sent requests outside `/v2/` and `dk inspect` contacted a host named
//! `..`. Registry hosts, repository paths and tags now follow the OCI distribution grammar and
//! are checked before any request: a usage error (exit 2), and the registry sees nothing.

use dk_test::registry::LyingRegistry;

use crate::common::{context, run_ok, run_with};

#[test]
fn pull_and_inspect_refuse_bad_references_before_any_request() {
    let ctx = context();
    let registry = LyingRegistry::start();
    let host = registry.host();
    let references = [
        format!("{host}/../../tmp/x:v1"),
        format!("{host}/a/../b:v1"),
        format!("{host}/team/Demo:v1"),
        format!("{host}/team/d\u{1f600}:v1"),
        format!("{host}/team/demo:v1\nx"),
        format!("{host}//demo:v1"),
        format!("{host}/team/demo:"),
        "../x/demo:v1".to_owned(),
        "a..b/demo:v1".to_owned(),
        "localhost:0/demo:v1".to_owned(),
    ];
    for reference in &references {
        for command in ["pull", "inspect"] {
            let result = run_with(&ctx, &[], &[command, reference]);
            assert_eq!(
                result.code,
                2,
                "{command} {reference:?}: {}",
                result.transcript()
            );
        }
    }
    assert_eq!(registry.requests(), Vec::<String>::new());
}

/// `dk publish demo --tag TAG --registry REGISTRY`, which must be a usage error; its stderr.
fn refused(ctx: &dk_test::TestContext, tag: &str, registry: &str) -> String {
    let args = ["publish", "demo", "--tag", tag, "--registry", registry];
    run_ok(ctx, &args, 2).stderr
}

#[test]
fn publish_refuses_a_registry_path_that_leaves_v2() {
    let ctx = context();
    let registry = LyingRegistry::start();
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    run_ok(&ctx, &["build", "demo", "--tag", "v0.1.0"], 0);
    for prefix in ["../../tmp", "team/../..", "Team", "team//x"] {
        let stderr = refused(&ctx, "v0.1.0", &format!("{}/{prefix}", registry.host()));
        assert!(stderr.contains("is not valid"), "{stderr}");
    }
    for host in ["..", "a..b", "-x.io"] {
        refused(&ctx, "v0.1.0", &format!("{host}/team"));
    }
    // A tag that is semver but not an OCI tag (build metadata) is refused the same way.
    run_ok(&ctx, &["build", "demo", "--tag", "v0.1.0+build.1"], 0);
    let stderr = refused(&ctx, "v0.1.0+build.1", &format!("{}/team", registry.host()));
    assert!(stderr.contains("cannot be a tag"), "{stderr}");
    assert_eq!(registry.requests(), Vec::<String>::new());
}
