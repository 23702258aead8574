//! Defect 12: forge behaviour.
//! - Listings follow pagination: more than 100 pull requests (GitHub, GitLab) or reviews no
//!   longer break `find`, `list` and approval counts. The fake forge paginates like the real
//!   APIs (30 a page by default, at most 100).
//! - A re-run after the pull request failed to open reuses the pushed branch.
//! - Two identical promotions at once end with one pull request and no exit 3.
//! - Under the `git` provider an approval is an SSH-signed commit verified against
//!   `.dk/allowed_signers` on the base branch; a typed name proves nothing, a key counts once,
//!   a signer added on the promotion's own branch does not count, and a change pushed after
//!   the approvals voids them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dk_test::TestContext;
use dk_test::forge::{FakeForge, ssh_key};

use super::d02_gitops_symlinks::{build, build_pushed, git, ok, push_to_main};
use crate::common::{Run, context, run_with};

const TOKEN: [(&str, &str); 2] = [("GITHUB_TOKEN", "dk-bot"), ("GITLAB_TOKEN", "dk-bot")];

/// A forge repository seeded by `dk gitops init`, configured as the provider.
fn forge(ctx: &TestContext, provider: &str) -> (Arc<FakeForge>, String) {
    let seed = ctx.root().join("seed");
    ok(run_with(
        ctx,
        &[],
        &["gitops", "init", seed.to_str().unwrap()],
    ));
    let forge = Arc::new(FakeForge::start(&ctx.root().join("forge")));
    let url = forge.create_repo("team", "gitops", &seed);
    let api = if provider == "gitlab" {
        forge.gitlab_api_url()
    } else {
        forge.api_url()
    };
    for (key, value) in [
        ("gitops.repo", url.as_str()),
        ("gitops.provider", provider),
        ("gitops.apiUrl", api.as_str()),
    ] {
        ok(run_with(ctx, &[], &["config", "set", key, value]));
    }
    (forge, url)
}

fn dk(ctx: &TestContext, args: &[&str]) -> Run {
    run_with(ctx, &TOKEN, args)
}

/// The pull requests of `head` that are open or merged (a duplicate opened in the instant a
/// concurrent run merged is closed at once, unmerged).
fn heads(forge: &FakeForge, head: &str) -> usize {
    live(forge, head).len()
}

fn live(forge: &FakeForge, head: &str) -> Vec<serde_json::Value> {
    forge
        .pulls("team", "gitops")
        .into_iter()
        .filter(|p| p["head"]["ref"] == head && (p["state"] == "open" || p["merged"] == true))
        .collect()
}

