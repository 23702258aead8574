mod common;

use common::{context, run_ok, snapshot};

#[test]
fn faq_chart_overrides_are_written_to_the_user_config() {
    let ctx = context();
    run_ok(
        &ctx,
        &["config", "set", "dev.charts.redpanda.version", "25.2.0"],
        0,
    );
    let set = run_ok(
        &ctx,
        &[
            "config",
            "set",
            "dev.charts.postgres.values.primary.resources.limits.memory",
            "1Gi",
        ],
        0,
    );
    snapshot(&ctx, "config_set", &set.transcript());
    snapshot(
        &ctx,
        "config_user_file",
        &std::fs::read_to_string(ctx.dk_home().join("config.yaml")).unwrap(),
    );
    let get = run_ok(&ctx, &["config", "get", "dev.charts.redpanda.version"], 0);
    snapshot(&ctx, "config_get", &get.transcript());
    let list = run_ok(&ctx, &["config", "list"], 0);
    snapshot(&ctx, "config_list", &list.transcript());
}

#[test]
fn layers_report_their_source() {
    let ctx = context();
    std::fs::create_dir_all(ctx.work().join(".git")).unwrap();
    run_ok(&ctx, &["config", "set", "registry", "user.example/team"], 0);
    run_ok(
        &ctx,
        &[
            "config",
            "set",
            "registry",
            "repo.example/team",
            "--scope",
            "repo",
        ],
        0,
    );
    let repo = run_ok(&ctx, &["config", "get", "registry", "-o", "json"], 0).json();
    assert_eq!(repo["value"], "repo.example/team");
    assert_eq!(repo["source"], "repo");
    let user_only = run_ok(&ctx, &["config", "get", "registry", "--scope", "user"], 0);
    assert_eq!(user_only.stdout, "user.example/team\n");
    let env = ctx
        .dk()
        .args(["config", "get", "registry", "-o", "json"])
        .env("DK_REGISTRY", "env.example")
        .output()
        .unwrap();
    let env: serde_json::Value = serde_json::from_slice(&env.stdout).unwrap();
    assert_eq!(env["source"], "env DK_REGISTRY");
    let flag = run_ok(
        &ctx,
        &[
            "config",
            "get",
            "registry",
            "--config",
            "registry=flag.example",
            "-o",
            "json",
        ],
        0,
    )
    .json();
    assert_eq!(
        (flag["value"].as_str(), flag["source"].as_str()),
        (Some("flag.example"), Some("flag"))
    );
    let default = run_ok(&ctx, &["config", "get", "gitops.provider", "-o", "json"], 0).json();
    assert_eq!(default["source"], "default");
    // Setting a value that a higher layer overrides says so.
    let shadowed = run_ok(
        &ctx,
        &[
            "config",
            "set",
            "registry",
            "again.example",
            "--scope",
            "system",
        ],
        0,
    );
    assert!(
        shadowed
            .stderr
            .contains("warning: registry is overridden by repo"),
        "{}",
        shadowed.stderr
    );
}

#[test]
fn unknown_keys_are_refused_with_a_suggestion() {
    let ctx = context();
    let set = run_ok(&ctx, &["config", "set", "regsitry", "x"], 2);
    snapshot(&ctx, "config_unknown_key", &set.transcript());
    let section = run_ok(&ctx, &["config", "set", "lineage", "x"], 2);
    assert!(
        section.stderr.contains("`lineage` is a section"),
        "{}",
        section.stderr
    );
    let bad_value = run_ok(&ctx, &["config", "set", "gitops.provider", "gihub"], 2);
    assert!(
        bad_value.stderr.contains("did you mean `github`"),
        "{}",
        bad_value.stderr
    );
    let bad_flag = run_ok(&ctx, &["version", "--config", "registy=x"], 2);
    assert!(
        bad_flag.stderr.contains("did you mean `registry`"),
        "{}",
        bad_flag.stderr
    );
}

#[test]
fn hand_edited_files_keep_their_comments_and_bad_files_are_located() {
    let ctx = context();
    std::fs::create_dir_all(ctx.dk_home()).unwrap();
    let file = ctx.dk_home().join("config.yaml");
    std::fs::write(&file, "# my settings\nregistry: a.example # team registry\n\nlineage:\n  endpoint: http://localhost:5000\n").unwrap();
    run_ok(&ctx, &["config", "set", "lineage.timeout", "5s"], 0);
    run_ok(&ctx, &["config", "unset", "registry"], 0);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "# my settings\n\nlineage:\n  endpoint: http://localhost:5000\n  timeout: 5s\n"
    );
    let absent = run_ok(&ctx, &["config", "unset", "registry"], 0);
    assert!(
        absent
            .stdout
            .contains("registry was not set in user config"),
        "{}",
        absent.stdout
    );
    std::fs::write(&file, "lineage:\n  timeout: soon\n").unwrap();
    let broken = run_ok(&ctx, &["config", "list"], 2);
    assert!(
        broken
            .stderr
            .contains("config.yaml:2:12: invalid value for `lineage.timeout`"),
        "{}",
        broken.stderr
    );
    std::fs::write(&file, "regsitry: a\n").unwrap();
    let warned = run_ok(&ctx, &["config", "list"], 0);
    assert!(
        warned
            .stderr
            .contains("config.yaml:1:1: unknown config key `regsitry` (did you mean `registry`?)"),
        "{}",
        warned.stderr
    );
}

