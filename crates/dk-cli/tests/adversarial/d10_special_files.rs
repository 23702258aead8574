//! Defect 10 (manifests, policies, values and config files): a FIFO as `dataset/x.yaml` hung
//! `dk lint`, and a manifest linked to `/dev/zero` was read for 2 GiB. dk reads only regular
//! files, capped, and writes manifests and config files atomically without following a link.
//! Every command here runs under a watchdog, so that a regression fails instead of hanging.

use std::path::Path;

use crate::common::{Run, context, run_ok};
use crate::{fifo, run_bounded};

fn link_to_dev_zero(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink("/dev/zero", path).unwrap();
}

fn assert_unreadable(run: &Run, file: &str, kind: &str) {
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stdout.contains(&format!(
            "cannot read {file}: it is {kind}, not a regular file"
        )) && run.stdout.contains("[DK009]"),
        "{}",
        run.transcript()
    );
}

#[test]
fn a_fifo_dataset_is_unreadable_not_a_hang() {
    let ctx = context();
    run_ok(&ctx, &["init", "pkg"], 0);
    fifo(&ctx.work().join("pkg/dataset/x.yaml"));
    let run = run_bounded(&ctx, &["lint", "pkg"]);
    assert_unreadable(&run, "pkg/dataset/x.yaml", "a FIFO");
}

#[test]
fn manifests_linked_to_dev_zero_are_unreadable_not_read() {
    let ctx = context();
    run_ok(&ctx, &["init", "pkg"], 0);
    link_to_dev_zero(&ctx.work().join("pkg/dataset/zero.yaml"));
    let run = run_bounded(&ctx, &["lint", "pkg"]);
    assert_unreadable(&run, "pkg/dataset/zero.yaml", "a character device");
    std::fs::remove_file(ctx.work().join("pkg/dk.yaml")).unwrap();
    link_to_dev_zero(&ctx.work().join("pkg/dk.yaml"));
    let run = run_bounded(&ctx, &["lint", "pkg"]);
    assert_unreadable(&run, "pkg/dk.yaml", "a character device");
}

#[test]
fn a_fifo_policy_file_is_reported_not_skipped() {
    let ctx = context();
    run_ok(&ctx, &["init", "pkg"], 0);
    fifo(&ctx.work().join(".dk/policies.yaml"));
    let run = run_bounded(&ctx, &["lint", "pkg"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stdout.contains("[DK013]") && run.stdout.contains("a FIFO, not a regular file"),
        "{}",
        run.transcript()
    );
}

#[test]
fn special_values_and_config_files_are_usage_errors() {
    let ctx = context();
    run_ok(&ctx, &["init", "pkg"], 0);
    fifo(&ctx.work().join("values.yaml"));
    link_to_dev_zero(&ctx.work().join("zero.yaml"));
    for (file, kind) in [
        ("values.yaml", "a FIFO"),
        ("zero.yaml", "a character device"),
    ] {
        let run = run_bounded(&ctx, &["lint", "pkg", "-f", file]);
        assert_eq!(run.code, 2, "{}", run.transcript());
        assert!(
            run.stderr
                .contains(&format!("cannot read values file {file}: it is {kind}")),
            "{}",
            run.transcript()
        );
    }
    fifo(&ctx.dk_home().join("config.yaml"));
    let run = run_bounded(&ctx, &["config", "list"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(
        run.stderr.contains("is a FIFO, not a regular file"),
        "{}",
        run.transcript()
    );
    std::fs::remove_file(ctx.dk_home().join("config.yaml")).unwrap();
    std::fs::write(ctx.dk_home().join("config.yaml"), "#".repeat(2 << 20)).unwrap();
    let run = run_bounded(&ctx, &["config", "list"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(
        run.stderr.contains("config file over dk's YAML limits")
            && run.stderr.contains("larger than 1048576 bytes"),
        "{}",
        run.transcript()
    );
}

#[test]
fn config_and_manifest_writes_replace_a_link_instead_of_following_it() {
    let ctx = context();
    let outside = ctx.root().join("outside.yaml");
    std::fs::write(&outside, "kept: true\n").unwrap();
    std::fs::create_dir_all(ctx.dk_home()).unwrap();
    std::os::unix::fs::symlink(&outside, ctx.dk_home().join("config.yaml")).unwrap();
    run_ok(&ctx, &["config", "set", "registry", "ghcr.io/acme"], 0);
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "kept: true\n");
    let config = ctx.dk_home().join("config.yaml");
    assert!(config.symlink_metadata().unwrap().is_file());
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .contains("ghcr.io/acme")
    );

    run_ok(&ctx, &["init", "pkg"], 0);
    let manifest = ctx.work().join("pkg/dataset/orders.yaml");
    std::os::unix::fs::symlink(&outside, &manifest).unwrap();
    let args = [
        "dataset",
        "create",
        "orders",
        "--dir",
        "pkg",
        "--store",
        "local-files",
        "--path",
        "orders.csv",
    ];
    let refused = run_bounded(&ctx, &args);
    assert_eq!(refused.code, 2, "{}", refused.transcript());
    let forced = run_bounded(&ctx, &[&args[..], &["--force"]].concat());
    assert_eq!(forced.code, 0, "{}", forced.transcript());
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "kept: true\n");
    assert!(manifest.symlink_metadata().unwrap().is_file());
}
