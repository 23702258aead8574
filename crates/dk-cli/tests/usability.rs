//! Small findings of new users, each reproduced: a typo'd config key can be unset, `dk status`
//! of a package that was never promoted says so, a bad OPENLINEAGE_PARENT_ID names its bad part,
//! promote and rollback say what to do when there is nothing to do, `-q` keeps the digest.

mod common;

use common::{context, run, run_ok, run_with};

#[test]
fn config_unset_removes_an_unknown_key_that_is_in_the_file() {
    let ctx = context();
    ctx.write(
        ctx.dk_home().join("config.yaml"),
        "lineage:\n  endpiont: http://127.0.0.1:5000\n",
    );
    let listed = run(&ctx, &["config", "list"]);
    assert!(
        listed
            .stderr
            .contains("unknown config key `lineage.endpiont`")
    );
    run_ok(&ctx, &["config", "unset", "lineage.endpiont"], 0);
    let listed = run(&ctx, &["config", "list"]);
    assert!(!listed.stderr.contains("unknown"), "{}", listed.stderr);
    // Not in the file: still refused, with the key it was probably meant to be.
    let again = run(&ctx, &["config", "unset", "lineage.endpiont"]);
    assert_eq!(again.code, 2);
    assert!(
        again.stderr.contains("`lineage.endpoint`"),
        "{}",
        again.stderr
    );
}

/// A GitOps repository and the package `demo`, built as v0.1.0, not promoted.
fn built_demo() -> dk_test::TestContext {
    let ctx = context();
    run_ok(&ctx, &["gitops", "init", "-q"], 0);
    run_ok(
        &ctx,
        &["init", "demo", "--runtime", "generic-python", "-q"],
        0,
    );
    run_ok(&ctx, &["build", "./demo", "--tag", "v0.1.0", "-q"], 0);
    ctx
}

#[test]
fn status_of_a_package_never_promoted_says_so_and_suggests_the_near_one() {
    let ctx = built_demo();
    run_ok(&ctx, &["promote", "demo", "v0.1.0", "--to", "dev", "-q"], 0);
    let typo = run(&ctx, &["status", "demoo"]);
    assert_eq!(typo.code, 2, "{}", typo.transcript());
    assert_eq!(typo.stdout, "");
    assert!(
        typo.stderr.contains("`demoo` was never promoted"),
        "{}",
        typo.stderr
    );
    assert!(
        typo.stderr.contains("did you mean `demo`?"),
        "{}",
        typo.stderr
    );
    let other = run(&ctx, &["status", "nosuch"]);
    assert!(
        other.stderr.contains("dk promote nosuch VERSION --to ENV"),
        "{}",
        other.stderr
    );
    let known = run_ok(&ctx, &["status", "demo", "-o", "json"], 0).json();
    assert_eq!(known["rows"][0]["status"], "Committed");
}

#[test]
fn a_parent_id_whose_run_id_is_no_uuid_says_which_part_is_wrong() {
    let ctx = context();
    run_ok(
        &ctx,
        &["init", "demo", "--runtime", "generic-python", "-q"],
        0,
    );
    let result = run_with(
        &ctx,
        &[("OPENLINEAGE_PARENT_ID", "airflow/dag.task/12345")],
        &["run", "./demo"],
    );
    assert_eq!(result.code, 2, "{}", result.transcript());
    assert!(
        result
            .stderr
            .contains("the run id `12345` (the part after the last `/`) is not a UUID"),
        "{}",
        result.stderr
    );
    let hints = result
        .stderr
        .lines()
        .filter(|l| l.starts_with("hint:"))
        .count();
    assert_eq!(hints, 1, "{}", result.stderr);
}

/// The one error line, its hint, and the exit code of a failed command.
fn refused(result: &common::Run, code: i32) -> (String, String) {
    assert_eq!(result.code, code, "{}", result.transcript());
    assert_eq!(result.stdout, "", "{}", result.transcript());
    let line = |prefix: &str| {
        result
            .stderr
            .lines()
            .find(|line| line.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` in\n{}", result.stderr))
            .to_owned()
    };
    (line("error: "), line("hint: "))
}

#[test]
fn promote_to_an_unknown_environment_and_rollback_without_history_say_what_to_do() {
    let ctx = built_demo();

    let (error, hint) = refused(
        &run(&ctx, &["promote", "demo", "v0.1.0", "--to", "staging"]),
        2,
    );
    assert!(error.contains("`staging` is not an environment"), "{error}");
    assert!(hint.contains("dev, int, prod"), "{hint}");
    assert!(hint.contains("--to dev"), "{hint}");
    // A rollback in it says the same, not that the package is not deployed there.
    let (error, hint) = refused(&run(&ctx, &["rollback", "demo", "--env", "staging"]), 2);
    assert!(error.contains("`staging` is not an environment"), "{error}");
    assert!(hint.contains("--env dev"), "{hint}");

    let (error, hint) = refused(&run(&ctx, &["rollback", "demo", "--env", "dev"]), 2);
    assert!(error.contains("demo is not deployed in dev"), "{error}");
    assert!(hint.contains("dk promote demo VERSION --to dev"), "{hint}");
    run_ok(&ctx, &["promote", "demo", "v0.1.0", "--to", "dev", "-q"], 0);
    let (error, hint) = refused(&run(&ctx, &["rollback", "demo", "--env", "dev"]), 2);
    assert!(error.contains("there is no previous version"), "{error}");
    assert!(hint.contains("--to VERSION"), "{hint}");
}

#[test]
fn quiet_build_publish_and_pull_print_the_digest_a_script_needs() {
    let ctx = context();
    run_ok(
        &ctx,
        &["init", "demo", "--runtime", "generic-python", "-q"],
        0,
    );
    let digest_line = |args: &[&str]| {
        let result = run_ok(&ctx, args, 0);
        assert_eq!(result.stderr, "", "dk {}", args.join(" "));
        let line = result
            .stdout
            .strip_suffix('\n')
            .unwrap_or_default()
            .to_owned();
        assert!(
            line.starts_with("sha256:") && line.len() == 71 && !line.contains('\n'),
            "dk {}: {:?}",
            args.join(" "),
            result.stdout
        );
        line
    };
    let built = digest_line(&["build", "./demo", "--tag", "v0.1.0", "-q"]);
    let json = run_ok(&ctx, &["inspect", "demo:v0.1.0", "-o", "json"], 0).json();
    assert_eq!(json["digest"], built.as_str(), "{json}");
    assert_eq!(
        digest_line(&["publish", "./demo", "--tag", "v0.1.0", "-q"]),
        built
    );
    assert_eq!(
        digest_line(&["pull", "demo:v0.1.0", "--output-dir", "pulled", "-q"]),
        built
    );
}
