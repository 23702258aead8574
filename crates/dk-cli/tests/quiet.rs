//! `-q`: commands that only report what they did print nothing, while data that was asked for
//! (values, tables, JSON) is still printed and errors still reach stderr. Build, publish and
//! pull print the one thing a script needs, the artifact's digest.

mod common;

use common::{context, run};

/// Runs `dk ARGS -q`, expecting `code`, and returns its stdout; stderr must be empty on success.
fn quiet(ctx: &dk_test::TestContext, args: &[&str], code: i32) -> String {
    let mut all = args.to_vec();
    all.push("-q");
    let result = run(ctx, &all);
    assert_eq!(
        result.code,
        code,
        "dk {}\n{}",
        all.join(" "),
        result.transcript()
    );
    if code == 0 {
        assert_eq!(result.stderr, "", "dk {}: stderr under -q", all.join(" "));
    }
    result.stdout
}

#[test]
fn quiet_silences_progress_and_success_lines_of_every_command() {
    let ctx = context();
    let silent: &[&[&str]] = &[
        &["init", "demo", "--runtime", "generic-python"],
        &["config", "set", "lineage.namespace", "shop"],
        &["config", "unset", "lineage.namespace"],
        common::CREATE_GROUP,
        &[
            "store",
            "create",
            "warehouse",
            "--connector",
            "postgres",
            "--connection",
            "host=db",
            "--dir",
            "demo",
        ],
        &["lint", "demo"],
        &["dev", "seed", "demo"],
        &["lineage", "flush"],
        &["build", "./demo", "--tag", "v0.1.0"],
        &["publish", "./demo", "--tag", "v0.1.0"],
        &["pull", "demo:v0.1.0", "--output-dir", "pulled"],
        &["gitops", "init"],
        &["promote", "demo", "v0.1.0", "--to", "dev"],
        &["dev", "down"],
    ];
    for args in silent {
        let stdout = quiet(&ctx, args, 0);
        if matches!(args[0], "build" | "publish" | "pull") {
            assert!(
                stdout.starts_with("sha256:") && stdout.lines().count() == 1,
                "dk {} -q: {stdout:?}",
                args.join(" ")
            );
            continue;
        }
        assert_eq!(stdout, "", "dk {} -q printed to stdout", args.join(" "));
        if args[0] == "dev" && args[1] == "seed" {
            // The pipeline's own output is its own: only dk's lines go.
            let ran = quiet(&ctx, &["run", "./demo"], 0);
            assert!(ran.starts_with("wrote 5 rows"), "{ran}");
            assert!(!ran.contains("succeeded"), "{ran}");
        }
    }
}

#[test]
fn quiet_keeps_requested_data_and_errors() {
    let ctx = context();
    quiet(&ctx, &["config", "set", "lineage.namespace", "shop"], 0);
    assert_eq!(
        quiet(&ctx, &["config", "get", "lineage.namespace"], 0),
        "shop\n"
    );
    assert!(quiet(&ctx, &["version"], 0).starts_with("dk "));
    let json = quiet(
        &ctx,
        &["init", "demo", "--runtime", "generic-python", "-o", "json"],
        0,
    );
    assert!(json.contains("\"name\""), "{json}");

    let failed = run(&ctx, &["dataset", "show", "nosuch", "--dir", "demo", "-q"]);
    assert_eq!(failed.code, 2);
    assert_eq!(failed.stdout, "");
    assert!(failed.stderr.starts_with("error: "), "{}", failed.stderr);
}
