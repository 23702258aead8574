//! Defect 7: `dk build --force` replaced a published tag, the local check and write raced, and
//! two concurrent publishes of one tag both printed "✓ Published". `dk publish` now records each
//! push in the local layout, `--force` refuses a tag with a record, the check and the write
//! happen under one lock, and a publish re-reads the tag it pushed and reports a lost race.

use dk_test::registry::{Crafted, LyingRegistry, layer};

use crate::common::{context, run_ok};

#[test]
fn force_never_replaces_a_published_tag() {
    let ctx = context();
    let registry = LyingRegistry::start();
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    run_ok(&ctx, &["build", "demo", "--tag", "v0.1.0"], 0);
    let target = format!("{}/team", registry.host());
    let published = run_ok(
        &ctx,
        &[
            "publish",
            "demo",
            "--tag",
            "v0.1.0",
            "--registry",
            &target,
            "-o",
            "json",
        ],
        0,
    );
    assert_eq!(published.json()["outcome"], "pushed");
    let records =
        std::fs::read_to_string(ctx.dk_home().join("registry/publications.json")).unwrap();
    assert!(
        records.contains(&registry.host()) && records.contains("team/default/demo"),
        "{records}"
    );

    ctx.write("demo/extra.py", "print('changed')\n");
    let result = run_ok(&ctx, &["build", "demo", "--tag", "v0.1.0", "--force"], 1);
    assert!(
        result.stderr.contains("published to"),
        "{}",
        result.transcript()
    );
    // An unpublished tag is still replaced with --force.
    run_ok(&ctx, &["build", "demo", "--tag", "v0.2.0"], 0);
    ctx.write("demo/extra.py", "print('again')\n");
    run_ok(&ctx, &["build", "demo", "--tag", "v0.2.0"], 1);
    run_ok(&ctx, &["build", "demo", "--tag", "v0.2.0", "--force"], 0);
}

#[test]
fn concurrent_builds_of_one_tag_never_both_succeed() {
    let ctx = context();
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    let other = ctx.work().join("other");
    dk_test::copy_tree(&ctx.work().join("demo"), &other, &[]);
    std::fs::write(other.join("extra.py"), "print('other')\n").unwrap();
    let children: Vec<_> = ["demo", "other"]
        .iter()
        .map(|dir| {
            ctx.dk_process()
                .args(["build", dir, "--tag", "v0.1.0"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let codes: Vec<i32> = children
        .into_iter()
        .map(|child| child.wait_with_output().unwrap().status.code().unwrap())
        .collect();
    let mut sorted = codes.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        vec![0, 1],
        "one wins, the other is refused: {codes:?}"
    );
}

#[test]
fn a_publish_that_lost_the_race_says_so() {
    let ctx = context();
    let registry = LyingRegistry::start();
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    run_ok(&ctx, &["build", "demo", "--tag", "v0.1.0"], 0);
    // Another publisher pushes its own artifact to the same tag right after dk's push.
    let theirs = registry.artifact(
        "scratch/default/demo",
        "v0.1.0",
        &[layer(&[Crafted::File("theirs.py".into(), b"x".to_vec())])],
    );
    registry.race("team/default/demo", "v0.1.0", &theirs);
    let target = format!("{}/team", registry.host());
    let result = run_ok(
        &ctx,
        &["publish", "demo", "--tag", "v0.1.0", "--registry", &target],
        1,
    );
    let theirs_digest = dk_test::registry::sha256(&theirs);
    assert!(
        result.stderr.contains("lost a race") && result.stderr.contains(&theirs_digest),
        "{}",
        result.transcript()
    );
    assert!(
        !result.stdout.contains("Published"),
        "{}",
        result.transcript()
    );
    let records = ctx.dk_home().join("registry/publications.json");
    assert!(!records.exists(), "a lost push is not recorded");
}
