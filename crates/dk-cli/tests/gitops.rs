//! GitOps promotion end to end with real git: the FAQ's deployment section on the zero
//! infrastructure default (`dk gitops init`, provider git), bare repositories over file:// and
//! smart HTTP, concurrent promotions, and the same flow through a GitHub-compatible fake forge
//! over HTTP. The chart is rendered offline with a promotion's values.

mod common;

use std::path::{Path, PathBuf};

use common::{Run, context, pod_spec, render_chart, run_ok, run_with, try_render_chart};
use dk_test::TestContext;
use dk_test::forge::{FakeForge, ssh_key};
use serde_json::Value;

fn git(dir: &Path, args: &[&str]) -> String {
    dk_test::forge::git(dir, args).unwrap_or_else(|err| panic!("git {args:?}: {err}"))
}

/// Builds `package` at each version (metadata.version follows).
fn build_versions(ctx: &TestContext, env: &[(&str, &str)], package: &str, versions: &[&str]) {
    if !ctx.work().join(package).exists() {
        run_ok(ctx, &["init", package, "--runtime", "generic-python"], 0);
    }
    for version in versions {
        let manifest = ctx.work().join(package).join("dk.yaml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        let plain = version.trim_start_matches('v');
        let replaced: String = text
            .lines()
            .map(|line| {
                if line.starts_with("  version: ") {
                    format!("  version: {plain}")
                } else {
                    line.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n";
        std::fs::write(&manifest, replaced).unwrap();
        let built = run_with(ctx, env, &["build", package, "--tag", version]);
        assert_eq!(built.code, 0, "{}", built.transcript());
    }
}

/// A registry prefix of this test's own (`None`, and the test skips, without one): a GitOps
/// repository other than the embedded default takes only artifacts pushed somewhere.
fn test_registry(ctx: &TestContext) -> Option<String> {
    let registry = dk_test::service("DK_TEST_REGISTRY", "an OCI registry")?;
    Some(format!("{registry}/{}", ctx.unique_name()))
}

/// Builds `package` at each version and publishes each to `registry` (with no `registry`
/// setting: dk promote finds the push in the record dk publish keeps).
fn build_and_publish(
    ctx: &TestContext,
    env: &[(&str, &str)],
    package: &str,
    versions: &[&str],
    registry: &str,
) {
    for version in versions {
        build_versions(ctx, env, package, &[version]);
        ok(dk(
            ctx,
            env,
            &["publish", package, "--tag", version, "--registry", registry],
        ));
    }
}

fn dk(ctx: &TestContext, env: &[(&str, &str)], args: &[&str]) -> Run {
    run_with(ctx, env, args)
}

fn ok(run: Run) -> Run {
    assert_eq!(run.code, 0, "{}", run.transcript());
    run
}

/// The file on `main` of the repository `repo` (a path or URL git can read).
fn on_main(ctx: &TestContext, repo: &str, path: &str) -> Option<String> {
    let check = ctx.root().join(format!("check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&check);
    git(ctx.root(), &["clone", "-q", repo, check.to_str().unwrap()]);
    let text = std::fs::read_to_string(check.join(path)).ok();
    std::fs::remove_dir_all(&check).unwrap();
    text
}

fn version_in(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("appVersion: "))
        .unwrap_or_default()
        .to_owned()
}

/// The FAQ's deployment section: promote to dev (merged at once), to prod (warning, waits for
/// two approvals), approvals, merge, status, a stale promotion closed, rollback (which closes
/// the promotion it supersedes). The versions are published to `registry` when there is one
/// (a repository a cluster reads), else only built. Returns the promotions it closed: by
/// `dk promote close --reason`, and by the rollback.
fn faq_flow(
    ctx: &TestContext,
    env: &[(&str, &str)],
    repo: &str,
    registry: Option<&str>,
    approve: &dyn Fn(&str, &str),
) -> [String; 2] {
    let versions = ["v1.0.0", "v1.1.0", "v1.2.0"];
    match registry {
        Some(registry) => build_and_publish(ctx, env, "my-pkg", &versions, registry),
        None => build_versions(ctx, env, "my-pkg", &versions),
    }
    let values = |e: &str| format!("envs/{e}/cells/c0/apps/my-pkg/values.yaml");

    let dev = ok(dk(
        ctx,
        env,
        &["promote", "my-pkg", "v1.0.0", "--to", "dev", "-o", "json"],
    ));
    assert_eq!(dev.json()["outcome"], "merged");
    let dev_values = on_main(ctx, repo, &values("dev")).unwrap();
    assert_eq!(version_in(&dev_values), "v1.0.0");
    match registry {
        Some(registry) => assert!(
            dev_values.contains(&format!("\nregistry: {registry}\n")),
            "{dev_values}"
        ),
        // The embedded default: the laptop flow, and the values say why nothing can pull it.
        None => assert!(
            dev_values.contains("a cluster cannot pull it")
                && dev_values.contains("\nregistry: local\n"),
            "{dev_values}"
        ),
    }

    let prod = ok(dk(
        ctx,
        env,
        &["promote", "my-pkg", "v1.0.0", "--to", "prod", "-o", "json"],
    ));
    assert!(
        prod.stderr.contains("Warning: Skipping int environment\n"),
        "{}",
        prod.stderr
    );
    let report = prod.json();
    assert_eq!(report["outcome"], "open");
    assert_eq!(report["required"], 2);
    let pr = report["pullRequest"].as_str().unwrap().to_owned();
    assert!(
        on_main(ctx, repo, &values("prod")).is_none(),
        "waits for approvals"
    );

    let again = ok(dk(
        ctx,
        env,
        &["promote", "my-pkg", "v1.0.0", "--to", "prod", "-o", "json"],
    ));
    assert_eq!(again.json()["outcome"], "found-open");
    assert_eq!(again.json()["pullRequest"], pr.as_str());

    let refused = dk(ctx, env, &["promote", "merge", &pr]);
    assert_eq!(refused.code, 1, "{}", refused.transcript());
    assert!(
        refused.stderr.contains("0/2 approvals"),
        "{}",
        refused.stderr
    );
    approve(&pr, "alice");
    assert_eq!(
        dk(ctx, env, &["promote", "check", &pr]).code,
        1,
        "one approval is not two"
    );
    approve(&pr, "bob");
    ok(dk(ctx, env, &["promote", "check", &pr]));
    let listed = ok(dk(
        ctx,
        env,
        &["promote", "list", "--env", "prod", "-o", "json"],
    ));
    assert_eq!(
        listed.json()["promotions"][0]["approvals"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    ok(dk(ctx, env, &["promote", "merge", &pr]));
    assert_eq!(
        version_in(&on_main(ctx, repo, &values("prod")).unwrap()),
        "v1.0.0"
    );

    // v1.1.0 to prod: its description names what changed.
    let next = ok(dk(
        ctx,
        env,
        &[
            "promote",
            "my-pkg",
            "v1.1.0",
            "--to",
            "prod",
            "--dry-run",
            "-o",
            "json",
        ],
    ));
    let body = next.json()["body"].as_str().unwrap().to_owned();
    assert!(
        body.contains("| from | v1.0.0 |") && body.contains("| to | v1.1.0 |"),
        "{body}"
    );
    assert!(body.contains("Skipping dev and int environments"), "{body}");
    let next = ok(dk(
        ctx,
        env,
        &["promote", "my-pkg", "v1.1.0", "--to", "prod", "-o", "json"],
    ));
    let pr = next.json()["pullRequest"].as_str().unwrap().to_owned();
    approve(&pr, "alice");
    approve(&pr, "bob");
    ok(dk(ctx, env, &["promote", "merge", &pr]));

    let status = ok(dk(ctx, env, &["status", "my-pkg"]));
    assert!(
        status.stdout.starts_with("Environment  Version  Status"),
        "{}",
        status.stdout
    );
    let lines: Vec<&str> = status.stdout.lines().collect();
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["dev", "v1.0.0", "Committed"]
    );
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["int", "-", "Not", "deployed"]
    );
    assert_eq!(
        lines[3].split_whitespace().collect::<Vec<_>>(),
        ["prod", "v1.1.0", "Committed"]
    );

    // A stale promotion is closed, and leaves dk status and dk promote list.
    let promote_stale = || {
        let stale = ok(dk(
            ctx,
            env,
            &["promote", "my-pkg", "v1.2.0", "--to", "prod", "-o", "json"],
        ));
        stale.json()["pullRequest"].as_str().unwrap().to_owned()
    };
    let withdrawn = promote_stale();
    let status = ok(dk(ctx, env, &["status", "my-pkg"]));
    assert!(
        status.stdout.contains(&format!("PR {withdrawn} open")),
        "{}",
        status.stdout
    );
    // Scripts read the open promotion as fields, not out of the sentence.
    let status = ok(dk(ctx, env, &["status", "my-pkg", "-o", "json"])).json();
    assert_eq!(
        status["rows"][2]["pending"],
        serde_json::json!({"id": withdrawn, "version": "v1.2.0", "approvals": 0, "required": 2}),
        "{status:#}"
    );
    assert!(status["rows"][0].get("pending").is_none(), "{status:#}");
    let closed = ok(dk(
        ctx,
        env,
        &[
            "promote",
            "close",
            &withdrawn,
            "--reason",
            "v1.2.0 is withdrawn",
        ],
    ));
    assert_eq!(
        closed.stdout,
        format!("✓ Closed {withdrawn} (my-pkg v1.2.0 to prod/c0)\n  Reason: v1.2.0 is withdrawn\n")
    );
    let status = ok(dk(ctx, env, &["status", "my-pkg"]));
    assert!(!status.stdout.contains("PR "), "{}", status.stdout);
    let listed = ok(dk(ctx, env, &["promote", "list", "-o", "json"]));
    assert_eq!(listed.json()["promotions"], serde_json::json!([]));
    let again = dk(ctx, env, &["promote", "close", &withdrawn]);
    assert_ne!(again.code, 0, "{}", again.transcript());

    // Rolling prod back closes the open promotion of a newer version there, and says so.
    let superseded = promote_stale();
    let rollback = ok(dk(
        ctx,
        env,
        &["rollback", "my-pkg", "--env", "prod", "-o", "json"],
    ));
    let rollback = rollback.json();
    assert_eq!(rollback["kind"], "rollback");
    assert_eq!(rollback["version"], "v1.0.0", "the previous version");
    let closed = rollback["closed"].as_array().unwrap();
    assert_eq!(closed.len(), 1, "{rollback}");
    for (key, value) in [
        ("id", superseded.as_str()),
        ("branch", "dk/promote/prod/c0/my-pkg/v1.2.0"),
        ("version", "v1.2.0"),
        ("env", "prod"),
        ("cell", "c0"),
        (
            "reason",
            "Superseded by the rollback of my-pkg to v1.0.0 in prod (c0).",
        ),
    ] {
        assert_eq!(closed[0][key], value, "{rollback}");
    }
    let pr = rollback["pullRequest"].as_str().unwrap().to_owned();
    let listed = ok(dk(ctx, env, &["promote", "list", "-o", "json"])).json();
    let ids: Vec<&str> = listed["promotions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [pr.as_str()]);
    approve(&pr, "alice");
    approve(&pr, "bob");
    ok(dk(ctx, env, &["promote", "merge", &pr]));
    let status = ok(dk(ctx, env, &["status", "my-pkg", "-o", "json"]));
    assert_eq!(status.json()["rows"][2]["version"], "v1.0.0");
    [withdrawn, superseded]
}

#[test]
fn the_faq_deployment_flow_runs_on_the_zero_infrastructure_default() {
    let ctx = context();
    let init = ok(dk(&ctx, &[], &["gitops", "init"]));
    assert!(
        init.stdout.contains("Created the GitOps repository")
            && init
                .stdout
                .contains("Next: dk promote PKG VERSION --to dev"),
        "{}",
        init.stdout
    );
    // Elsewhere, promotions go there only once gitops.repo says so (a user followed the old
    // "Next" line and promoted into $DK_HOME/gitops).
    let elsewhere = ok(dk(&ctx, &[], &["gitops", "init", "other-gitops"]));
    assert!(
        elsewhere
            .stdout
            .contains("Next: dk config set gitops.repo /")
            && elsewhere.stdout.contains("other-gitops, then dk promote"),
        "{}",
        elsewhere.stdout
    );
    let repo = ctx.dk_home().join("gitops");
    let repo_path = repo.display().to_string();
    for file in [
        "charts/dk-app/Chart.yaml",
        "argocd/applicationset.yaml",
        "envs/prod/cells/c0/apps/.gitkeep",
        ".dk/allowed_signers",
    ] {
        assert!(on_main(&ctx, &repo_path, file).is_some(), "{file}");
    }
    // Approvers sign with their SSH keys; the allowed signers live on main.
    let keys = ctx.root().join("keys");
    let signers: Vec<(&str, PathBuf, String)> = ["alice", "bob", "carol"]
        .into_iter()
        .map(|who| {
            let (key, line) = ssh_key(&keys, who);
            (who, key, line)
        })
        .collect();
    let clone = ctx.root().join("signers");
    git(
        ctx.root(),
        &["clone", "-q", &repo_path, clone.to_str().unwrap()],
    );
    let file = clone.join(".dk/allowed_signers");
    let mut text = std::fs::read_to_string(&file).unwrap();
    for (_, _, line) in &signers {
        text.push_str(&format!("{line}\n"));
    }
    std::fs::write(&file, text).unwrap();
    git(&clone, &["commit", "-qam", "Approvers of promotions"]);
    git(&clone, &["push", "-q", "origin", "main"]);
    let approve = |pr: &str, who: &str| {
        let (_, key, _) = signers.iter().find(|(name, _, _)| *name == who).unwrap();
        ok(dk(
            &ctx,
            &[],
            &["promote", "approve", pr, "--key", key.to_str().unwrap()],
        ));
    };
    faq_flow(&ctx, &[], &repo_path, None, &approve);

    // Straight to prod, nothing before it: the FAQ's exact warning.
    build_versions(&ctx, &[], "other", &["v2.0.0"]);
    let skip = ok(dk(
        &ctx,
        &[],
        &["promote", "other", "v2.0.0", "--to", "prod"],
    ));
    assert!(
        skip.stderr
            .contains("Warning: Skipping dev and int environments"),
        "{}",
        skip.stderr
    );
    // The approval policy: int merges with one approval.
    let int = ok(dk(
        &ctx,
        &[],
        &["promote", "other", "v2.0.0", "--to", "int", "-o", "json"],
    ));
    let pr = int.json()["pullRequest"].as_str().unwrap().to_owned();
    assert_eq!(dk(&ctx, &[], &["promote", "check", &pr]).code, 1);
    // A key the repository does not allow: said, and exit 1 (it was "0/1 approvals", exit 0).
    let (mallory, _) = ssh_key(&keys, "mallory");
    let refused = dk(
        &ctx,
        &[],
        &[
            "promote",
            "approve",
            &pr,
            "--key",
            mallory.to_str().unwrap(),
        ],
    );
    assert_eq!(refused.code, 1, "{}", refused.transcript());
    assert!(
        refused
            .stderr
            .contains("did not count: still 0 approval(s)")
            && refused.stderr.contains(".dk/allowed_signers"),
        "{}",
        refused.stderr
    );
    approve(&pr, "carol");
    ok(dk(&ctx, &[], &["promote", "merge", &pr]));
    // A version that was never built or published is refused.
    let missing = dk(&ctx, &[], &["promote", "other", "v9.9.9", "--to", "dev"]);
    assert_eq!(missing.code, 1, "{}", missing.transcript());
    assert!(
        missing.stderr.contains("never built or published"),
        "{}",
        missing.stderr
    );
    // dk gitops init again changes nothing.
    let again = ok(dk(&ctx, &[], &["gitops", "init"]));
    assert!(again.stdout.contains("nothing changed"));
}

#[test]
fn hand_edited_keys_and_comments_survive_ten_promotions() {
    let ctx = context();
    ok(dk(&ctx, &[], &["gitops", "init"]));
    let versions: Vec<String> = (0..=10).map(|patch| format!("v1.0.{patch}")).collect();
    let versions: Vec<&str> = versions.iter().map(String::as_str).collect();
    build_versions(&ctx, &[], "keep", &versions);
    ok(dk(&ctx, &[], &["promote", "keep", "v1.0.0", "--to", "dev"]));
    // A person edits the values file on main.
    let repo = ctx.dk_home().join("gitops").display().to_string();
    let clone = ctx.root().join("person");
    git(ctx.root(), &["clone", "-q", &repo, clone.to_str().unwrap()]);
    let values = "envs/dev/cells/c0/apps/keep/values.yaml";
    let text = std::fs::read_to_string(clone.join(values)).unwrap();
    // The artifact wrote its resources; the person replaces them and adds replicas.
    let at = 1 + text.find("\nresources:").expect("the artifact's resources");
    let end = text[at..]
        .match_indices('\n')
        .map(|(i, _)| at + i + 1)
        .find(|&i| !text[i..].starts_with("  "))
        .unwrap_or(text.len());
    let mut text = format!("{}{}", &text[..at], &text[end..]);
    text.push_str("# two replicas: the nightly backfill needs them (INC-42)\nreplicas: 2\nresources:\n  limits:\n    memory: 1Gi  # measured\n");
    std::fs::write(clone.join(values), &text).unwrap();
    git(&clone, &["commit", "-qam", "Two replicas for keep in dev"]);
    git(&clone, &["push", "-q", "origin", "main"]);
    for version in &versions[1..] {
        ok(dk(&ctx, &[], &["promote", "keep", version, "--to", "dev"]));
    }
    let after = on_main(&ctx, &repo, values).unwrap();
    assert_eq!(version_in(&after), "v1.0.10");
    assert!(
        after.contains("# two replicas: the nightly backfill needs them (INC-42)\nreplicas: 2\n"),
        "{after}"
    );
    assert!(after.contains("    memory: 1Gi  # measured\n"), "{after}");
}

#[test]
fn concurrent_promotions_of_different_packages_both_land() {
    let ctx = context();
    let Some(registry) = test_registry(&ctx) else {
        return;
    };
    ok(dk(&ctx, &[], &["gitops", "init"]));
    let repo = ctx.dk_home().join("gitops").display().to_string();
    // Two users: their own homes (working copies), one GitOps repository.
    let homes: Vec<PathBuf> = (0..2)
        .map(|i| ctx.root().join(format!("user-{i}")))
        .collect();
    let envs: Vec<Vec<(String, String)>> = homes
        .iter()
        .map(|home| vec![("DK_HOME".to_owned(), home.display().to_string())])
        .collect();
    for (i, env) in envs.iter().enumerate() {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        ok(dk(&ctx, &env, &["config", "set", "gitops.repo", &repo]));
        build_and_publish(
            &ctx,
            &env,
            &format!("pkg-{i}"),
            &["v1.0.0", "v1.0.1", "v1.0.2"],
            &registry,
        );
    }
    for version in ["v1.0.0", "v1.0.1", "v1.0.2"] {
        let children: Vec<_> = (0..2)
            .map(|i| {
                let mut command = ctx.dk_process();
                command
                    .env("DK_HOME", &homes[i])
                    .args(["promote", &format!("pkg-{i}"), version, "--to", "dev", "-q"])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                command.spawn().unwrap()
            })
            .collect();
        for child in children {
            let output = child.wait_with_output().unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        for i in 0..2 {
            let text = on_main(
                &ctx,
                &repo,
                &format!("envs/dev/cells/c0/apps/pkg-{i}/values.yaml"),
            )
            .unwrap();
            assert_eq!(version_in(&text), version, "pkg-{i}");
        }
    }
}

#[test]
fn bare_repositories_over_file_and_smart_http() {
    let ctx = context();
    let Some(registry) = test_registry(&ctx) else {
        return;
    };
    // A seed repository with the skeleton, then served bare.
    let seed = ctx.root().join("seed");
    ok(dk(&ctx, &[], &["gitops", "init", seed.to_str().unwrap()]));
    let bare = ctx.root().join("gitops.git");
    git(
        ctx.root(),
        &[
            "clone",
            "-q",
            "--bare",
            seed.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    let file_url = format!("file://{}", bare.display());
    let forge = FakeForge::start(&ctx.root().join("forge"));
    let http_url = forge.create_repo("team", "gitops", &seed);
    build_and_publish(&ctx, &[], "web", &["v1.0.0"], &registry);
    for url in [&file_url, &http_url] {
        let flag = format!("gitops.repo={url}");
        let promoted = ok(dk(
            &ctx,
            &[],
            &[
                "promote", "web", "v1.0.0", "--to", "dev", "--config", &flag, "-o", "json",
            ],
        ));
        assert_eq!(promoted.json()["outcome"], "merged", "{url}");
        let text = on_main(&ctx, url, "envs/dev/cells/c0/apps/web/values.yaml").unwrap();
        assert_eq!(version_in(&text), "v1.0.0", "{url}");
    }
}

/// The promotions `faq_flow` closed are closed on the forge, not merged, each with its reason
/// as a comment (GitHub: an issue comment; GitLab: a note).
fn assert_closed_with_comments(forge: &FakeForge, owner: &str, sigil: char, closed: &[String]) {
    let reasons = [
        "v1.2.0 is withdrawn",
        "Superseded by the rollback of my-pkg to v1.0.0 in prod (c0).",
    ];
    let pulls = forge.pulls(owner, "gitops");
    for (id, reason) in closed.iter().zip(reasons) {
        let number: u64 = id.trim_start_matches(sigil).parse().unwrap();
        assert_eq!(forge.comments(owner, "gitops", number), [reason], "{id}");
        let pull = pulls.iter().find(|p| p["number"] == number).unwrap();
        assert!(
            pull["state"] == "closed" && pull["merged"] == false,
            "{pull}"
        );
    }
}

#[test]
fn the_same_flow_runs_against_a_github_compatible_forge() {
    let ctx = context();
    let Some(registry) = test_registry(&ctx) else {
        return;
    };
    let seed = ctx.root().join("seed");
    ok(dk(&ctx, &[], &["gitops", "init", seed.to_str().unwrap()]));
    let forge = std::sync::Arc::new(FakeForge::start(&ctx.root().join("forge")));
    let url = forge.create_repo("team", "gitops", &seed);
    for (key, value) in [
        ("gitops.repo", url.as_str()),
        ("gitops.provider", "github"),
        ("gitops.apiUrl", &forge.api_url()),
    ] {
        ok(dk(&ctx, &[], &["config", "set", key, value]));
    }
    // Without a token the forge refuses, and dk says what to check.
    build_and_publish(&ctx, &[], "early", &["v0.1.0"], &registry);
    let refused = dk(&ctx, &[], &["promote", "early", "v0.1.0", "--to", "int"]);
    assert_eq!(refused.code, 3, "{}", refused.transcript());
    assert!(
        refused
            .stderr
            .contains("Promotion PR not created: check GITHUB_TOKEN"),
        "{}",
        refused.stderr
    );

    let env = [("GITHUB_TOKEN", "dk-bot")];
    let reviewer = forge.clone();
    let approve = move |pr: &str, who: &str| {
        let number = pr.trim_start_matches('#').parse().unwrap();
        reviewer.review("team", "gitops", number, who, "APPROVE");
    };
    let closed = faq_flow(&ctx, &env, &url, Some(&registry), &approve);
    assert_closed_with_comments(&forge, "team", '#', &closed);
    let pulls = forge.pulls("team", "gitops");
    let prod = pulls
        .iter()
        .find(|p| p["title"] == "Promote my-pkg v1.0.0 to prod (c0)")
        .expect("the prod pull request");
    let labels: Vec<&str> = prod["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        ["promotion", "env:prod", "cell:c0", "package:my-pkg"]
    );
    assert_eq!(prod["merged"], true);
    assert!(prod["body"].as_str().unwrap().contains("| to | v1.0.0 |"));
    let rollback = pulls
        .iter()
        .find(|p| p["title"] == "Roll back my-pkg v1.0.0 to prod (c0)")
        .unwrap();
    assert_eq!(rollback["labels"][0]["name"], "rollback");
    let listed = ok(dk(&ctx, &env, &["promote", "list", "-o", "json"]));
    assert!(listed.json()["promotions"].as_array().unwrap().is_empty());

    // A reviewer's latest review counts: changes requested after an approval withdraw it.
    let int = ok(dk(
        &ctx,
        &env,
        &["promote", "my-pkg", "v1.1.0", "--to", "int", "-o", "json"],
    ));
    let pr = int.json()["pullRequest"].as_str().unwrap().to_owned();
    let number = pr.trim_start_matches('#').parse().unwrap();
    forge.review("team", "gitops", number, "alice", "APPROVE");
    ok(dk(&ctx, &env, &["promote", "check", &pr]));
    forge.review("team", "gitops", number, "alice", "REQUEST_CHANGES");
    assert_eq!(dk(&ctx, &env, &["promote", "check", &pr]).code, 1);
}

#[test]
fn the_chart_renders_native_workloads_from_a_promotions_values() {
    let Some(tools) = dk_test::service(
        "DK_TEST_TOOLS_BIN",
        "pipeline tools (helm-python-sdk, kubernetes-validate)",
    ) else {
        return;
    };
    let ctx = context();
    ok(dk(&ctx, &[], &["gitops", "init"]));
    build_versions(&ctx, &[], "shop", &["v1.2.3"]);
    ok(dk(&ctx, &[], &["promote", "shop", "v1.2.3", "--to", "dev"]));
    let repo = ctx.root().join("gitops-clone");
    let origin = ctx.dk_home().join("gitops");
    git(
        ctx.root(),
        &[
            "clone",
            "-q",
            origin.to_str().unwrap(),
            repo.to_str().unwrap(),
        ],
    );
    let chart = repo.join("charts/dk-app");
    let values = repo.join("envs/dev/cells/c0/apps/shop/values.yaml");
    let digest = version_digest(&std::fs::read_to_string(&values).unwrap());
    let cluster = serde_json::json!({
        "imagePullSecrets": [{"name": "regcred"}],
        "secrets": [{"name": "WAREHOUSE_PASSWORD"}, {"name": "API_TOKEN", "secret": "shared", "key": "token"}],
        "stores": {"warehouse": {"host": "db.dev.example.com"}},
        "lineage": {"url": "http://marquez.example.com:5000", "namespace": "dev"},
    });

    // Batch without a schedule: one Job per promotion, named after a hash of the values.
    let docs = render_chart(&tools, &chart, &values, "dev", "c0", cluster.clone());
    assert_eq!(docs.len(), 1, "{docs:?}");
    let job = &docs[0];
    assert_eq!(job["kind"], "Job");
    let name = job["metadata"]["name"].as_str().unwrap();
    let suffix = name
        .strip_prefix("shop-dev-c0-")
        .unwrap_or_else(|| panic!("{name}"));
    assert!(
        suffix.len() == 8 && suffix.bytes().all(|b| b.is_ascii_hexdigit()),
        "{name}"
    );
    // The same values name the same Job; a hand edit of the same digest's values a new one,
    // since Kubernetes refuses to change a Job's pod template.
    let again = render_chart(&tools, &chart, &values, "dev", "c0", cluster.clone());
    assert_eq!(again[0]["metadata"]["name"], name);
    let mut edited = cluster.clone();
    edited["stores"]["warehouse"]["host"] = "db2.dev.example.com".into();
    let edited = render_chart(&tools, &chart, &values, "dev", "c0", edited);
    assert_ne!(edited[0]["metadata"]["name"], name);
    assert_eq!(job["metadata"]["namespace"], "dk-dev-c0");
    let labels = &job["metadata"]["labels"];
    for (key, value) in [
        ("app.kubernetes.io/name", "shop"),
        ("app.kubernetes.io/instance", "shop-dev-c0"),
        ("app.kubernetes.io/version", "v1.2.3"),
        ("datakit.infoblox.dev/package", "shop"),
        ("datakit.infoblox.dev/version", "v1.2.3"),
        ("datakit.infoblox.dev/env", "dev"),
        ("datakit.infoblox.dev/cell", "c0"),
    ] {
        assert_eq!(labels[key], value, "{key}: {labels}");
    }
    assert_eq!(job["spec"]["backoffLimit"], 2);
    assert_eq!(job["spec"]["activeDeadlineSeconds"], 3600);
    // No TTL by default: Argo CD's selfHeal would re-create, and so re-run, a Job it deleted.
    assert!(
        job["spec"].get("ttlSecondsAfterFinished").is_none(),
        "{job}"
    );
    let pod = pod_spec(job);
    assert_eq!(pod["restartPolicy"], "Never");
    // The Transform's {cpu, memory}, as promote wrote them: requested, memory the limit too.
    let resources = &pod["containers"][0]["resources"];
    assert!(resources["requests"]["memory"].is_string(), "{resources}");
    assert_eq!(
        resources["limits"]["memory"],
        resources["requests"]["memory"]
    );
    assert_eq!(pod["imagePullSecrets"][0]["name"], "regcred");
    let pull = &pod["initContainers"][0];
    assert_eq!(
        pull["command"],
        serde_json::json!([
            "/bin/sh",
            "-c",
            "rm -rf /workspace/pkg && exec /usr/local/bin/dk pull \"$1\" --output-dir /workspace/pkg",
            "dk-pull",
            format!("local/default/shop@{digest}"),
        ])
    );
    assert_eq!(
        pull["env"][0],
        serde_json::json!({"name": "DOCKER_CONFIG", "value": "/etc/dk/docker"})
    );
    assert_eq!(pull["volumeMounts"][1]["mountPath"], "/etc/dk/docker");
    let credentials = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "registry-credentials")
        .unwrap();
    assert_eq!(credentials["secret"]["secretName"], "regcred");
    assert_eq!(
        credentials["secret"]["items"][0]["key"],
        ".dockerconfigjson"
    );
    assert_eq!(pod["initContainers"][1]["command"][2], "/workspace/dk");
    let run = &pod["containers"][0];
    assert_eq!(
        run["command"],
        serde_json::json!(["/workspace/dk", "run", "/workspace/pkg"])
    );
    let env: std::collections::BTreeMap<&str, &Value> = run["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e))
        .collect();
    assert_eq!(
        env["OPENLINEAGE_URL"]["value"],
        "http://marquez.example.com:5000"
    );
    assert_eq!(env["OPENLINEAGE_NAMESPACE"]["value"], "dev");
    assert_eq!(
        env["DK_STORE_OVERRIDES"]["value"],
        r#"{"warehouse":{"host":"db.dev.example.com"}}"#
    );
    assert_eq!(
        env["WAREHOUSE_PASSWORD"]["valueFrom"]["secretKeyRef"],
        serde_json::json!({"name": "dk-shop", "key": "WAREHOUSE_PASSWORD"})
    );
    assert_eq!(
        env["API_TOKEN"]["valueFrom"]["secretKeyRef"],
        serde_json::json!({"name": "shared", "key": "token"})
    );
    assert!(!env.contains_key("DK_SCHEDULE"), "{env:?}");

    // A TTL set by hand is rendered as written, 0 included.
    for ttl in [600, 0] {
        let mut with_ttl = cluster.clone();
        with_ttl["job"] = serde_json::json!({"ttlSecondsAfterFinished": ttl});
        let docs = render_chart(&tools, &chart, &values, "dev", "c0", with_ttl);
        assert_eq!(docs[0]["spec"]["ttlSecondsAfterFinished"], ttl);
        assert_eq!(docs[0]["spec"]["backoffLimit"], 2);
    }

    // Another cell: other names and namespace.
    let other = render_chart(&tools, &chart, &values, "dev", "c1", cluster.clone());
    let other_name = other[0]["metadata"]["name"].as_str().unwrap();
    assert!(other_name.starts_with("shop-dev-c1-"), "{other_name}");
    assert_eq!(other[0]["metadata"]["namespace"], "dk-dev-c1");
    assert_eq!(
        other[0]["metadata"]["labels"]["datakit.infoblox.dev/cell"],
        "c1"
    );

    // Batch with a schedule: a CronJob that never overlaps, its schedule passed to dk run.
    let mut scheduled = cluster.clone();
    scheduled["schedule"] =
        serde_json::json!({"cron": "0 2 * * *", "timezone": "Europe/Berlin", "suspend": true});
    let docs = render_chart(&tools, &chart, &values, "dev", "c0", scheduled);
    assert_eq!(docs.len(), 1, "{docs:?}");
    let cron = &docs[0];
    assert_eq!(cron["kind"], "CronJob");
    assert_eq!(cron["metadata"]["name"], "shop-dev-c0");
    assert_eq!(cron["spec"]["schedule"], "0 2 * * *");
    assert_eq!(cron["spec"]["timeZone"], "Europe/Berlin");
    assert_eq!(cron["spec"]["suspend"], true);
    assert_eq!(cron["spec"]["concurrencyPolicy"], "Forbid");
    assert!(
        cron["spec"]["jobTemplate"]["spec"]
            .get("ttlSecondsAfterFinished")
            .is_none()
    );
    let run = &pod_spec(cron)["containers"][0];
    let env = run["env"].as_array().unwrap();
    assert!(env.contains(&serde_json::json!({"name": "DK_SCHEDULE", "value": "0 2 * * *"})));
    assert!(env.contains(&serde_json::json!({"name": "DK_TIMEZONE", "value": "Europe/Berlin"})));
    assert!(
        pod_spec(cron)["initContainers"][0]["command"][4]
            .as_str()
            .unwrap()
            .ends_with(&digest)
    );

    // Streaming: a Deployment with replicas, its selector stable across versions.
    let mut streaming = cluster;
    streaming["mode"] = "streaming".into();
    streaming["replicas"] = 3.into();
    streaming["resources"] = serde_json::json!({"limits": {"memory": "512Mi"}});
    let docs = render_chart(&tools, &chart, &values, "prod", "c0", streaming);
    assert_eq!(docs.len(), 1, "{docs:?}");
    let deployment = &docs[0];
    assert_eq!(deployment["kind"], "Deployment");
    assert_eq!(deployment["metadata"]["name"], "shop-prod-c0");
    assert_eq!(deployment["spec"]["replicas"], 3);
    assert_eq!(
        deployment["spec"]["selector"]["matchLabels"],
        serde_json::json!({"app.kubernetes.io/name": "shop", "app.kubernetes.io/instance": "shop-prod-c0"})
    );
    assert_eq!(
        pod_spec(deployment)["containers"][0]["resources"]["limits"]["memory"],
        "512Mi"
    );

    // Hand-written values that cannot work are refused with what to write.
    for (extra, said) in [
        (
            serde_json::json!({"mode": "stream"}),
            "it must be batch or streaming",
        ),
        (
            serde_json::json!({"schedule": "0 2 * * *"}),
            "write it as a map",
        ),
    ] {
        let err = try_render_chart(&tools, &chart, &values, "dev", "c0", extra).unwrap_err();
        assert!(err.contains(said), "{err}");
    }

    // The ApplicationSet is YAML that names the repository, one namespace per env and cell.
    let appset = std::fs::read_to_string(repo.join("argocd/applicationset.yaml")).unwrap();
    assert!(
        appset.contains(&format!("repoURL: {}", origin.display())),
        "{appset}"
    );
    assert!(appset.contains("path: envs/*/cells/*/apps/*"));
    assert!(
        appset.contains(
            r#"namespace: "dk-{{ index .path.segments 1 }}-{{ index .path.segments 3 }}""#
        ),
        "{appset}"
    );
}

fn version_digest(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("digest: "))
        .unwrap()
        .to_owned()
}

#[test]
fn status_comes_from_argo_cd_when_it_is_configured() {
    let ctx = context();
    ok(dk(&ctx, &[], &["gitops", "init"]));
    build_versions(&ctx, &[], "my-pkg", &["v1.0.0"]);
    ok(dk(
        &ctx,
        &[],
        &["promote", "my-pkg", "v1.0.0", "--to", "dev"],
    ));
    let argocd = dk_test::argocd::FakeArgoCd::start("argo-token");
    argocd.set("dev-c0-my-pkg", "Synced", "Healthy");
    argocd.set("prod-c0-my-pkg", "OutOfSync", "Progressing");
    ok(dk(
        &ctx,
        &[],
        &["config", "set", "argocd.server", &argocd.url()],
    ));
    let env = [("ARGOCD_TOKEN", "argo-token")];
    let status = ok(dk(&ctx, &env, &["status", "my-pkg", "-o", "json"]));
    let report = status.json();
    assert_eq!(report["source"], "argocd");
    let statuses: Vec<&str> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "Synced (Healthy)",
            "Not deployed",
            "OutOfSync (Progressing)"
        ]
    );
    let unauthorized = ok(dk(&ctx, &[], &["status", "my-pkg", "-o", "json"]));
    assert!(
        unauthorized.json()["rows"][0]["status"]
            .as_str()
            .unwrap()
            .starts_with("Unknown (Argo CD:"),
        "{}",
        unauthorized.stdout
    );
}

#[test]
fn promotions_resolve_digests_in_the_registry() {
    let Some(registry) = dk_test::service("DK_TEST_REGISTRY", "an OCI registry") else {
        return;
    };
    let ctx = context();
    ok(dk(&ctx, &[], &["gitops", "init"]));
    build_versions(&ctx, &[], "reg-pkg", &["v1.0.0"]);
    let prefix = format!("{registry}/g{}", std::process::id());
    let published = ok(dk(
        &ctx,
        &[],
        &["publish", "reg-pkg", "--registry", &prefix, "-o", "json"],
    ));
    let digest = published.json()["digest"].as_str().unwrap().to_owned();
    ok(dk(&ctx, &[], &["config", "set", "registry", &prefix]));
    let promoted = ok(dk(
        &ctx,
        &[],
        &["promote", "reg-pkg", "v1.0.0", "--to", "dev", "-o", "json"],
    ));
    assert_eq!(promoted.json()["digest"], digest.as_str());
    let repo = ctx.dk_home().join("gitops").display().to_string();
    let values = on_main(&ctx, &repo, "envs/dev/cells/c0/apps/reg-pkg/values.yaml").unwrap();
    assert!(values.contains(&format!("registry: {prefix}")), "{values}");
    assert!(values.contains(&format!("digest: {digest}")), "{values}");
    // Built but never published: refused.
    build_versions(&ctx, &[], "reg-pkg", &["v1.1.0"]);
    let refused = dk(&ctx, &[], &["promote", "reg-pkg", "v1.1.0", "--to", "dev"]);
    assert_eq!(refused.code, 1, "{}", refused.transcript());
    assert!(
        refused.stderr.contains("was never published"),
        "{}",
        refused.stderr
    );
}

#[test]
fn the_same_flow_runs_against_a_gitlab_compatible_forge() {
    let ctx = context();
    let Some(registry) = test_registry(&ctx) else {
        return;
    };
    let seed = ctx.root().join("seed");
    ok(dk(&ctx, &[], &["gitops", "init", seed.to_str().unwrap()]));
    let forge = std::sync::Arc::new(FakeForge::start(&ctx.root().join("forge")));
    let url = forge.create_repo("group", "gitops", &seed);
    for (key, value) in [
        ("gitops.repo", url.as_str()),
        ("gitops.provider", "gitlab"),
        ("gitops.apiUrl", &forge.gitlab_api_url()),
    ] {
        ok(dk(&ctx, &[], &["config", "set", key, value]));
    }
    let env = [("GITLAB_TOKEN", "dk-bot")];
    let reviewer = forge.clone();
    let approve = move |pr: &str, who: &str| {
        let number = pr.trim_start_matches('!').parse().unwrap();
        reviewer.review("group", "gitops", number, who, "APPROVE");
    };
    let closed = faq_flow(&ctx, &env, &url, Some(&registry), &approve);
    assert_closed_with_comments(&forge, "group", '!', &closed);
    let merge_requests = forge.pulls("group", "gitops");
    let prod = merge_requests
        .iter()
        .find(|p| p["title"] == "Promote my-pkg v1.0.0 to prod (c0)")
        .unwrap();
    let labels: Vec<&str> = prod["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        ["promotion", "env:prod", "cell:c0", "package:my-pkg"]
    );
}

/// The zero-infrastructure production path: a GitOps repository made by `dk gitops init ./g`
/// (not bare) is gitops.repo, `dk publish --registry R`, then `dk promote` pins R's digest
/// without R repeated. A version never pushed is refused there, with the command that fixes it.
#[test]
fn promotion_pins_the_registry_dk_publish_pushed_to() {
    let ctx = context();
    let Some(registry) = test_registry(&ctx) else {
        return;
    };
    let repo = ctx.root().join("g");
    ok(dk(&ctx, &[], &["gitops", "init", repo.to_str().unwrap()]));
    let repo = repo.display().to_string();
    ok(dk(&ctx, &[], &["config", "set", "gitops.repo", &repo]));
    build_versions(&ctx, &[], "pinned", &["v1.0.0"]);
    let published = ok(dk(
        &ctx,
        &[],
        &[
            "publish",
            "pinned",
            "--tag",
            "v1.0.0",
            "--registry",
            &registry,
            "-o",
            "json",
        ],
    ));
    let digest = published.json()["digest"].as_str().unwrap().to_owned();
    let promoted = ok(dk(
        &ctx,
        &[],
        &["promote", "pinned", "v1.0.0", "--to", "dev", "-o", "json"],
    ));
    assert_eq!(promoted.json()["outcome"], "merged");
    assert_eq!(promoted.json()["digest"], digest.as_str());
    let values = on_main(&ctx, &repo, "envs/dev/cells/c0/apps/pinned/values.yaml").unwrap();
    assert!(
        values.contains(&format!("\nregistry: {registry}\n"))
            && values.contains(&format!("\ndigest: {digest}\n"))
            && !values.contains("registry: local"),
        "{values}"
    );

    build_versions(&ctx, &[], "pinned", &["v1.1.0"]);
    let refused = dk(&ctx, &[], &["promote", "pinned", "v1.1.0", "--to", "dev"]);
    assert_eq!(refused.code, 2, "{}", refused.transcript());
    assert!(
        refused.stderr.contains("never pushed to a registry")
            && refused
                .stderr
                .contains("hint: dk publish DIR --tag v1.1.0 --registry REGISTRY first"),
        "{}",
        refused.stderr
    );
    // --registry names where it is: the digest is asked of that registry.
    ok(dk(
        &ctx,
        &[],
        &[
            "publish",
            "pinned",
            "--tag",
            "v1.1.0",
            "--registry",
            &registry,
        ],
    ));
    let flagged = ok(dk(
        &ctx,
        &[],
        &[
            "promote",
            "pinned",
            "v1.1.0",
            "--to",
            "dev",
            "--registry",
            &registry,
            "-o",
            "json",
        ],
    ));
    assert_eq!(flagged.json()["outcome"], "merged");

    // A folder that refuses pushes to its checked-out main: refused before anything is pushed,
    // with the command that fixes it.
    git(
        Path::new(&repo),
        &["config", "--unset", "receive.denyCurrentBranch"],
    );
    let refused = dk(&ctx, &[], &["promote", "pinned", "v1.1.0", "--to", "int"]);
    assert_eq!(refused.code, 2, "{}", refused.transcript());
    assert!(
        refused.stderr.contains(&format!(
            "run `git -C {repo} config receive.denyCurrentBranch updateInstead`"
        )),
        "{}",
        refused.stderr
    );
}

/// The values carry mode, schedule, image, replicas and resources from the artifact's own
/// Transform, not from the dk.yaml in the working directory.
#[test]
fn the_values_carry_the_workload_of_the_artifact() {
    let ctx = context();
    ok(dk(&ctx, &[], &["gitops", "init"]));
    run_ok(&ctx, &["init", "nightly", "--runtime", "generic-python"], 0);
    let manifest = ctx.work().join("nightly/dk.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace(
            "  timeout: 30m\n",
            "  timeout: 30m\n  image: python:3.12-slim\n  schedule:\n    cron: \"0 2 * * *\"\n    timezone: Europe/Paris\n",
        ),
    )
    .unwrap();
    build_versions(&ctx, &[], "nightly", &["v1.0.0"]);
    // The working directory moves on; the artifact does not.
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("0 2 * * *", "*/5 * * * *")
            .replace("memory: 256Mi", "memory: 4Gi"),
    )
    .unwrap();
    ok(dk(
        &ctx,
        &[],
        &["promote", "nightly", "v1.0.0", "--to", "dev"],
    ));
    let repo = ctx.dk_home().join("gitops").display().to_string();
    let text = on_main(&ctx, &repo, "envs/dev/cells/c0/apps/nightly/values.yaml").unwrap();
    let values: Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(values["mode"], "batch", "{text}");
    assert_eq!(
        values["schedule"],
        serde_json::json!({"cron": "0 2 * * *", "timezone": "Europe/Paris", "suspend": false}),
        "{text}"
    );
    assert_eq!(values["image"], "python:3.12-slim");
    assert_eq!(values["resources"]["memory"], "256Mi");
    assert_eq!(values["namespace"], "default");
    assert!(values.get("replicas").is_none(), "a batch package: {text}");
}

/// The ApplicationSet names gitops.repo when it is a URL (without its credentials), which Argo
/// CD can read, not the local folder the repository was created in.
#[test]
fn the_application_set_names_the_gitops_url() {
    let ctx = context();
    let seed = ctx.root().join("seed");
    let flag = "gitops.repo=https://bot:s3cret@git.example/team/gitops.git";
    ok(dk(
        &ctx,
        &[],
        &["gitops", "init", seed.to_str().unwrap(), "--config", flag],
    ));
    let appset = std::fs::read_to_string(seed.join("argocd/applicationset.yaml")).unwrap();
    assert_eq!(
        appset
            .matches("repoURL: https://git.example/team/gitops.git\n")
            .count(),
        2,
        "{appset}"
    );
    assert!(!appset.contains("s3cret"), "{appset}");
}
