//! `dk doctor` against real services: a registry with and without credentials, PostgreSQL, a
//! port nothing listens on, a port that accepts connections and never answers, and config files
//! with an unknown key or broken YAML.

mod common;

use std::net::TcpListener;
use std::path::Path;

use common::{Run, context};
use dk_test::{TestContext, service};

/// `dk doctor` with only dk's own folder and the system's on PATH, in `dir`.
fn doctor(ctx: &TestContext, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let dk = Path::new(env!("CARGO_BIN_EXE_dk"));
    let path = format!("{}:/usr/bin:/bin", dk.parent().unwrap().display());
    let output = ctx
        .dk_process()
        .current_dir(dir)
        .env("PATH", path)
        .envs(env.iter().copied())
        .args(["doctor", "-o", "json"])
        .args(args)
        .output()
        .expect("run dk doctor");
    Run::from_output(output)
}

/// The checks named `name`.
fn checks<'a>(report: &'a serde_json::Value, name: &str) -> Vec<&'a serde_json::Value> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|check| check["name"] == name)
        .collect()
}

fn level<'a>(report: &'a serde_json::Value, name: &str) -> &'a str {
    let found = checks(report, name);
    assert_eq!(found.len(), 1, "one `{name}` check in {report:#}");
    found[0]["level"].as_str().unwrap()
}

/// A port on loopback nothing listens on (bound, then freed).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const POSTGRES_STORE: &str = "apiVersion: datakit.infoblox.dev/v1alpha1
kind: Store
metadata:
  name: warehouse
spec:
  connector: postgres
  connection:
    host: 127.0.0.1
    port: PORT
    database: dk_test
";

/// A package with one PostgreSQL store at `port`.
fn package_with_store(ctx: &TestContext, port: u16) -> std::path::PathBuf {
    common::run_ok(ctx, &["init", "shop", "--runtime", "generic-python"], 0);
    let dir = ctx.work().join("shop");
    std::fs::create_dir_all(dir.join("store")).unwrap();
    std::fs::write(
        dir.join("store/warehouse.yaml"),
        POSTGRES_STORE.replace("PORT", &port.to_string()),
    )
    .unwrap();
    dir
}

#[test]
fn a_healthy_setup_passes_with_registry_credentials_and_a_postgres_store() {
    let ctx = context();
    let (Some(registry), Some(postgres), Some(user), Some(password)) = (
        service(
            "DK_TEST_AUTH_REGISTRY",
            "an OCI registry asking for credentials",
        ),
        service("DK_TEST_POSTGRES_URL", "PostgreSQL"),
        service("DK_TEST_REGISTRY_USER", "the registry user"),
        service("DK_TEST_REGISTRY_PASSWORD", "the registry password"),
    ) else {
        return;
    };
    let port: u16 = postgres
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next()?.parse().ok())
        .expect("a port in DK_TEST_POSTGRES_URL");
    let dir = package_with_store(&ctx, port);

    let without = doctor(&ctx, &dir, &[("DK_REGISTRY", &registry)], &[]);
    let report = without.json();
    assert_eq!(level(&report, "registry"), "ok", "{report:#}");
    assert_eq!(level(&report, "registry credentials"), "warn", "{report:#}");
    let fix = checks(&report, "registry credentials")[0]["fix"]
        .as_str()
        .unwrap();
    assert!(fix.contains(&format!("docker login {registry}")), "{fix}");
    assert_eq!(level(&report, "store warehouse"), "ok", "{report:#}");
    assert_eq!(level(&report, "dk on PATH"), "ok", "{report:#}");
    assert_eq!(report["failures"], 0, "{report:#}");
    assert_eq!(without.code, 0, "warnings alone exit 0: {}", without.stderr);

    let with = doctor(
        &ctx,
        &dir,
        &[
            ("DK_REGISTRY", &registry),
            ("DK_REGISTRY_USER", &user),
            ("DK_REGISTRY_PASSWORD", &password),
        ],
        &[],
    );
    let report = with.json();
    let credentials = &checks(&report, "registry credentials")[0];
    assert_eq!(credentials["level"], "ok", "{report:#}");
    assert!(
        !with.stdout.contains(&password),
        "the password is never shown"
    );
}

