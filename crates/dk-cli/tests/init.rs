mod common;

use common::{context, run, run_ok, snapshot};

#[test]
fn faq_quickstart_creates_a_package_that_lints_clean() {
    let ctx = context();
    let init = run_ok(
        &ctx,
        &["init", "my-pipeline", "--runtime", "generic-python"],
        0,
    );
    snapshot(&ctx, "init_generic_python", &init.transcript());
    let lint = run_ok(&ctx, &["lint", "my-pipeline"], 0);
    snapshot(&ctx, "lint_clean", &lint.transcript());
    assert!(
        ctx.work()
            .join("my-pipeline/data/input/customers.csv")
            .is_file()
    );
}

#[test]
fn every_runtime_scaffolds_and_lints_clean_in_both_modes() {
    let ctx = context();
    for runtime in [
        "cloudquery",
        "generic-go",
        "generic-python",
        "dbt",
        "generic-node",
        "generic-java",
    ] {
        for mode in ["batch", "streaming"] {
            let name = format!("{runtime}-{mode}");
            let result = run(&ctx, &["init", &name, "--runtime", runtime, "--mode", mode]);
            let batch_only = matches!(runtime, "dbt" | "cloudquery");
            if batch_only && mode == "streaming" {
                assert_eq!(result.code, 2, "{}", result.transcript());
                assert!(
                    result.stderr.contains("does not support mode streaming"),
                    "{}",
                    result.stderr
                );
                assert!(
                    !ctx.work().join(&name).exists(),
                    "nothing is created on refusal"
                );
                continue;
            }
            assert_eq!(result.code, 0, "{}", result.transcript());
            let lint = run_ok(&ctx, &["lint", "--strict", &name], 0);
            assert!(
                lint.stdout.contains("0 errors, 0 warnings"),
                "{}",
                lint.stdout
            );
        }
    }
    // All the packages together form one project that lints clean too.
    run_ok(&ctx, &["lint", "--strict", "."], 0);
    // `generic` runs the user's own command: there is nothing to scaffold.
    let generic = run(&ctx, &["init", "any", "--runtime", "generic"]);
    assert_eq!(generic.code, 2, "{}", generic.transcript());
    assert!(
        generic.stderr.contains("generic-node"),
        "{}",
        generic.stderr
    );
}

#[test]
fn init_reports_files_as_json() {
    let ctx = context();
    let result = run_ok(
        &ctx,
        &[
            "init",
            "marts",
            "--runtime",
            "dbt",
            "--owner",
            "@analytics",
            "-o",
            "json",
        ],
        0,
    );
    let report = result.json();
    assert_eq!(report["runtime"], "dbt");
    assert_eq!(report["directory"], "marts");
    let files: Vec<&str> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(
        files.contains(&"dbt_project.yml") && files.contains(&"models/customers_clean.sql"),
        "{files:?}"
    );
    assert!(ctx.read("marts/dk.yaml").contains("owner: \"@analytics\""));
    assert!(ctx.read("marts/dbt_project.yml").contains("name: marts"));
}

#[test]
fn init_refuses_bad_names_and_non_empty_directories() {
    let ctx = context();
    let bad = run_ok(&ctx, &["init", "My_Pipeline"], 2);
    snapshot(&ctx, "init_bad_name", &bad.transcript());
    run_ok(&ctx, &["init", "demo"], 0);
    let again = run_ok(&ctx, &["init", "demo"], 2);
    assert!(
        again
            .stderr
            .contains("demo already exists and is not empty"),
        "{}",
        again.stderr
    );
    std::fs::create_dir_all(ctx.work().join("empty")).unwrap();
    run_ok(&ctx, &["init", "other", "--dir", "empty"], 0);
    assert!(ctx.work().join("empty/dk.yaml").is_file());
    let streaming_dbt = run_ok(
        &ctx,
        &["init", "d", "--runtime", "dbt", "--mode", "streaming"],
        2,
    );
    snapshot(&ctx, "init_dbt_streaming", &streaming_dbt.transcript());
}

/// Without dbt on PATH, adoption is a setup problem, exit 2 with how to install it, as `dk run`
/// says of a missing tool (it was exit 1, as if a check had failed).
#[test]
fn from_dbt_without_dbt_installed_says_how_to_install_it() {
    let ctx = context();
    let project = ctx.work().join("shop");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("dbt_project.yml"),
        "name: shop\nprofile: shop\n",
    )
    .unwrap();
    std::fs::write(
        project.join("profiles.yml"),
        "shop:\n  target: dev\n  outputs:\n    dev: {type: duckdb, path: shop.duckdb}\n",
    )
    .unwrap();
    let empty_path = ctx.root().join("no-tools").display().to_string();
    let result = common::run_with(
        &ctx,
        &[("PATH", &empty_path)],
        &["init", "--from-dbt", "shop"],
    );
    assert_eq!(result.code, 2, "{}", result.transcript());
    assert!(
        result
            .stderr
            .contains("error: dbt is not installed (not on PATH)")
            && result.stderr.contains("hint: "),
        "{}",
        result.stderr
    );
    assert!(!project.join("dk.yaml").exists(), "nothing written");
}
