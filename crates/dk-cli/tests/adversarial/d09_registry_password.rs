//! Defect 9 (registry part): `--registry user:PASSWORD@host` printed the password. Credentials
//! in a registry setting or reference are refused before any request, without repeating them,
//! with a hint to `docker login` or DK_REGISTRY_USER/DK_REGISTRY_PASSWORD.

use crate::common::{context, run_ok, run_with};

const PASSWORD: &str = "s3cr3t-Pa55";

#[test]
fn a_password_in_the_registry_is_refused_and_never_printed() {
    let ctx = context();
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    run_ok(&ctx, &["build", "demo", "--tag", "v0.1.0"], 0);
    let with_password = format!("ada:{PASSWORD}@127.0.0.1:9/team");
    let runs = [
        run_with(
            &ctx,
            &[],
            &[
                "publish",
                "demo",
                "--tag",
                "v0.1.0",
                "--registry",
                &with_password,
            ],
        ),
        run_with(
            &ctx,
            &[],
            &[
                "publish",
                "demo",
                "--tag",
                "v0.1.0",
                "--registry",
                &with_password,
                "-o",
                "json",
            ],
        ),
        run_with(
            &ctx,
            &[("DK_REGISTRY", with_password.as_str())],
            &["publish", "demo", "--tag", "v0.1.0"],
        ),
        run_with(
            &ctx,
            &[],
            &[
                "pull",
                &format!("ada:{PASSWORD}@127.0.0.1:9/team/demo:v0.1.0"),
            ],
        ),
        run_with(
            &ctx,
            &[],
            &[
                "inspect",
                &format!("ada:{PASSWORD}@127.0.0.1:9/team/demo:v0.1.0"),
            ],
        ),
        run_with(
            &ctx,
            &[],
            &[
                "-v",
                "publish",
                "demo",
                "--tag",
                "v0.1.0",
                "--registry",
                &with_password,
            ],
        ),
    ];
    for result in runs {
        assert_eq!(result.code, 2, "{}", result.transcript());
        assert!(
            !result.transcript().contains(PASSWORD),
            "{}",
            result.transcript()
        );
        assert!(
            result.stderr.contains("docker login"),
            "{}",
            result.transcript()
        );
    }
}
