//! Promotion gates: `policy.yaml` on the GitOps repository's base branch decides what a
//! version must prove (a signature by a listed key, provenance from a builder) before
//! `dk promote` opens its pull request, `dk promote check` passes it and `dk promote merge`
//! merges it; the chart's init container verifies the same keys in the cluster. Real git, the
//! zero-infrastructure default repository (`dk gitops init`, provider git).

mod common;

use std::path::{Path, PathBuf};

use common::{Run, context, pod_spec, render_chart, run_with};
use dk_test::TestContext;

fn git(dir: &Path, args: &[&str]) -> String {
    dk_test::forge::git(dir, args).unwrap_or_else(|err| panic!("git {args:?}: {err}"))
}

fn dk(ctx: &TestContext, args: &[&str]) -> Run {
    run_with(ctx, &[], args)
}

fn ok(run: Run) -> Run {
    assert_eq!(run.code, 0, "{}", run.transcript());
    run
}

/// `dk gitops init` (the embedded default) and a clone of it to change its base branch with.
fn repository(ctx: &TestContext) -> PathBuf {
    ok(dk(ctx, &["gitops", "init"]));
    let clone = ctx.root().join("gitops-clone");
    let repo = ctx.dk_home().join("gitops");
    git(
        ctx.root(),
        &["clone", "-q", repo.to_str().unwrap(), clone.to_str().unwrap()],
    );
    clone
}