#[test]
fn more_than_a_hundred_pull_requests_and_reviews_are_all_read() {
    for provider in ["github", "gitlab"] {
        let ctx = context();
        let (forge, _) = forge(&ctx, provider);
        for i in 0..120 {
            forge.add_pull(
                "team",
                "gitops",
                &format!("dk/promote/dev/c0/pkg-{i}/v1.0.0"),
                &format!("Promote pkg-{i}"),
            );
        }
        let listed = ok(dk(&ctx, &["promote", "list", "-o", "json"]));
        assert_eq!(
            listed.json()["promotions"].as_array().unwrap().len(),
            120,
            "{provider}"
        );
        if build_pushed(&ctx, &[], "my-pkg", "v1.0.0").is_none() {
            return;
        }
        let opened = ok(dk(
            &ctx,
            &["promote", "my-pkg", "v1.0.0", "--to", "prod", "-o", "json"],
        ));
        let pr = opened.json()["pullRequest"].as_str().unwrap().to_owned();
        assert!(pr.ends_with("121"), "{pr}");
        // Found again, though it is on the second page.
        let again = ok(dk(
            &ctx,
            &["promote", "my-pkg", "v1.0.0", "--to", "prod", "-o", "json"],
        ));
        assert_eq!(again.json()["outcome"], "found-open", "{provider}");
        assert_eq!(heads(&forge, "dk/promote/prod/c0/my-pkg/v1.0.0"), 1);

        // 150 reviews: alice approves first, then 140 comments, then changes requested by
        // alice and approvals by two others. Only the reviews past the first hundred tell.
        let number = pr.trim_start_matches(['#', '!']).parse().unwrap();
        forge.review("team", "gitops", number, "alice", "APPROVE");
        for i in 0..140 {
            forge.review("team", "gitops", number, &format!("c{i}"), "COMMENT");
        }
        forge.review("team", "gitops", number, "bob", "APPROVE");
        if provider == "github" {
            forge.review("team", "gitops", number, "alice", "REQUEST_CHANGES");
            let check = dk(&ctx, &["promote", "check", &pr, "-o", "json"]);
            assert_eq!(check.code, 1, "{}", check.transcript());
            assert_eq!(check.json()["approvals"], serde_json::json!(["bob"]));
            for i in 0..120 {
                forge.review("team", "gitops", number, &format!("r{i}"), "APPROVE");
            }
            let check = ok(dk(&ctx, &["promote", "check", &pr, "-o", "json"]));
            assert_eq!(check.json()["approvals"].as_array().unwrap().len(), 121);
        } else {
            let check = ok(dk(&ctx, &["promote", "check", &pr, "-o", "json"]));
            assert_eq!(
                check.json()["approvals"],
                serde_json::json!(["alice", "bob"])
            );
        }
    }
}

#[test]
fn a_rerun_after_the_pull_request_failed_to_open_reuses_the_branch() {
    for provider in ["github", "gitlab"] {
        let ctx = context();
        let (forge, _) = forge(&ctx, provider);
        if build_pushed(&ctx, &[], "my-pkg", "v1.0.0").is_none() {
            return;
        }
        let endpoint = if provider == "github" {
            "/pulls"
        } else {
            "/merge_requests"
        };
        forge.fail_next("POST", endpoint, 502, br#"{"message": "Bad Gateway"}"#);
        // The first run was a while ago: its commit differs from any a re-run would make.
        let earlier = [
            TOKEN[0],
            TOKEN[1],
            ("GIT_AUTHOR_DATE", "2020-01-01T00:00:00Z"),
            ("GIT_COMMITTER_DATE", "2020-01-01T00:00:00Z"),
        ];
        let failed = run_with(
            &ctx,
            &earlier,
            &["promote", "my-pkg", "v1.0.0", "--to", "int"],
        );
        assert_eq!(failed.code, 3, "{}", failed.transcript());
        let again = ok(dk(
            &ctx,
            &["promote", "my-pkg", "v1.0.0", "--to", "int", "-o", "json"],
        ));
        assert_eq!(again.json()["outcome"], "open", "{provider}");
        assert_eq!(heads(&forge, "dk/promote/int/c0/my-pkg/v1.0.0"), 1);
    }
}

/// Runs the same promotion from two homes (two machines) at once; both must succeed.
fn twice_at_once(ctx: &TestContext, homes: &[PathBuf], config: &[String], env: &str) {
    std::thread::scope(|scope| {
        let runs: Vec<_> = homes
            .iter()
            .map(|home| {
                scope.spawn(move || {
                    let mut command = ctx.dk_process();
                    command.env("DK_HOME", home).envs(TOKEN);
                    for setting in config {
                        command.args(["--config", setting]);
                    }
                    command
                        .args(["promote", "my-pkg", "v1.0.0", "--to", env])
                        .output()
                        .unwrap()
                })
            })
            .collect();
        for run in runs {
            let output = run.join().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "{stderr}");
        }
    });
}

/// Two homes with the same published artifact (`None` without a test registry).
fn two_homes(ctx: &TestContext) -> Option<Vec<PathBuf>> {
    build_pushed(ctx, &[], "my-pkg", "v1.0.0")?;
    let homes: Vec<PathBuf> = (0..2)
        .map(|i| ctx.root().join(format!("home-{i}")))
        .collect();
    for home in &homes {
        std::fs::create_dir_all(home).unwrap();
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(ctx.dk_home().join("registry"))
            .arg(home)
            .status()
            .unwrap();
        assert!(status.success());
    }
    Some(homes)
}

