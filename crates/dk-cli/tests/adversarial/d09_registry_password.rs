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
    let in_reference = format!("ada:{PASSWORD}@127.0.0.1:9/team/demo:v0.1.0");
    let publish = [
        "publish",
        "demo",
        "--tag",
        "v0.1.0",
        "--registry",
        &with_password,
    ];
    let runs = [
        run_with(&ctx, &[], &publish),
        run_with(&ctx, &[], &[&publish[..], &["-o", "json"]].concat()),
        run_with(&ctx, &[], &[&["-v"], &publish[..]].concat()),
        run_with(&ctx, &[("DK_REGISTRY", &with_password)], &publish[..4]),
        run_with(&ctx, &[], &["pull", &in_reference]),
        run_with(&ctx, &[], &["inspect", &in_reference]),
    ];
    for result in runs {
        let transcript = result.transcript();
        assert_eq!(result.code, 2, "{transcript}");
        assert!(!transcript.contains(PASSWORD), "{transcript}");
        assert!(result.stderr.contains("docker login"), "{transcript}");
    }
}
