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
        &[
            "clone",
            "-q",
            repo.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
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
fn build(ctx: &TestContext, package: &str, version: &str) -> String {
    build_by(ctx, package, version, None)
}

/// [`build`] with the provenance's builder id `builder` (`DK_BUILDER_ID`; `local` without).
fn build_by(ctx: &TestContext, package: &str, version: &str, builder: Option<&str>) -> String {
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
    let env: Vec<(&str, &str)> = builder.map(|b| ("DK_BUILDER_ID", b)).into_iter().collect();
    let built = ok(run_with(
        ctx,
        &env,
        &["build", package, "--tag", version, "-o", "json"],
    ));
    find_digest(&built.json()).expect("the built artifact's digest")
}

/// `dk key generate NAME` in the test's folder: the public key's path and its id.
fn key(ctx: &TestContext, name: &str) -> (PathBuf, String) {
    let generated = ok(dk(ctx, &["key", "generate", name, "-o", "json"]));
    let id = generated.json()["keyId"].as_str().unwrap().to_owned();
    (ctx.work().join(format!("{name}.pub")), id)
}

fn sign(ctx: &TestContext, reference: &str, key: &str) {
    ok(dk(
        ctx,
        &["sign", reference, "--key", &format!("{key}.key")],
    ));
}

/// Whether the repository dk promotes into has `branch`.
fn has_branch(ctx: &TestContext, branch: &str) -> bool {
    let repo = ctx.dk_home().join("gitops");
    !git(ctx.root(), &["ls-remote", repo.to_str().unwrap(), branch])
        .trim()
        .is_empty()
}

/// `dk promote my-pkg VERSION --to ENV --dry-run -o json`: what the promotion would say.
fn dry_run(ctx: &TestContext, version: &str, env: &str) -> Run {
    let args = [
        "promote",
        "my-pkg",
        version,
        "--to",
        env,
        "--dry-run",
        "-o",
        "json",
    ];
    ok(dk(ctx, &args))
}

const BUILDER: &str = "https://ci.example/release";

/// A repository whose main requires, in int, a signature by the `release` key and, in prod,
/// also provenance from [`BUILDER`]; dev requires nothing. Returns the clone and the key's id.
fn gated(ctx: &TestContext) -> (PathBuf, String) {
    let clone = repository(ctx);
    let (public, id) = key(ctx, "release");
    let pem = std::fs::read_to_string(public).unwrap();
    let policy = format!(
        "environments:\n  int:\n    requireSignature: [keys/release.pub]\n  prod:\n    requireSignature: [keys/release.pub]\n    requireProvenance: {{builder: {BUILDER:?}}}\n"
    );
    merge_to_main(
        &clone,
        &[("keys/release.pub", &pem), ("policy.yaml", &policy)],
        "Promotions to int and prod need the release key",
    );
    (clone, id)
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
    let promoted = dry_run(&ctx, "v1.0.0", "prod");
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
            "policy.yaml:3:24: not a public key PEM",
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

/// The gate matrix on the zero-infrastructure flow: no policy (dev), a signature required and
/// absent, by another key, present; provenance required from a builder that matches or not.
/// Each refusal exits 1 naming what is missing and pushes nothing; a pass says in the pull
/// request what was verified.
#[test]
fn the_gate_lets_through_exactly_what_the_policy_requires() {
    let ctx = context();
    let (_clone, id) = gated(&ctx);
    key(&ctx, "other");
    build_by(&ctx, "my-pkg", "v1.0.0", Some(BUILDER));

    let dev = ok(dk(
        &ctx,
        &["promote", "my-pkg", "v1.0.0", "--to", "dev", "-o", "json"],
    ));
    assert_eq!(dev.json()["outcome"], "merged", "{}", dev.stdout);

    let unsigned = dk(&ctx, &["promote", "my-pkg", "v1.0.0", "--to", "int"]);
    assert_eq!(unsigned.code, 1, "{}", unsigned.transcript());
    assert!(
        unsigned.stderr.contains("does not pass int's policy"),
        "{}",
        unsigned.stderr
    );
    assert!(
        unsigned.stderr.contains("no signature"),
        "{}",
        unsigned.stderr
    );
    assert!(
        unsigned.stderr.contains("hint: sign it"),
        "{}",
        unsigned.stderr
    );
    assert!(!has_branch(&ctx, "dk/promote/int/c0/my-pkg/v1.0.0"));

    sign(&ctx, "default/my-pkg:v1.0.0", "other");
    let wrong = dk(&ctx, &["promote", "my-pkg", "v1.0.0", "--to", "int"]);
    assert_eq!(wrong.code, 1, "{}", wrong.transcript());
    assert!(
        wrong.stderr.contains("signed by none of the given keys"),
        "{}",
        wrong.stderr
    );
    assert!(!has_branch(&ctx, "dk/promote/int/c0/my-pkg/v1.0.0"));

    sign(&ctx, "default/my-pkg:v1.0.0", "release");
    let int = ok(dk(
        &ctx,
        &["promote", "my-pkg", "v1.0.0", "--to", "int", "-o", "json"],
    ));
    let report = int.json();
    assert_eq!(report["outcome"], "open", "{report}");
    assert_eq!(report["verified"]["keys"][0], id.as_str(), "{report}");
    assert!(report["verified"]["missing"].as_array().unwrap().is_empty());
    let branch = "dk/promote/int/c0/my-pkg/v1.0.0";
    let body = git(
        &ctx.dk_home().join("gitops"),
        &["log", "-1", "--format=%B", branch],
    );
    assert!(
        body.contains(&format!(
            "Verified against policy.yaml for int: digest `{}`, signed by `{id}`.",
            report["digest"].as_str().unwrap()
        )),
        "{body}"
    );
    // The values carry the key for the cluster's init container.
    let values = git(
        &ctx.dk_home().join("gitops"),
        &[
            "show",
            &format!("{branch}:envs/int/cells/c0/apps/my-pkg/values.yaml"),
        ],
    );
    assert!(
        values.contains("verify:\n  keys:\n    - \"-----BEGIN PUBLIC KEY-----\\n"),
        "{values}"
    );

    let prod = dry_run(&ctx, "v1.0.0", "prod");
    let body = prod.json()["body"].as_str().unwrap().to_owned();
    assert!(
        body.contains(&format!(
            "signed by `{id}`, provenance from builder `{BUILDER}`."
        )),
        "{body}"
    );

    // Built on a laptop (builder `local`) and signed with the right key: prod wants CI's.
    build(&ctx, "my-pkg", "v1.1.0");
    sign(&ctx, "default/my-pkg:v1.1.0", "release");
    ok(dk(&ctx, &["promote", "my-pkg", "v1.1.0", "--to", "int"]));
    let laptop = dk(&ctx, &["promote", "my-pkg", "v1.1.0", "--to", "prod"]);
    assert_eq!(laptop.code, 1, "{}", laptop.transcript());
    assert!(
        laptop
            .stderr
            .contains(&format!("provenance from builder local, not {BUILDER}")),
        "{}",
        laptop.stderr
    );
    assert!(!has_branch(&ctx, "dk/promote/prod/c0/my-pkg/v1.1.0"));
}

/// `dk promote check` is the required status: it passes a signed promotion and fails one whose
/// branch pins an unsigned digest, even when that branch also empties policy.yaml (the base's
/// policy is the one applied) or drops the keys from its values; `dk promote merge` refuses it.
#[test]
fn check_fails_what_the_base_policy_refuses_whatever_the_branch_says() {
    let ctx = context();
    ok(dk(
        &ctx,
        &[
            "config",
            "set",
            "environments",
            "[{name: dev, autoMerge: true}, {name: int, approvals: 0}, {name: prod, approvals: 0}]",
        ],
    ));
    let (clone, id) = gated(&ctx);
    build_by(&ctx, "my-pkg", "v1.0.0", Some(BUILDER));
    sign(&ctx, "default/my-pkg:v1.0.0", "release");
    ok(dk(&ctx, &["promote", "my-pkg", "v1.0.0", "--to", "int"]));
    let signed = "dk/promote/int/c0/my-pkg/v1.0.0";
    let check = ok(dk(&ctx, &["promote", "check", signed, "-o", "json"]));
    assert_eq!(
        check.json()["verified"]["keys"][0],
        id.as_str(),
        "{}",
        check.stdout
    );
    assert_eq!(check.json()["mergeable"], true);
    let text = ok(dk(&ctx, &["promote", "check", signed]));
    assert!(
        text.stdout.contains(&format!(": signed by {id}\n")),
        "{}",
        text.stdout
    );

    // A promoter who cannot sign pushes a branch by hand: the unsigned v1.1.0's digest, the
    // policy emptied, the keys dropped from the values.
    let digest = build(&ctx, "my-pkg", "v1.1.0");
    let unsigned = "dk/promote/int/c0/my-pkg/v1.1.0";
    git(&clone, &["pull", "-q"]);
    git(
        &clone,
        &[
            "checkout",
            "-q",
            "-b",
            unsigned,
            &format!("origin/{signed}"),
        ],
    );
    let values = clone.join("envs/int/cells/c0/apps/my-pkg/values.yaml");
    let text = std::fs::read_to_string(&values).unwrap();
    let start = text.find("verify:").unwrap();
    let text: String = text[..start].to_owned();
    let text = text
        .lines()
        .map(|line| match line.split_once(':') {
            Some(("digest", _)) => format!("digest: {digest}\n"),
            Some(("appVersion", _)) => "appVersion: v1.1.0\n".to_owned(),
            _ => format!("{line}\n"),
        })
        .collect::<String>();
    std::fs::write(&values, text).unwrap();
    std::fs::write(clone.join("policy.yaml"), "environments: {}\n").unwrap();
    git(
        &clone,
        &["commit", "-qam", "Promote my-pkg v1.1.0 to int (c0)"],
    );
    git(&clone, &["push", "-q", "origin", unsigned]);

    let check = dk(&ctx, &["promote", "check", unsigned, "-o", "json"]);
    assert_eq!(check.code, 1, "{}", check.transcript());
    let state = check.json();
    assert_eq!(state["mergeable"], false, "{state}");
    let missing: Vec<&str> = state["verified"]["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["missing"].as_str().unwrap())
        .collect();
    assert_eq!(
        missing,
        ["refused", "policyEdited", "clusterKeys"],
        "{state}"
    );
    let text = dk(&ctx, &["promote", "check", unsigned]);
    assert_eq!(text.code, 1);
    for says in [
        "no signature",
        "changes policy.yaml",
        "fails its environment's policy",
    ] {
        assert!(text.stdout.contains(says), "{says}: {}", text.stdout);
    }
    let merge = dk(&ctx, &["promote", "merge", unsigned]);
    assert_eq!(merge.code, 1, "{}", merge.transcript());
    assert!(
        merge.stderr.contains("does not pass int's policy"),
        "{}",
        merge.stderr
    );
    // Nothing merged: main still requires the key and runs v1.0.0.
    git(&clone, &["checkout", "-q", "main"]);
    git(&clone, &["pull", "-q"]);
    let policy = std::fs::read_to_string(clone.join("policy.yaml")).unwrap();
    assert!(policy.contains("keys/release.pub"), "{policy}");
    ok(dk(&ctx, &["promote", "merge", signed]));
}

/// The first `sha256:` digest in a JSON report.
fn find_digest(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) if s.starts_with("sha256:") && s.len() == 71 => {
            Some(s.clone())
        }
        serde_json::Value::Object(map) => map.values().find_map(find_digest),
        serde_json::Value::Array(items) => items.iter().find_map(find_digest),
        _ => None,
    }
}