#[test]
fn two_identical_promotions_at_once_end_with_one_pull_request() {
    for provider in ["github", "gitlab"] {
        let ctx = context();
        let (forge, url) = forge(&ctx, provider);
        let api = if provider == "gitlab" {
            forge.gitlab_api_url()
        } else {
            forge.api_url()
        };
        let config = vec![
            format!("gitops.repo={url}"),
            format!("gitops.provider={provider}"),
            format!("gitops.apiUrl={api}"),
        ];
        let Some(homes) = two_homes(&ctx) else {
            return;
        };
        for round in 0..3 {
            twice_at_once(&ctx, &homes, &config, "int");
            assert_eq!(
                heads(&forge, "dk/promote/int/c0/my-pkg/v1.0.0"),
                1,
                "{provider} round {round}"
            );
        }
        // Auto-merged (dev): one of them merges, the other finds it merged.
        twice_at_once(&ctx, &homes, &config, "dev");
        let dev = live(&forge, "dk/promote/dev/c0/my-pkg/v1.0.0");
        assert_eq!(dev.len(), 1, "{provider}");
        assert_eq!(dev[0]["merged"], true);
    }
}

#[test]
fn two_identical_promotions_at_once_on_the_git_provider() {
    let ctx = context();
    ok(run_with(&ctx, &[], &["gitops", "init"]));
    let repo = ctx.dk_home().join("gitops").display().to_string();
    let Some(homes) = two_homes(&ctx) else {
        return;
    };
    let config = vec![format!("gitops.repo={repo}")];
    for _ in 0..3 {
        twice_at_once(&ctx, &homes, &config, "int");
    }
    let branches = git(Path::new(&repo), &["branch", "--list", "dk/*"]);
    assert_eq!(branches.lines().count(), 1, "{branches}");
    twice_at_once(&ctx, &homes, &config, "dev");
    let shown = git(
        Path::new(&repo),
        &["show", "main:envs/dev/cells/c0/apps/my-pkg/values.yaml"],
    );
    assert!(shown.contains("appVersion: v1.0.0"), "{shown}");
}

