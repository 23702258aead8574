//! Small findings of new users, each reproduced: a typo'd config key can be unset, `dk status`
//! of a package that was never promoted says so, a bad OPENLINEAGE_PARENT_ID names its bad part.

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

#[test]
fn status_of_a_package_never_promoted_says_so_and_suggests_the_near_one() {
    let ctx = context();
    run_ok(&ctx, &["gitops", "init", "-q"], 0);
    run_ok(
        &ctx,
        &["init", "demo", "--runtime", "generic-python", "-q"],
        0,
    );
    run_ok(&ctx, &["build", "./demo", "--tag", "v0.1.0", "-q"], 0);
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