#[test]
fn paths_and_missing_values() {
    let ctx = context();
    let paths = run_ok(&ctx, &["config", "path", "-o", "json"], 0).json();
    assert_eq!(paths["files"][1]["scope"], "user");
    assert_eq!(paths["files"][2]["path"], serde_json::Value::Null);
    let user = run_ok(&ctx, &["config", "path", "--scope", "user"], 0);
    assert_eq!(
        user.stdout.trim(),
        ctx.dk_home().join("config.yaml").display().to_string()
    );
    let repo = run_ok(&ctx, &["config", "path", "--scope", "repo"], 2);
    assert!(
        repo.stderr.contains("not inside a git repository"),
        "{}",
        repo.stderr
    );
    let unset = run_ok(&ctx, &["config", "get", "registry"], 1);
    assert!(
        unset.stderr.contains("registry is not set"),
        "{}",
        unset.stderr
    );
    let dk_home = ctx
        .dk()
        .args(["config", "path", "--scope", "user"])
        .env("DK_HOME", "/srv/dk")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&dk_home.stdout).trim(),
        "/srv/dk/config.yaml"
    );
}

/// Names under `dev.services` and `dev.charts` are checked like fixed keys: a typo of a service or
/// chart is refused with the key it meant, a port must be a port, and the suggestion is never the
/// key that failed.
#[test]
fn map_key_typos_and_bad_ports_are_refused_with_the_key_meant() {
    let ctx = context();
    for (key, value, meant) in [
        (
            "dev.services.kafak.port",
            "19092",
            "dev.services.kafka.port",
        ),
        (
            "dev.charts.redpnda.version",
            "v25.2.0",
            "dev.charts.redpanda.version",
        ),
        ("lineage.webPort", "3001", "dev.services.lineage.webPort"),
    ] {
        let refused = run_ok(&ctx, &["config", "set", key, value], 2);
        assert!(
            refused
                .stderr
                .contains(&format!("unknown config key `{key}`"))
                && refused.stderr.contains(&format!("did you mean `{meant}`?")),
            "{}",
            refused.transcript()
        );
    }
    let refused = run_ok(
        &ctx,
        &["config", "set", "dev.services.postgres.port", "abc"],
        2,
    );
    assert!(
        refused
            .stderr
            .contains("expected a port (1-65535), found `abc`"),
        "{}",
        refused.transcript()
    );
    assert!(
        !ctx.dk_home().join("config.yaml").exists(),
        "nothing was written"
    );
    // Written by hand, the same typo is a warning with the suggestion, and a bad port an error
    // with its place.
    std::fs::create_dir_all(ctx.dk_home()).unwrap();
    std::fs::write(
        ctx.dk_home().join("config.yaml"),
        "dev:\n  services:\n    kafak:\n      port: 19092\n",
    )
    .unwrap();
    let listed = run_ok(&ctx, &["config", "list"], 0);
    assert!(
        listed
            .stderr
            .contains("unknown config key `dev.services.kafak`")
            && listed.stderr.contains("did you mean `dev.services.kafka"),
        "{}",
        listed.transcript()
    );
    std::fs::write(
        ctx.dk_home().join("config.yaml"),
        "dev:\n  services:\n    postgres:\n      port: abc\n",
    )
    .unwrap();
    let broken = run_ok(&ctx, &["config", "get", "dev.services.postgres.port"], 2);
    assert!(
        broken
            .stderr
            .contains("config.yaml:4:13: invalid value for `dev.services.postgres.port`"),
        "{}",
        broken.transcript()
    );
}

/// Any other chart name is a custom service: it needs an image (compose) or a chart (k3d) first.
#[test]
fn a_custom_service_needs_an_image_or_a_chart() {
    let ctx = context();
    let refused = run_ok(
        &ctx,
        &["config", "set", "dev.charts.mailpit.version", "v1.21"],
        2,
    );
    assert!(
        refused.stderr.contains("so it is a custom service")
            && refused.stderr.contains(
                "hint: dk config set dev.charts.mailpit.image IMAGE (compose) or dev.charts.mailpit.chart CHART (k3d)"
            ),
        "{}",
        refused.transcript()
    );
    run_ok(
        &ctx,
        &[
            "config",
            "set",
            "dev.charts.mailpit.image",
            "axllent/mailpit",
        ],
        0,
    );
    run_ok(
        &ctx,
        &["config", "set", "dev.charts.mailpit.version", "v1.21"],
        0,
    );
    let get = run_ok(&ctx, &["config", "get", "dev.charts.mailpit.version"], 0);
    assert_eq!(get.stdout, "v1.21\n");
}
