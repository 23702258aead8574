//! Defect 9 (forge part): a forge's error body was printed verbatim: megabytes of HTML,
//! terminal escapes, and whatever the forge echoed, the token included. dk now shows the
//! status and the API's `message` (control characters removed, at most 200 characters), masks
//! the token wherever it appears, and never prints credentials from the API URL.

use dk_test::TestContext;
use dk_test::forge::FakeForge;

use super::d02_gitops_symlinks::{build_pushed, ok};
use crate::common::{Run, context, run_with};

const TOKEN: &str = "ghp_s3cretTOKENvalue123";

fn forge_ctx() -> Option<(TestContext, FakeForge)> {
    let ctx = context();
    let seed = ctx.root().join("seed");
    ok(run_with(
        &ctx,
        &[],
        &["gitops", "init", seed.to_str().unwrap()],
    ));
    let forge = FakeForge::start(&ctx.root().join("forge"));
    let url = forge.create_repo("team", "gitops", &seed);
    let api = forge
        .api_url()
        .replace("http://", "http://robot:apiPassw0rd@");
    for (key, value) in [
        ("gitops.repo", url.as_str()),
        ("gitops.provider", "github"),
        ("gitops.apiUrl", api.as_str()),
    ] {
        ok(run_with(&ctx, &[], &["config", "set", key, value]));
    }
    build_pushed(&ctx, &[], "my-pkg", "v1.0.0")?;
    Some((ctx, forge))
}

fn promote(ctx: &TestContext) -> Run {
    run_with(
        ctx,
        &[("GITHUB_TOKEN", TOKEN)],
        &["promote", "my-pkg", "v1.0.0", "--to", "int"],
    )
}

fn clean(run: &Run) {
    for secret in [TOKEN, "apiPassw0rd", "s3cretTOKEN"] {
        assert!(!run.stderr.contains(secret), "{secret}:\n{}", run.stderr);
        assert!(!run.stdout.contains(secret), "{secret}:\n{}", run.stdout);
    }
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
    assert!(!run.stderr.contains('\u{7}'), "{:?}", run.stderr);
}

#[test]
fn a_hostile_error_message_is_cut_stripped_and_masked() {
    let Some((ctx, forge)) = forge_ctx() else {
        return;
    };
    let message = format!(
        "Bad credentials for {TOKEN}\u{1b}]0;owned\u{7}\u{1b}[2J\nAlso: gh{}{}",
        "\u{1b}[31m",
        &TOKEN[2..]
    ) + &"A".repeat(100_000);
    let body = serde_json::json!({"message": message, "documentation_url": TOKEN});
    forge.fail_next("GET", "/pulls", 401, body.to_string().as_bytes());
    let run = promote(&ctx);
    assert_eq!(run.code, 3, "{}", run.transcript());
    clean(&run);
    assert!(run.stderr.contains("401"), "{}", run.stderr);
    assert!(
        run.stderr.contains("Bad credentials for ***"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.len() < 2_000, "{} bytes", run.stderr.len());
}

#[test]
fn a_body_that_is_not_json_is_not_printed() {
    let Some((ctx, forge)) = forge_ctx() else {
        return;
    };
    let page = format!(
        "<html>{TOKEN}\u{1b}[31m{}</html>",
        "<p>proxy error</p>".repeat(50_000)
    );
    forge.fail_next("GET", "/pulls", 502, page.as_bytes());
    let run = promote(&ctx);
    assert_eq!(run.code, 3, "{}", run.transcript());
    clean(&run);
    assert!(run.stderr.contains("502"), "{}", run.stderr);
    assert!(!run.stderr.contains("proxy error"), "{}", run.stderr);
    assert!(run.stderr.len() < 2_000, "{} bytes", run.stderr.len());
}

#[test]
fn reviewer_names_and_argo_cd_statuses_cannot_drive_the_terminal() {
    let Some((ctx, forge)) = forge_ctx() else {
        return;
    };
    ok(run_with(
        &ctx,
        &[],
        &["config", "set", "gitops.apiUrl", &forge.api_url()],
    ));
    let env = [("GITHUB_TOKEN", TOKEN), ("ARGOCD_TOKEN", "argo")];
    let opened = ok(run_with(
        &ctx,
        &env,
        &["promote", "my-pkg", "v1.0.0", "--to", "int", "-o", "json"],
    ));
    let pr = opened.json()["pullRequest"].as_str().unwrap().to_owned();
    let number = pr.trim_start_matches('#').parse().unwrap();
    forge.review(
        "team",
        "gitops",
        number,
        "mallory\u{1b}[2J\u{1b}]0;x\u{7}",
        "APPROVE",
    );
    let check = ok(run_with(&ctx, &env, &["promote", "check", &pr]));
    assert!(
        check.stdout.contains("approved by mallory"),
        "{}",
        check.stdout
    );
    assert!(!check.stdout.contains('\u{1b}'), "{:?}", check.stdout);

    let argocd = dk_test::argocd::FakeArgoCd::start("argo");
    argocd.set(
        "int-c0-my-pkg",
        &format!("Synced\u{1b}[31m{}", "!".repeat(10_000)),
        "Healthy\u{7}",
    );
    let status = ok(run_with(
        &ctx,
        &env,
        &[
            "status",
            "my-pkg",
            "--config",
            &format!("argocd.server={}", argocd.url()),
        ],
    ));
    assert!(!status.stdout.contains('\u{1b}'), "{:?}", status.stdout);
    assert!(!status.stdout.contains('\u{7}'), "{:?}", status.stdout);
    assert!(status.stdout.len() < 2_000, "{} bytes", status.stdout.len());
}
