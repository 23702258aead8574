//! Defect 2: a symbolic link committed to the GitOps repository where a promotion writes
//! (`envs/<env>/cells/<cell>/apps/<pkg>` pointing anywhere) made `dk promote` write
//! `values.yaml` outside the working copy. dk now refuses the link before writing anything,
//! naming it (exit 1), and `dk gitops init` never writes through a link in its target.

use std::path::Path;

use dk_test::TestContext;

use crate::common::{Run, context, run_with};

pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    dk_test::forge::git(dir, args).unwrap_or_else(|err| panic!("git {args:?}: {err}"))
}

pub(crate) fn ok(run: Run) -> Run {
    assert_eq!(run.code, 0, "{}", run.transcript());
    run
}

/// Builds `package` with the tag `version` in the layout of `env`'s DK_HOME.
pub(crate) fn build(ctx: &TestContext, env: &[(&str, &str)], package: &str, version: &str) {
    if !ctx.work().join(package).exists() {
        ok(run_with(
            ctx,
            env,
            &["init", package, "--runtime", "generic-python"],
        ));
    }
    ok(run_with(ctx, env, &["build", package, "--tag", version]));
}

/// Builds `package` `version` and publishes it to the test registry (`None`, and the test
/// skips, without one): a GitOps repository other than the embedded default takes only
/// artifacts pushed somewhere.
pub(crate) fn build_pushed(
    ctx: &TestContext,
    env: &[(&str, &str)],
    package: &str,
    version: &str,
) -> Option<()> {
    let registry = dk_test::service("DK_TEST_REGISTRY", "an OCI registry")?;
    build(ctx, env, package, version);
    let unique = ctx.root().file_name()?.to_string_lossy().to_lowercase();
    let registry = format!("{registry}/{unique}");
    ok(run_with(
        ctx,
        env,
        &[
            "publish",
            package,
            "--tag",
            version,
            "--registry",
            &registry,
        ],
    ));
    Some(())
}

/// Clones `repo`, lets `change` edit the clone, commits and pushes to main.
pub(crate) fn push_to_main(ctx: &TestContext, repo: &str, change: &dyn Fn(&Path)) {
    let clone = ctx.root().join(format!("edit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&clone);
    git(ctx.root(), &["clone", "-q", repo, clone.to_str().unwrap()]);
    change(&clone);
    git(&clone, &["add", "-A"]);
    git(&clone, &["commit", "-q", "-m", "change"]);
    git(&clone, &["push", "-q", "origin", "HEAD:main"]);
    std::fs::remove_dir_all(&clone).unwrap();
}

/// Commits `link` -> `to` to a fresh GitOps repository and promotes through it: refused with
/// exit 1, naming the link, with a hint.
fn refused_through(ctx: &TestContext, link: &str, to: &Path) {
    ok(run_with(ctx, &[], &["gitops", "init"]));
    build(ctx, &[], "my-pkg", "v1.0.0");
    let repo = ctx.dk_home().join("gitops").display().to_string();
    push_to_main(ctx, &repo, &|clone| {
        let at = clone.join(link);
        let _ = std::fs::remove_dir_all(&at);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(to, &at).unwrap();
    });
    let run = run_with(ctx, &[], &["promote", "my-pkg", "v1.0.0", "--to", "dev"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    let named = format!("{link} is a symbolic link in the GitOps repository");
    assert!(run.stderr.contains(&named), "{}", run.stderr);
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);
}

#[test]
fn a_symlinked_app_folder_is_refused_before_anything_is_written() {
    let ctx = context();
    let outside = ctx.root().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    refused_through(&ctx, "envs/dev/cells/c0/apps/my-pkg", &outside);
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing was written through the link"
    );
}

#[test]
fn a_symlinked_environment_folder_is_refused() {
    let ctx = context();
    let outside = ctx.root().join("outside");
    std::fs::create_dir_all(outside.join("cells/c0/apps")).unwrap();
    refused_through(&ctx, "envs/dev", &outside);
    assert!(!outside.join("cells/c0/apps/my-pkg").exists());
}

#[test]
fn a_values_file_that_is_a_link_is_not_read_through() {
    let ctx = context();
    let secret = ctx.root().join("secret.yaml");
    std::fs::write(&secret, "appVersion: v0.0.1\ndigest: sha256:00\n").unwrap();
    refused_through(&ctx, "envs/dev/cells/c0/apps/my-pkg/values.yaml", &secret);
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        "appVersion: v0.0.1\ndigest: sha256:00\n"
    );
}

#[test]
fn gitops_init_does_not_write_through_a_link_in_its_target() {
    let ctx = context();
    let target = ctx.root().join("gitops");
    let outside = ctx.root().join("outside");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, target.join("charts")).unwrap();
    let run = run_with(&ctx, &[], &["gitops", "init", target.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
}