#[test]
fn an_unreachable_registry_and_store_fail_with_their_fixes_and_exit_1() {
    let ctx = context();
    let port = closed_port();
    let dir = package_with_store(&ctx, port);
    let registry = format!("127.0.0.1:{port}");
    let run = doctor(&ctx, &dir, &[("DK_REGISTRY", &registry)], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    let check = checks(&report, "registry")[0];
    assert_eq!(check["level"], "fail");
    assert_eq!(
        check["detail"],
        format!("cannot reach {registry} (connection refused)")
    );
    assert!(check["fix"].as_str().unwrap().contains("registry"));
    let store = checks(&report, "store warehouse")[0];
    assert_eq!(store["level"], "fail", "{report:#}");
    assert!(store["fix"].as_str().is_some());
    assert!(report["failures"].as_u64().unwrap() >= 2);
}

#[test]
fn endpoints_that_accept_and_never_answer_fail_within_the_timeout() {
    let ctx = context();
    // Connections complete in the kernel's backlog; nothing ever reads or answers.
    let hanging = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hanging.local_addr().unwrap().port();
    let dir = package_with_store(&ctx, port);
    let url = format!("http://127.0.0.1:{port}");
    let run = doctor(
        &ctx,
        &dir,
        &[
            ("DK_REGISTRY", &format!("127.0.0.1:{port}")),
            ("OPENLINEAGE_URL", &url),
        ],
        &["--timeout", "1s"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    for name in ["registry", "lineage endpoint", "store warehouse"] {
        let check = checks(&report, name)[0];
        assert_eq!(check["level"], "fail", "{name}: {report:#}");
    }
    let store = checks(&report, "store warehouse")[0]["detail"]
        .as_str()
        .unwrap();
    assert!(store.contains("does not answer"), "{store}");
    drop(hanging);
}

#[test]
fn an_unknown_config_key_warns_with_its_suggestion_and_broken_yaml_fails() {
    let ctx = context();
    ctx.write(
        ctx.dk_home().join("config.yaml"),
        "lineage:\n  endpiont: http://127.0.0.1:5000\n",
    );
    let run = doctor(&ctx, &ctx.work(), &[], &[]);
    let report = run.json();
    let config = checks(&report, "config")[0];
    assert_eq!(config["level"], "warn", "{report:#}");
    assert!(
        config["detail"]
            .as_str()
            .unwrap()
            .contains("unknown key `lineage.endpiont`"),
        "{config}"
    );
    assert!(
        config["fix"]
            .as_str()
            .unwrap()
            .contains("`lineage.endpoint`"),
        "{config}"
    );
    assert!(
        !run.stderr.contains("warning:"),
        "reported once, in the report: {}",
        run.stderr
    );

    ctx.write(ctx.dk_home().join("config.yaml"), "lineage: [unclosed\n");
    let run = doctor(&ctx, &ctx.work(), &[], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    assert_eq!(checks(&report, "config")[0]["level"], "fail", "{report:#}");
}

#[test]
fn the_text_view_shows_each_problem_with_its_fix() {
    let ctx = context();
    let registry = format!("127.0.0.1:{}", closed_port());
    let output = ctx
        .dk_process()
        .current_dir(ctx.work())
        .env("DK_REGISTRY", &registry)
        .args(["doctor"])
        .output()
        .unwrap();
    let run = Run::from_output(output);
    assert_eq!(run.code, 1);
    let line = run
        .stdout
        .lines()
        .position(|line| line.starts_with("FAIL  registry "))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    let fix = run.stdout.lines().nth(line + 1).unwrap();
    assert!(
        fix.trim_start().starts_with("fix: check that the registry"),
        "{fix}"
    );
    assert!(run.stdout.contains("problem"), "{}", run.stdout);
}

/// An HTTP server answering every request with 500: a registry failing with no specific hint.
fn failing_server() -> u16 {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(64) {
            let Ok(mut stream) = stream else { continue };
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let _ = stream.write_all(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    port
}

#[test]
fn an_external_failure_without_its_own_hint_points_to_dk_doctor_once() {
    let ctx = context();
    let port = failing_server();
    let reference = format!("127.0.0.1:{port}/team/shop:v1.0.0");
    let run = common::run(&ctx, &["inspect", &reference]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let hints: Vec<&str> = run
        .stderr
        .lines()
        .filter(|line| line.starts_with("hint:"))
        .collect();
    assert_eq!(hints, ["hint: run dk doctor"], "{}", run.stderr);

    // A failure with a hint of its own keeps it, and only it.
    let closed = format!("127.0.0.1:{}/team/shop:v1.0.0", closed_port());
    let run = common::run(&ctx, &["inspect", &closed]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let hints = run
        .stderr
        .lines()
        .filter(|line| line.starts_with("hint:"))
        .count();
    assert_eq!(hints, 1, "{}", run.stderr);
    assert!(!run.stderr.contains("dk doctor"), "{}", run.stderr);
}

/// With the dev stack up and no lineage.endpoint, runs deliver to the stack's lineage server,
/// yet doctor said "none set: events are kept in $DK_HOME".
#[test]
fn without_an_endpoint_the_dev_stack_s_lineage_server_is_where_runs_deliver() {
    let ctx = context();
    let port = closed_port();
    let mut serve = ctx
        .dk_process()
        .args(["lineage", "serve", "--port", &port.to_string(), "-q"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "serve did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    common::run_ok(
        &ctx,
        &[
            "config",
            "set",
            "dev.services.lineage.port",
            &port.to_string(),
        ],
        0,
    );
    let before = doctor(&ctx, &ctx.work(), &[], &[]);
    assert_eq!(level(&before.json(), "lineage endpoint"), "skip");
    // What `dk dev up` records; the server itself is real.
    std::fs::create_dir_all(ctx.dk_home().join("dev")).unwrap();
    std::fs::write(ctx.dk_home().join("dev/runtime"), "native\n").unwrap();
    let after = doctor(&ctx, &ctx.work(), &[], &[]);
    let report = after.json();
    let check = checks(&report, "lineage endpoint")[0];
    let _ = serve.kill();
    let _ = serve.wait();
    assert_eq!(check["level"], "ok", "{report:#}");
    assert!(
        check["detail"].as_str().unwrap().contains(&format!(
            "dev stack's lineage server at http://127.0.0.1:{port}"
        )),
        "{report:#}"
    );
}

/// A Docker credential helper that never answers (a locked keychain, a prompt) and started a
/// child of its own: `dk doctor` reports the credentials check failed within its timeout and
/// leaves neither process running.
#[test]
fn a_hanging_credential_helper_is_killed_with_its_children() {
    use std::os::unix::fs::PermissionsExt;
    let ctx = context();
    let registry = dk_test::registry::LyingRegistry::start();
    let helpers = ctx.root().join("helpers");
    std::fs::create_dir_all(&helpers).unwrap();
    let pids = ctx.root().join("helper-pids");
    let helper = helpers.join("docker-credential-hang");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nsleep 1000 &\necho $$ $! > {}\nwhile :; do sleep 1; done\n",
            pids.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let docker = ctx.root().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        format!(r#"{{"credHelpers": {{"{}": "hang"}}}}"#, registry.host()),
    )
    .unwrap();
    let path = format!("{}:/usr/bin:/bin", helpers.display());
    let mut child = ctx
        .dk_process()
        .current_dir(ctx.work())
        .env("PATH", &path)
        .env("DK_REGISTRY", registry.host())
        .env("DOCKER_CONFIG", &docker)
        .args(["doctor", "-o", "json", "--timeout", "1s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start dk doctor");
    // A hang fails the test instead of stalling the suite.
    let ended = (0..600).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        child.try_wait().expect("poll dk").is_some()
    });
    if !ended {
        let _ = child.kill();
    }
    let run = Run::from_output(child.wait_with_output().unwrap());
    assert!(
        ended,
        "dk doctor hung on the credential helper: {}",
        run.stderr
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    let check = checks(&report, "registry credentials")[0];
    assert_eq!(check["level"], "fail", "{report:#}");
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .contains("docker-credential-hang get did not answer"),
        "{report:#}"
    );
    let started = std::fs::read_to_string(&pids).expect("the helper ran");
    for pid in started.split_whitespace() {
        let running = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|stat| !stat.contains(") Z "))
        };
        // A killed orphan is gone once init reaps it.
        let gone = (0..100).any(|_| {
            let alive = running();
            if alive {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            !alive
        });
        assert!(gone, "process {pid} of the helper still runs");
    }
}