/// Commits `files` on the base branch (main) of the repository `clone` was made from: what a
/// reviewed and merged change to the policy does.
fn merge_to_main(clone: &Path, files: &[(&str, &str)], message: &str) {
    git(clone, &["pull", "-q", "--ff-only"]);
    for (path, contents) in files {
        let path = clone.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    git(clone, &["add", "-A"]);
    git(clone, &["commit", "-qm", message]);
    git(clone, &["push", "-q", "origin", "main"]);
}

/// `dk init` and `dk build --tag` of `package` at `version` (a generic Python package).
fn build(ctx: &TestContext, package: &str, version: &str) {
    if !ctx.work().join(package).exists() {
        ok(dk(ctx, &["init", package, "--runtime", "generic-python"]));
    }
    let manifest = ctx.work().join(package).join("dk.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let plain = version.trim_start_matches('v');
    let text: String = text
        .lines()
        .map(|line| match line.starts_with("  version: ") {
            true => format!("  version: {plain}\n"),
            false => format!("{line}\n"),
        })
        .collect();
    std::fs::write(&manifest, text).unwrap();
    ok(dk(ctx, &["build", package, "--tag", version]));
}

/// The default policy dk gitops init writes requires nothing: promotions run as before, and
/// the pull request says nothing was verified.
#[test]
fn the_default_policy_requires_nothing() {
    let ctx = context();
    let clone = repository(&ctx);
    let policy = std::fs::read_to_string(clone.join("policy.yaml")).unwrap();
    assert!(policy.contains("requireSignature"), "{policy}");
    assert!(policy.ends_with("environments: {}\n"), "{policy}");
    build(&ctx, "my-pkg", "v1.0.0");
    let promoted = ok(dk(
        &ctx,
        &["promote", "my-pkg", "v1.0.0", "--to", "prod", "--dry-run", "-o", "json"],
    ));
    let report = promoted.json();
    assert_eq!(report["verified"]["required"], false, "{report}");
    let body = report["body"].as_str().unwrap();
    assert!(
        body.contains("Verified: nothing (prod requires no signature in policy.yaml)."),
        "{body}"
    );
}

/// A policy dk cannot apply refuses every promotion (exit 2) where it is wrong, rather than
/// letting a misspelt gate through.
#[test]
fn a_policy_with_a_typo_refuses_promotions_naming_the_place() {
    let ctx = context();
    let clone = repository(&ctx);
    build(&ctx, "my-pkg", "v1.0.0");
    for (policy, location, says) in [
        (
            "environments:\n  prod:\n    requireSignatures: [keys/a.pub]\n",
            "policy.yaml:3:5",
            "requireSignatures",
        ),
        (
            "environments:\n  prd:\n    requireSignature: [keys/a.pub]\n",
            "policy.yaml:2:3",
            "`prd` is not an environment",
        ),
        (
            "environments:\n  prod:\n    requireSignature: [keys/missing.pub]\n",
            "policy.yaml:3:24",
            "keys/missing.pub is not in the GitOps repository's base branch",
        ),
        (
            "environments:\n  prod:\n    requireSignature: [\"-----BEGIN PUBLIC KEY-----\\nnot base64!\\n-----END PUBLIC KEY-----\"]\n",
            "policy.yaml:3:24",
            "not base64",
        ),
    ] {
        merge_to_main(&clone, &[("policy.yaml", policy)], "policy");
        let refused = dk(&ctx, &["promote", "my-pkg", "v1.0.0", "--to", "dev"]);
        assert_eq!(refused.code, 2, "{policy}\n{}", refused.transcript());
        assert!(
            refused.stderr.contains(location) && refused.stderr.contains(says),
            "{policy}\n{}",
            refused.stderr
        );
        assert!(refused.stderr.contains("hint:"), "{}", refused.stderr);
    }
}

/// The chart verifies before it pulls: with the policy's keys in the values, a ConfigMap holds
/// them and the first init container runs `dk verify` on the pinned digest with each key and
/// the builder; without keys there is neither.
#[test]
fn the_chart_verifies_the_artifact_before_pulling_it() {
    let Some(tools) = dk_test::service("DK_TEST_TOOLS_BIN", "helm-python-sdk") else {
        return;
    };
    let ctx = context();
    let clone = repository(&ctx);
    let chart = clone.join("charts/dk-app");
    let digest = format!("sha256:{}", "a".repeat(64));
    let base = format!(
        "package: my-pkg\nnamespace: default\nappVersion: v1.0.0\ndigest: {digest}\nregistry: r.example/org\n"
    );
    let plain = ctx.root().join("plain.yaml");
    std::fs::write(&plain, &base).unwrap();
    let docs = render_chart(&tools, &chart, &plain, "prod", "c0", serde_json::json!({}));
    assert_eq!(docs.len(), 1, "{docs:?}");
    let inits = pod_spec(&docs[0])["initContainers"].as_array().unwrap();
    assert_eq!(inits[0]["name"], "pull");

    let pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
    let gated = ctx.root().join("gated.yaml");
    std::fs::write(
        &gated,
        format!(
            "{base}verify:\n  keys: [{pem:?}, {pem:?}]\n  builder: https://ci.example/release\n"
        ),
    )
    .unwrap();
    let extra = serde_json::json!({"imagePullSecrets": [{"name": "regcred"}]});
    let docs = render_chart(&tools, &chart, &gated, "prod", "c0", extra);
    let keys = docs.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
    assert_eq!(keys["metadata"]["name"], "my-pkg-prod-c0-keys");
    assert_eq!(keys["data"]["key-1.pub"], pem);
    let job = docs.iter().find(|d| d["kind"] == "Job").unwrap();
    let spec = pod_spec(job);
    let inits = spec["initContainers"].as_array().unwrap();
    assert_eq!(inits[0]["name"], "verify");
    assert_eq!(inits[1]["name"], "pull");
    let reference = format!("r.example/org/default/my-pkg@{digest}");
    assert_eq!(
        inits[0]["command"],
        serde_json::json!([
            "/usr/local/bin/dk",
            "verify",
            reference,
            "--key",
            "/etc/dk/keys/key-0.pub",
            "--key",
            "/etc/dk/keys/key-1.pub",
            "--builder",
            "https://ci.example/release"
        ])
    );
    assert_eq!(inits[0]["env"][0]["name"], "DOCKER_CONFIG");
    let volumes = spec["volumes"].as_array().unwrap();
    assert!(
        volumes
            .iter()
            .any(|v| v["configMap"]["name"] == "my-pkg-prod-c0-keys"),
        "{volumes:?}"
    );
}