#[test]
fn git_provider_approvals_are_signed_by_allowed_keys() {
    let ctx = context();
    ok(run_with(&ctx, &[], &["gitops", "init"]));
    let repo = ctx.dk_home().join("gitops").display().to_string();
    let keys = ctx.root().join("keys");
    let (alice, alice_line) = ssh_key(&keys, "alice");
    let (bob, bob_line) = ssh_key(&keys, "bob");
    let (eve, eve_line) = ssh_key(&keys, "eve");
    push_to_main(&ctx, &repo, &|clone| {
        let file = clone.join(".dk/allowed_signers");
        let mut text = std::fs::read_to_string(&file).unwrap();
        text.push_str(&format!("{alice_line}\n{bob_line}\n"));
        std::fs::write(file, text).unwrap();
    });
    build(&ctx, &[], "my-pkg", "v1.0.0");
    let opened = ok(run_with(
        &ctx,
        &[],
        &["promote", "my-pkg", "v1.0.0", "--to", "prod", "-o", "json"],
    ));
    let branch = opened.json()["branch"].as_str().unwrap().to_owned();
    // An approval that does not count fails (exit 1) and says why.
    let approve_expecting = |key: &Path, code: i32| {
        let run = run_with(
            &ctx,
            &[],
            &[
                "promote",
                "approve",
                &branch,
                "--key",
                key.to_str().unwrap(),
            ],
        );
        assert_eq!(run.code, code, "{}", run.transcript());
        if code == 1 {
            assert!(run.stderr.contains("did not count"), "{}", run.stderr);
        }
    };
    let approve = |key: &Path| approve_expecting(key, 0);
    let approvals = || {
        let check = run_with(&ctx, &[], &["promote", "check", &branch, "-o", "json"]);
        assert!(check.code == 0 || check.code == 1, "{}", check.transcript());
        check.json()["approvals"].clone()
    };
    let on_branch = |change: &dyn Fn(&Path)| {
        let clone = ctx.root().join("attacker");
        let _ = std::fs::remove_dir_all(&clone);
        git(ctx.root(), &["clone", "-q", &repo, clone.to_str().unwrap()]);
        git(&clone, &["checkout", "-q", &branch]);
        change(&clone);
        git(&clone, &["push", "-q", "origin", &branch]);
    };

    // A typed name proves nothing: neither the old trailer nor an unsigned approval counts.
    on_branch(&|clone| {
        git(
            clone,
            &[
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                "Approve",
                "--trailer",
                "Approved-by: alice",
                "--trailer",
                &format!("Promotion-Approval: {branch}"),
            ],
        );
    });
    assert_eq!(approvals(), serde_json::json!([]));
    assert!(
        run_with(&ctx, &[], &["promote", "approve", &branch, "--by", "alice"]).code == 2,
        "--by is gone"
    );

    // eve adds herself to the signers on the promotion's own branch, then approves: the
    // signers come from main, so she does not count.
    on_branch(&|clone| {
        let file = clone.join(".dk/allowed_signers");
        let mut text = std::fs::read_to_string(&file).unwrap();
        text.push_str(&format!("{eve_line}\n"));
        std::fs::write(file, text).unwrap();
        git(clone, &["commit", "-qam", "eve may approve"]);
    });
    approve_expecting(&eve, 1);
    assert_eq!(approvals(), serde_json::json!([]));
    // And a branch that changes more than its values file counts no approval at all.
    approve_expecting(&alice, 1);
    assert_eq!(approvals(), serde_json::json!([]));
    // That change is no promotion to merge anyway; start again from a clean branch.
    git(Path::new(&repo), &["branch", "-D", &branch]);
    ok(run_with(
        &ctx,
        &[],
        &["promote", "my-pkg", "v1.0.0", "--to", "prod"],
    ));

    // One key counts once.
    approve(&alice);
    approve_expecting(&alice, 1);
    assert_eq!(approvals(), serde_json::json!(["alice"]));
    let refused = run_with(&ctx, &[], &["promote", "merge", &branch]);
    assert_eq!(refused.code, 1, "{}", refused.transcript());
    approve(&bob);
    assert_eq!(approvals(), serde_json::json!(["alice", "bob"]));

    // A change pushed after the approvals voids them.
    on_branch(&|clone| {
        let values = clone.join("envs/prod/cells/c0/apps/my-pkg/values.yaml");
        let text = std::fs::read_to_string(&values).unwrap();
        std::fs::write(
            &values,
            text.replace("registry: ", "registry: evil.example/"),
        )
        .unwrap();
        git(clone, &["commit", "-qam", "a small fix"]);
    });
    assert_eq!(approvals(), serde_json::json!([]));
    assert_eq!(
        run_with(&ctx, &[], &["promote", "merge", &branch]).code,
        1,
        "not mergeable after the change"
    );
    approve(&alice);
    approve(&bob);
    ok(run_with(&ctx, &[], &["promote", "merge", &branch]));

    // Without a key to sign with, approving is a usage error that says what to give.
    ok(run_with(
        &ctx,
        &[],
        &["promote", "my-pkg", "v1.0.0", "--to", "int"],
    ));
    let unsigned = run_with(
        &ctx,
        &[],
        &["promote", "approve", "dk/promote/int/c0/my-pkg/v1.0.0"],
    );
    assert_eq!(unsigned.code, 2, "{}", unsigned.transcript());
    assert!(unsigned.stderr.contains("--key"), "{}", unsigned.stderr);
}
