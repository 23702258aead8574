//! Versions you can trust: `dk diff` classifies what changed between two versions of a package
//! by its manifests (and names who consumes what breaks).

mod common;

use common::{context, run_ok, run_with};
use dk_test::{TestContext, service};
use serde_json::Value;

/// A project (`.dk/`) holding `demo` (reads demo-raw, writes demo-clean) and `report`, which
/// reads demo-clean.
fn project(ctx: &TestContext) {
    std::fs::create_dir_all(ctx.work().join(".dk")).unwrap();
    run_ok(ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    run_ok(ctx, &["init", "report", "--runtime", "generic-python"], 0);
    let report = ctx.read("report/dk.yaml");
    let report = report.replacen("dataset: report-raw", "dataset: demo-clean", 1);
    ctx.write("report/dk.yaml", report);
    std::fs::remove_file(ctx.work().join("report/dataset/report-raw.yaml")).unwrap();
}

fn edit(ctx: &TestContext, file: &str, from: &str, to: &str) {
    let text = ctx.read(file);
    assert!(text.contains(from), "{file} has no {from:?}");
    ctx.write(file, text.replacen(from, to, 1));
}

/// A breaking change: a column of demo's output removed.
fn drop_signup_month(ctx: &TestContext) {
    edit(
        ctx,
        "demo/dataset/demo-clean.yaml",
        "    - name: signup_month\n      type: string\n      from: demo-raw.signup_date\n",
        "",
    );
}

fn diff(ctx: &TestContext, env: &[(&str, &str)], args: &[&str]) -> Value {
    let mut all = vec!["diff"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    let result = run_with(ctx, env, &all);
    assert_eq!(result.code, 0, "{}", result.transcript());
    result.json()
}

fn rules(report: &Value) -> Vec<&str> {
    report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["rule"].as_str().unwrap())
        .collect()
}

#[test]
fn diff_classifies_changes_against_a_local_tag_and_names_the_consumers() {
    let ctx = context();
    project(&ctx);
    run_ok(&ctx, &["build", "demo", "--tag", "v1.0.0", "-q"], 0);
    // The lineage store learns that the job default/demo reads demo-raw.
    run_ok(&ctx, &["run", "demo", "-q"], 0);

    let same = diff(&ctx, &[], &["v1.0.0", "demo"]);
    assert_eq!(same["level"], "none", "{same:#}");
    assert_eq!(same["minimum"], "1.0.1");
    // Nothing changed: nothing is required (a user read "Required: a none change").
    let same_text = run_ok(&ctx, &["diff", "v1.0.0", "demo"], 0).stdout;
    assert!(
        same_text.contains("No changes.") && !same_text.contains("Required"),
        "{same_text}"
    );

    edit(&ctx, "demo/main.py", "import", "# a comment\nimport");
    let patch = diff(&ctx, &[], &["v1.0.0", "demo"]);
    assert_eq!(patch["level"], "patch", "{patch:#}");
    assert_eq!(patch["changes"][0]["message"], "main.py modified");

    edit(
        &ctx,
        "demo/dataset/demo-clean.yaml",
        "    - name: country\n",
        "    - name: region\n      type: string\n    - name: country\n",
    );
    let minor = diff(&ctx, &[], &["v1.0.0", "demo"]);
    assert_eq!(minor["level"], "minor", "{minor:#}");
    assert_eq!(minor["minimum"], "1.1.0");

    // Breaking: a column of the output gone (report reads it), an input column required (the
    // job that ran reads it, as the lineage store recorded).
    drop_signup_month(&ctx);
    edit(
        &ctx,
        "demo/dataset/demo-raw.yaml",
        "      type: date\n",
        "      type: date\n      nullable: false\n",
    );
    let breaking = diff(&ctx, &[], &["v1.0.0", "demo"]);
    assert_eq!(breaking["level"], "breaking", "{breaking:#}");
    assert_eq!(breaking["minimum"], "2.0.0");
    let found = rules(&breaking);
    assert!(
        found.contains(&"column-removed") && found.contains(&"required-input"),
        "{found:?}"
    );
    assert_eq!(
        breaking["consumers"]["demo-clean"],
        serde_json::json!([{"name": "default/report", "source": "project"}])
    );
    assert_eq!(
        breaking["consumers"]["demo-raw"],
        serde_json::json!([{"name": "default/demo", "source": "lineage"}])
    );

    let text = run_ok(&ctx, &["diff", "v1.0.0", "demo"], 0).stdout;
    assert!(
        text.contains("breaking DataSet `demo-clean`: column `signup_month` removed"),
        "{text}"
    );
    assert!(
        text.contains("Consumers of demo-clean: default/report (project)"),
        "{text}"
    );
    assert!(
        text.contains("the next version is at least v2.0.0"),
        "{text}"
    );
    let markdown = run_ok(&ctx, &["diff", "v1.0.0", "demo", "-o", "markdown"], 0).stdout;
    assert!(
        markdown.starts_with("**Breaking**\n\n- `demo-clean`: `default/report` (project)\n"),
        "{markdown}"
    );

    // Two built versions, named by tag from inside the package, and by reference.
    run_ok(&ctx, &["build", "demo", "--tag", "v2.0.0", "-q"], 0);
    let tags = diff(&ctx, &[], &["default/demo:v1.0.0", "default/demo:v2.0.0"]);
    assert_eq!(rules(&tags), rules(&breaking));
    let result = ctx
        .dk_process()
        .current_dir(ctx.work().join("demo"))
        .args(["diff", "v1.0.0", "v2.0.0", "-o", "json"])
        .output()
        .unwrap();
    let inside: Value = serde_json::from_slice(&result.stdout).unwrap();
    assert_eq!(rules(&inside), rules(&breaking));
    // Backwards, the diff reads additions as removals: said, not silently reported.
    let backwards = run_ok(
        &ctx,
        &["diff", "default/demo:v2.0.0", "default/demo:v1.0.0"],
        0,
    );
    assert!(
        backwards
            .stderr
            .contains("default/demo:v2.0.0 is newer than default/demo:v1.0.0"),
        "{}",
        backwards.stderr
    );

    // A tag never built, with no registry: a usage error that says what to do.
    let missing = run_with(&ctx, &[], &["diff", "v9.0.0", "demo"]);
    assert_eq!(missing.code, 2, "{}", missing.transcript());
    assert!(
        missing
            .stderr
            .contains("default/demo:v9.0.0 is not in the local registry"),
        "{}",
        missing.stderr
    );
}

/// demo built as `tag` and published under a prefix of this test's own in `registry`, then
/// removed from the local registry: only the registry has it. The prefix.
fn published_only(ctx: &TestContext, registry: &str, tag: &str) -> String {
    run_ok(ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    let prefix = format!("{registry}/{}", ctx.unique_name());
    run_ok(ctx, &["build", "demo", "--tag", tag, "-q"], 0);
    let publish = ["publish", "demo", "--tag", tag, "--registry", &prefix, "-q"];
    run_ok(ctx, &publish, 0);
    std::fs::remove_dir_all(ctx.dk_home().join("registry")).unwrap();
    prefix
}

#[test]
fn diff_against_a_version_published_to_a_real_registry() {
    let Some(registry) = service("DK_TEST_REGISTRY", "an OCI registry") else {
        return;
    };
    let ctx = context();
    let prefix = published_only(&ctx, &registry, "v0.3.1");
    edit(
        &ctx,
        "demo/dataset/demo-clean.yaml",
        "classification: confidential",
        "classification: internal",
    );
    let env = [("DK_REGISTRY", prefix.as_str())];
    let report = diff(&ctx, &env, &["v0.3.1", "demo"]);
    assert_eq!(report["level"], "breaking", "{report:#}");
    assert_eq!(rules(&report), ["classification-lowered"]);
    // Before 1.0 a breaking change bumps the minor number.
    assert_eq!(report["minimum"], "0.4.0");
    assert!(
        report["old"].as_str().unwrap().starts_with(&prefix),
        "{report:#}"
    );
}

fn build(ctx: &TestContext, env: &[(&str, &str)], args: &[&str]) -> common::Run {
    let mut all = vec!["build", "demo"];
    all.extend_from_slice(args);
    run_with(ctx, env, &all)
}

/// In the project: builds `first`, makes `change`, and tries to build `next`, which must be
/// refused (exit 1).
fn refused_bump(
    ctx: &TestContext,
    first: &str,
    change: &dyn Fn(&TestContext),
    next: &str,
) -> common::Run {
    project(ctx);
    assert_eq!(build(ctx, &[], &["--tag", first, "-q"]).code, 0);
    change(ctx);
    let refused = build(ctx, &[], &["--tag", next]);
    assert_eq!(refused.code, 1, "{}", refused.transcript());
    refused
}

#[test]
fn build_refuses_a_bump_smaller_than_the_contract_diff_requires() {
    let ctx = context();
    let refused = refused_bump(&ctx, "v1.0.0", &drop_signup_month, "v1.0.1");
    assert!(
        refused.stderr.contains("v1.0.1 is too small a step after v1.0.0: the changes need at least v2.0.0\n  - breaking: DataSet `demo-clean`: column `signup_month` removed (read by default/report)"),
        "{}",
        refused.stderr
    );
    assert!(
        refused
            .stderr
            .contains("hint: dk build --tag v2.0.0, or --allow-breaking"),
        "{}",
        refused.stderr
    );
    // Nothing was built.
    assert_eq!(
        run_with(&ctx, &[], &["inspect", "default/demo:v1.0.1"]).code,
        2
    );
    // A minor bump is still too small for a breaking change.
    assert_eq!(build(&ctx, &[], &["--tag", "v1.1.0"]).code, 1);

    let empty = build(&ctx, &[], &["--tag", "v1.0.1", "--allow-breaking", " "]);
    assert_eq!(empty.code, 2, "{}", empty.transcript());
    let allowed = build(
        &ctx,
        &[],
        &[
            "--tag",
            "v1.0.1",
            "--allow-breaking",
            "report migrated",
            "-o",
            "json",
        ],
    );
    assert_eq!(allowed.code, 0, "{}", allowed.transcript());
    let report = allowed.json();
    assert_eq!(report["semver"]["tooSmall"], true, "{report:#}");
    assert!(
        allowed
            .stderr
            .contains("(the reason is recorded in the artifact): report migrated"),
        "{}",
        allowed.stderr
    );
    let inspect = run_ok(&ctx, &["inspect", "default/demo:v1.0.1", "-o", "json"], 0).json();
    assert_eq!(
        inspect["manifest"]["annotations"]["dev.datakit.semver.allow-breaking"],
        "report migrated"
    );

    // The next version is checked against v1.0.1, the highest lower one: no change, any bump.
    let next = build(&ctx, &[], &["--tag", "v1.0.2", "-o", "json"]);
    assert_eq!(next.code, 0, "{}", next.transcript());
    assert_eq!(next.json()["semver"]["previous"], "1.0.1");
    let major = build(&ctx, &[], &["--tag", "v2.0.0", "-o", "json"]);
    assert_eq!(major.code, 0, "{}", major.transcript());
    assert_eq!(major.json()["semver"]["level"], "none");
}

#[test]
fn before_1_0_a_breaking_change_bumps_the_minor_and_a_policy_can_make_it_a_warning() {
    let ctx = context();
    let narrow = |ctx: &TestContext| {
        edit(
            ctx,
            "demo/dataset/demo-clean.yaml",
            "    - name: id\n      type: integer\n",
            "    - name: id\n      type: smallint\n",
        )
    };
    let refused = refused_bump(&ctx, "v0.3.1", &narrow, "v0.3.2");
    assert!(
        refused.stderr.contains("the changes need at least v0.4.0"),
        "{}",
        refused.stderr
    );
    assert!(
        refused
            .stderr
            .contains("column `id` narrowed integer → smallint"),
        "{}",
        refused.stderr
    );

    ctx.write(".dk/policies.yaml", "policies:\n  semver: warning\n");
    let warned = build(&ctx, &[], &["--tag", "v0.3.2"]);
    assert_eq!(warned.code, 0, "{}", warned.transcript());
    assert!(
        warned
            .stderr
            .contains("allowed: .dk/policies.yaml sets semver: warning"),
        "{}",
        warned.stderr
    );
    ctx.write(".dk/policies.yaml", "policies:\n  semver: off\n");
    assert_eq!(
        run_with(&ctx, &[], &["lint", "demo"]).code,
        1,
        "an invalid policy is a lint error"
    );
}

#[test]
fn build_checks_against_the_registry_and_says_when_it_could_only_check_locally() {
    let Some(registry) = service("DK_TEST_REGISTRY", "an OCI registry") else {
        return;
    };
    let ctx = context();
    let prefix = published_only(&ctx, &registry, "v1.0.0");
    let env = [("DK_REGISTRY", prefix.as_str())];
    edit(
        &ctx,
        "demo/dataset/demo-clean.yaml",
        "    - name: country\n      type: string\n",
        "    - name: country\n      type: boolean\n",
    );
    let refused = build(&ctx, &env, &["--tag", "v1.1.0"]);
    assert_eq!(refused.code, 1, "{}", refused.transcript());
    assert!(
        refused
            .stderr
            .contains("column `country` type string → boolean"),
        "{}",
        refused.stderr
    );
    let built = build(&ctx, &env, &["--tag", "v2.0.0", "-o", "json"]);
    assert_eq!(built.code, 0, "{}", built.transcript());
    assert_eq!(built.json()["semver"]["scope"], "local and registry");

    // A registry that cannot be reached: the local versions only, and a warning saying so.
    let down = [("DK_REGISTRY", "127.0.0.1:9/nowhere")];
    let local = build(&ctx, &down, &["--tag", "v2.0.1", "-o", "json"]);
    assert_eq!(local.code, 0, "{}", local.transcript());
    assert!(
        local
            .stderr
            .contains("checked against the local registry only"),
        "{}",
        local.stderr
    );
    assert_eq!(local.json()["semver"]["scope"], "local");
}

/// The description a promotion of demo `version` to dev would open its pull request with.
fn dry_run_body(ctx: &TestContext, version: &str) -> String {
    let args = [
        "promote",
        "demo",
        version,
        "--to",
        "dev",
        "--dry-run",
        "-o",
        "json",
    ];
    let json = run_ok(ctx, &args, 0).json();
    json["body"].as_str().unwrap().to_owned()
}

#[test]
fn a_breaking_promotion_opens_its_pull_request_with_breaking_and_the_consumers() {
    let ctx = context();
    project(&ctx);
    run_ok(&ctx, &["gitops", "init", "-q"], 0);
    run_ok(&ctx, &["build", "demo", "--tag", "v1.0.0", "-q"], 0);
    run_ok(&ctx, &["promote", "demo", "v1.0.0", "--to", "dev", "-q"], 0);
    drop_signup_month(&ctx);
    run_ok(&ctx, &["build", "demo", "--tag", "v2.0.0", "-q"], 0);
    let dry = dry_run_body(&ctx, "v2.0.0");
    // The description: the title, then the body.
    let (title, body) = dry.split_once("\n\n").unwrap();
    assert_eq!(title, "Promote demo v2.0.0 to dev (c0)");
    assert!(
        body.starts_with("**Breaking**\n\n- `demo-clean`: `default/report` (project)\n"),
        "{body}"
    );
    assert!(
        body.contains("| breaking | DataSet `demo-clean`: column `signup_month` removed |"),
        "{body}"
    );
    // A compatible version lists its changes under the version table.
    edit(&ctx, "demo/main.py", "import", "# tidier\nimport");
    run_ok(&ctx, &["build", "demo", "--tag", "v2.0.1", "-q"], 0);
    run_ok(&ctx, &["promote", "demo", "v2.0.0", "--to", "dev", "-q"], 0);
    let patch = dry_run_body(&ctx, "v2.0.1");
    let (_, body) = patch.split_once("\n\n").unwrap();
    assert!(body.starts_with("| | Version | Digest |"), "{body}");
    assert!(
        body.contains("Changes in the package (patch):\n\n| Level | Change |"),
        "{body}"
    );
    assert!(body.contains("| patch | main.py modified |"), "{body}");
}

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    dk_test::forge::git(dir, args).unwrap_or_else(|err| panic!("git {args:?}: {err}"))
}

/// A clone of the embedded GitOps repository where `change` is made on main and pushed.
fn push_to_main(ctx: &TestContext, change: &dyn Fn(&std::path::Path)) {
    let clone = ctx.root().join(format!("main-{}", ctx.unique_name()));
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
    change(&clone);
    git(&clone, &["add", "-A"]);
    git(&clone, &["commit", "-qm", "a change on main"]);
    git(&clone, &["push", "-q", "origin", "main"]);
}

/// One environment, `dev`, that waits for `approvals` and never merges by itself.
fn manual_dev(ctx: &TestContext, approvals: u32) {
    ctx.write(
        ctx.dk_home().join("config.yaml"),
        format!("environments:\n  - {{name: dev, approvals: {approvals}, autoMerge: false}}\n"),
    );
}

#[test]
fn promote_check_refuses_a_branch_that_conflicts_with_its_base() {
    let ctx = context();
    manual_dev(&ctx, 0);
    run_ok(&ctx, &["gitops", "init", "-q"], 0);
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    run_ok(&ctx, &["build", "demo", "--tag", "v1.0.0", "-q"], 0);
    let promoted = run_ok(
        &ctx,
        &["promote", "demo", "v1.0.0", "--to", "dev", "-o", "json"],
        0,
    )
    .json();
    let branch = promoted["branch"].as_str().unwrap().to_owned();
    let check = run_ok(&ctx, &["promote", "check", &branch], 0);
    assert!(check.stdout.contains("can merge"), "{}", check.stdout);

    // Someone writes the same values file on main: the promotion no longer merges cleanly.
    push_to_main(&ctx, &|clone| {
        let file = clone.join("envs/dev/cells/c0/apps/demo/values.yaml");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, "version: v0.9.0\n").unwrap();
    });
    let conflicted = run_with(&ctx, &[], &["promote", "check", &branch]);
    assert_eq!(conflicted.code, 1, "{}", conflicted.transcript());
    assert!(
        conflicted.stdout.contains("conflicts with main"),
        "{}",
        conflicted.stdout
    );
    assert!(
        !conflicted.stdout.contains("can merge"),
        "{}",
        conflicted.stdout
    );
    let json = run_with(&ctx, &[], &["promote", "check", &branch, "-o", "json"]).json();
    assert_eq!(json["conflicts"], true);
    assert_eq!(json["mergeable"], false);
}

#[test]
fn promote_approve_reads_a_relative_key_from_where_it_runs() {
    let ctx = context();
    manual_dev(&ctx, 1);
    run_ok(&ctx, &["gitops", "init", "-q"], 0);
    let (_, line) = dk_test::forge::ssh_key(&ctx.root().join("keys"), "alice");
    push_to_main(&ctx, &|clone| {
        let file = clone.join(".dk/allowed_signers");
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, format!("{text}{line}\n")).unwrap();
    });
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    run_ok(&ctx, &["build", "demo", "--tag", "v1.0.0", "-q"], 0);
    let promoted = run_ok(
        &ctx,
        &["promote", "demo", "v1.0.0", "--to", "dev", "-o", "json"],
        0,
    )
    .json();
    let branch = promoted["branch"].as_str().unwrap();
    let approved = ctx
        .dk_process()
        .current_dir(ctx.root())
        .args([
            "promote",
            "approve",
            branch,
            "--key",
            "keys/alice",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    let run = common::Run::from_output(approved);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(run.json()["approvals"], serde_json::json!(["alice"]));
}
