//! Defect 1: a chain of symlinks, each inside when read alone (`l0 -> .`, `l1 -> l0/..`, ...),
//! reaches `/`; a hard link through it (`l15/etc/passwd`) linked any file of the machine into
//! the pulled folder. Links are now resolved against what is already unpacked, hard links
//! only reach regular files of the same artifact, and `dk build` applies the same resolution.

use std::os::unix::fs::MetadataExt;

use dk_test::registry::{Crafted, LyingRegistry, layer, link_chain};

use crate::common::{context, run_ok};

#[test]
fn pull_refuses_the_link_chain_and_the_hard_link_through_it() {
    let ctx = context();
    let registry = LyingRegistry::start();
    let target = std::env::temp_dir().join(format!("dk-d01-{}", std::process::id()));
    std::fs::write(&target, b"victim").unwrap();
    let before = std::fs::metadata(&target).unwrap().nlink();
    let mut entries = link_chain();
    let through = format!("l15{}", target.display());
    entries.push(Crafted::HardLink("stolen".into(), through));
    registry.artifact("team/default/evil", "v1.0.0", &[layer(&entries)]);
    let reference = format!("{}/team/default/evil:v1.0.0", registry.host());
    let result = run_ok(&ctx, &["pull", &reference, "--to", "out"], 1);
    assert!(
        result.stderr.contains("l1") && result.stderr.contains("outside the folder"),
        "{}",
        result.transcript()
    );
    assert!(!ctx.work().join("out").exists(), "nothing unpacked");
    assert_eq!(std::fs::metadata(&target).unwrap().nlink(), before);

    // The hard link alone, with no chain, reaching a file that was never unpacked.
    let alone = [Crafted::HardLink("stolen".into(), "etc/passwd".into())];
    registry.artifact("team/default/evil", "v1.0.1", &[layer(&alone)]);
    let reference = format!("{}/team/default/evil:v1.0.1", registry.host());
    let result = run_ok(&ctx, &["pull", &reference, "--to", "out"], 1);
    assert!(
        result.stderr.contains("not a regular file unpacked before"),
        "{}",
        result.transcript()
    );
    assert!(!ctx.work().join("out").exists());
    std::fs::remove_file(&target).unwrap();
}

#[test]
fn pull_keeps_links_that_stay_inside() {
    let ctx = context();
    let registry = LyingRegistry::start();
    let entries = [
        Crafted::File("data/a.csv".into(), b"x\n".to_vec()),
        Crafted::Symlink("latest.csv".into(), "data/a.csv".into()),
        Crafted::Symlink("data/up".into(), "..".into()),
        Crafted::HardLink("copy.csv".into(), "data/a.csv".into()),
    ];
    registry.artifact("team/default/fine", "v1.0.0", &[layer(&entries)]);
    let reference = format!("{}/team/default/fine:v1.0.0", registry.host());
    run_ok(&ctx, &["pull", &reference, "--to", "out"], 0);
    assert_eq!(ctx.read("out/latest.csv"), "x\n");
    assert_eq!(ctx.read("out/copy.csv"), "x\n");
}

#[test]
fn build_refuses_links_whose_resolved_target_leaves_the_package() {
    let ctx = context();
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    let dir = ctx.work().join("demo");
    std::os::unix::fs::symlink(".", dir.join("l0")).unwrap();
    std::os::unix::fs::symlink("l0/..", dir.join("l1")).unwrap();
    let result = run_ok(&ctx, &["build", "demo", "--tag", "v0.1.0"], 1);
    assert!(
        result.stderr.contains("l1 -> l0/..") && !result.stderr.contains("l0 -> ."),
        "{}",
        result.transcript()
    );
    let lint = run_ok(&ctx, &["lint", "demo", "-o", "json"], 1);
    let codes: Vec<_> = lint.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_owned(),
                f["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        codes
            .iter()
            .any(|(code, message)| code == "DK120" && message.starts_with("l1 -> l0/..")),
        "{codes:?}"
    );
    let explained = run_ok(&ctx, &["lint", "--explain", "DK120"], 0);
    assert!(
        explained.stdout.contains("link-outside-package"),
        "{}",
        explained.stdout
    );
    std::fs::remove_file(dir.join("l1")).unwrap();
    std::os::unix::fs::symlink("l0/main.py", dir.join("l1")).unwrap();
    run_ok(&ctx, &["build", "demo", "--tag", "v0.1.0"], 0);
}
