//! Defect 6 (manifests and scaffolding): `metadata.namespace`, package names and versions were
//! accepted whatever they held, and `dk build`/`dk publish` then used them as paths and
//! repository names. Every value below is refused before any use: by `dk lint` (DK101, DK102,
//! which gates `dk build`, `dk publish` and `dk run`) and by the commands that create files.

use dk_test::TestContext;

use crate::common::{context, run, run_ok};

/// Path traversal, empty, a newline, an emoji and uppercase.
const BAD: &[&str] = &["../../tmp/x", "a/../b", "", "a\nb", "🦀", "Analytics"];

/// A package whose dk.yaml sets `metadata.FIELD` to `value` (quoted as JSON, which is YAML).
fn package_with(ctx: &TestContext, field: &str, value: &str) {
    let _ = std::fs::remove_dir_all(ctx.work().join("pkg"));
    run_ok(ctx, &["init", "pkg"], 0);
    let manifest = ctx.read("pkg/dk.yaml");
    let quoted = serde_json::to_string(value).unwrap();
    let edited: Vec<String> = manifest
        .lines()
        .filter(|line| !line.starts_with(&format!("  {field}:")))
        .map(|line| {
            if line == "metadata:" {
                format!("metadata:\n  {field}: {quoted}")
            } else {
                line.to_owned()
            }
        })
        .collect();
    ctx.write("pkg/dk.yaml", edited.join("\n") + "\n");
}

fn assert_lint_refuses(ctx: &TestContext, code: &str, field: &str, value: &str) {
    let lint = run(ctx, &["lint", "pkg", "-o", "json"]);
    assert_eq!(lint.code, 1, "{value:?}: {}", lint.transcript());
    let findings = lint.json()["findings"].as_array().unwrap().clone();
    assert!(
        findings.iter().any(|finding| finding["code"] == code
            && finding["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("metadata.{field} `"))
            && finding["location"]["file"] == "pkg/dk.yaml"),
        "{value:?}: {findings:#?}"
    );
}

/// Nothing was built, and nothing appeared outside the test's folders.
fn assert_build_refuses(ctx: &TestContext, value: &str) {
    let build = run(ctx, &["build", "pkg", "--tag", "1.0.0"]);
    assert_eq!(build.code, 1, "{value:?}: {}", build.transcript());
    assert!(
        !ctx.dk_home().join("registry").exists(),
        "{value:?}: dk build wrote a layout"
    );
    assert!(!ctx.root().join("tmp").exists(), "{value:?}");
}

#[test]
fn bad_namespaces_are_dk101_and_block_the_build() {
    let ctx = context();
    for value in BAD {
        package_with(&ctx, "namespace", value);
        assert_lint_refuses(&ctx, "DK101", "namespace", value);
        assert_build_refuses(&ctx, value);
    }
}

#[test]
fn bad_package_names_are_dk101_and_block_the_build() {
    let ctx = context();
    for value in BAD {
        package_with(&ctx, "name", value);
        assert_lint_refuses(&ctx, "DK101", "name", value);
        assert_build_refuses(&ctx, value);
    }
}

#[test]
fn bad_versions_are_dk102() {
    let ctx = context();
    for value in BAD.iter().chain(&["1.0", "v1.0.0"]) {
        package_with(&ctx, "version", value);
        assert_lint_refuses(&ctx, "DK102", "version", value);
    }
}

#[test]
fn a_namespace_set_by_flag_is_checked_at_the_flag() {
    let ctx = context();
    run_ok(&ctx, &["init", "pkg"], 0);
    let lint = run(
        &ctx,
        &[
            "lint",
            "pkg",
            "--set",
            "metadata.namespace=../../tmp/x",
            "-o",
            "json",
        ],
    );
    assert_eq!(lint.code, 1, "{}", lint.transcript());
    let findings = lint.json()["findings"].clone();
    assert_eq!(findings[0]["code"], "DK101", "{findings:#}");
    assert_eq!(
        findings[0]["location"]["flag"], "--set metadata.namespace=../../tmp/x",
        "{findings:#}"
    );
}

#[test]
fn commands_that_create_files_refuse_bad_names_before_writing() {
    let ctx = context();
    run_ok(&ctx, &["init", "pkg"], 0);
    let before = std::fs::read_dir(ctx.work().join("pkg/dataset"))
        .unwrap()
        .count();
    for value in BAD {
        let commands: [&[&str]; 5] = [
            &["init", value],
            &["init", "ok", "--namespace", value],
            &[
                "dataset", "create", value, "--dir", "pkg", "--store", "local",
            ],
            &[
                "store",
                "create",
                value,
                "--dir",
                "pkg",
                "--connector",
                "file",
            ],
            &[
                "connector",
                "create",
                value,
                "--dir",
                "pkg",
                "--type",
                "x",
                "--capability",
                "source",
            ],
        ];
        for args in commands {
            let result = run(&ctx, args);
            assert_eq!(result.code, 2, "{args:?}: {}", result.transcript());
        }
    }
    assert!(!ctx.work().join("ok").exists());
    assert!(!ctx.root().join("tmp").exists());
    assert_eq!(
        std::fs::read_dir(ctx.work().join("pkg/dataset"))
            .unwrap()
            .count(),
        before
    );
}
