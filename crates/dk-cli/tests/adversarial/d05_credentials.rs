//! Defect 5: `.env`, `credentials.json`, `.aws/credentials` and `id_rsa` were bundled and
//! published; `.gitignore` was not honoured. `dk build` now refuses files that look like
//! credentials by name or content, naming each and the ways out, `dk lint` reports them as
//! DK119, `.gitignore` is honoured and `.dkignore` re-includes with `!pattern`.

use dk_test::TestContext;

use crate::common::{context, run_ok};

fn package(ctx: &TestContext) -> std::path::PathBuf {
    run_ok(ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    ctx.work().join("demo")
}

fn bundled(ctx: &TestContext) -> Vec<String> {
    let result = run_ok(
        ctx,
        &[
            "build",
            "demo",
            "--tag",
            "v0.1.0",
            "--dry-run",
            "-o",
            "json",
        ],
        0,
    );
    result.json()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn build_and_lint_refuse_credentials_by_name_and_content() {
    let ctx = context();
    package(&ctx);
    let token = format!("ghp_{}", "A1b2".repeat(9));
    ctx.write("demo/.env", "PGPASSWORD=hunter2\n");
    ctx.write("demo/credentials.json", "{}");
    ctx.write("demo/home/.aws/credentials", "[default]\n");
    ctx.write("demo/keys/id_rsa", "not even a key");
    ctx.write(
        "demo/certs/server.pem",
        "-----BEGIN PRIVATE KEY-----\nMIIE\n",
    );
    ctx.write("demo/settings.py", format!("TOKEN = \"{token}\"\n"));
    ctx.write("demo/aws.cfg", "key=AKIAIOSFODNN7EXAMPLE\n");
    ctx.write("demo/.env.example", "PGPASSWORD=\n");
    let result = run_ok(&ctx, &["build", "demo", "--tag", "v0.1.0"], 1);
    for file in [
        ".env",
        "credentials.json",
        "home/.aws/credentials",
        "keys/id_rsa",
        "certs/server.pem",
        "settings.py",
        "aws.cfg",
    ] {
        assert!(
            result.stderr.contains(file),
            "{file}: {}",
            result.transcript()
        );
    }
    assert!(
        !result.stderr.contains(".env.example"),
        "{}",
        result.transcript()
    );
    assert!(!result.stderr.contains(&token) && !result.stderr.contains("hunter2"));
    assert!(result.stderr.contains(".dkignore") && result.stderr.contains("spec.build.allow"));
    assert!(
        !ctx.dk_home().join("registry/index.json").exists() || {
            let index = std::fs::read_to_string(ctx.dk_home().join("registry/index.json")).unwrap();
            !index.contains("default/demo:v0.1.0")
        }
    );

    let lint = run_ok(&ctx, &["lint", "demo", "-o", "json"], 1);
    let findings: Vec<String> = lint.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "DK119")
        .map(|f| f["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(findings.len(), 7, "{findings:?}");
    assert!(!lint.stdout.contains(&token));

    // Ignored, or allowed on purpose: the build goes through.
    ctx.write(
        "demo/.dkignore",
        ".env\ncredentials.json\nhome/\nkeys/\nsettings.py\naws.cfg\n",
    );
    let manifest = ctx.read("demo/dk.yaml");
    ctx.write(
        "demo/dk.yaml",
        manifest.replacen(
            "spec:\n",
            "spec:\n  build:\n    allow: [\"certs/*.pem\"]\n",
            1,
        ),
    );
    let entries = bundled(&ctx);
    assert!(
        entries.contains(&"certs/server.pem".to_owned()),
        "{entries:?}"
    );
    assert!(!entries.contains(&".env".to_owned()));
    run_ok(&ctx, &["lint", "demo"], 0);
}

#[test]
fn gitignore_is_honoured_and_dkignore_reincludes() {
    let ctx = context();
    package(&ctx);
    ctx.write("demo/.gitignore", "*.duckdb\nbuild/\n*.jar\n");
    ctx.write("demo/local.duckdb", vec![0u8; 4096]);
    ctx.write("demo/app.jar", "jar");
    ctx.write("demo/build/out.class", "class");
    let entries = bundled(&ctx);
    for ignored in ["local.duckdb", "app.jar", "build/out.class"] {
        assert!(
            !entries.contains(&ignored.to_owned()),
            "{ignored}: {entries:?}"
        );
    }
    ctx.write("demo/.dkignore", "!*.jar\n");
    let entries = bundled(&ctx);
    assert!(entries.contains(&"app.jar".to_owned()), "{entries:?}");
    assert!(!entries.contains(&"local.duckdb".to_owned()));
    // A sub-folder's own .gitignore applies below it, and its !pattern wins over the root's.
    ctx.write("demo/sub/.gitignore", "*.parquet\n!keep.jar\n");
    ctx.write("demo/sub/big.parquet", vec![0u8; 4096]);
    ctx.write("demo/sub/keep.jar", "jar");
    ctx.write("demo/sub/other.jar", "jar");
    ctx.write("demo/other.parquet", "kept: the rule is sub/'s");
    let entries = bundled(&ctx);
    for (path, expected) in [
        ("sub/big.parquet", false),
        ("sub/keep.jar", true),
        ("sub/other.jar", true),
        ("other.parquet", true),
    ] {
        assert_eq!(
            entries.contains(&path.to_owned()),
            expected,
            "{path}: {entries:?}"
        );
    }
}
