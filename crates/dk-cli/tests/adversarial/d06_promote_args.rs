//! Defect 6 (GitOps part): packages, `--to`/`--env`, `--cell`, `--namespace`, versions and
//! promotion ids become paths, branch names and API URLs. dk refuses any that is not a DNS
//! label (or semver, or a promotion branch / pull request number) with exit 2 and a hint,
//! before it opens the GitOps repository.

use crate::common::{context, run_with};

const HOSTILE: &[&str] = &["../../tmp/x", "a/../b", "", "dev\nprod", "🚀", "Dev"];

fn refused(args: &[&str], rule: &str) {
    let ctx = context();
    let run = run_with(&ctx, &[], args);
    assert_eq!(run.code, 2, "dk {args:?}\n{}", run.transcript());
    assert!(run.stderr.contains(rule), "dk {args:?}\n{}", run.stderr);
    assert!(run.stderr.contains("hint:"), "dk {args:?}\n{}", run.stderr);
    assert!(
        !ctx.dk_home().join("cache").join("gitops").exists(),
        "dk {args:?} opened the GitOps repository"
    );
}

const LABEL: &str = "is not a DNS label";

#[test]
fn hostile_packages_environments_and_cells_are_refused() {
    for bad in HOSTILE {
        refused(&["promote", bad, "v1.0.0", "--to", "dev"], LABEL);
        refused(&["promote", "my-pkg", "v1.0.0", "--to", bad], LABEL);
        refused(
            &["promote", "my-pkg", "v1.0.0", "--to", "dev", "--cell", bad],
            LABEL,
        );
        refused(
            &[
                "promote",
                "my-pkg",
                "v1.0.0",
                "--to",
                "dev",
                "--namespace",
                bad,
            ],
            LABEL,
        );
        refused(&["rollback", bad, "--env", "prod"], LABEL);
        refused(&["rollback", "my-pkg", "--env", bad], LABEL);
        refused(
            &["rollback", "my-pkg", "--env", "prod", "--cell", bad],
            LABEL,
        );
        refused(&["status", bad], LABEL);
        refused(&["promote", "list", "--env", bad], LABEL);
    }
}

#[test]
fn hostile_versions_are_refused() {
    for bad in HOSTILE.iter().chain(&["v1", "1.0.0/../../x", "latest"]) {
        refused(
            &["promote", "my-pkg", bad, "--to", "dev"],
            "is not a semantic version",
        );
        refused(
            &["rollback", "my-pkg", "--env", "prod", "--to", bad],
            "is not a semantic version",
        );
    }
}

#[test]
fn promotion_ids_are_numbers_or_promotion_branches() {
    for bad in [
        "../../tmp/x",
        "",
        "main",
        "dk/promote/prod/c0/../../x/v1.0.0",
        "dk/promote/prod/c0/my-pkg/v1.0.0\n",
    ] {
        for command in ["check", "merge"] {
            refused(&["promote", command, bad], "is not a");
        }
        refused(
            &["promote", "approve", bad, "--key", "/dev/null"],
            "is not a",
        );
    }
    refused(
        &["promote", "check", "dk/promote/prod/c0/My-Pkg/v1.0.0"],
        LABEL,
    );
}
