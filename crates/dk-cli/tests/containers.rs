//! The Docker executor for real: packages in Python, Node.js and Java run in containers on
//! Podman (`scripts/test-services` installs it and builds one runtime image with python3, nodejs
//! and a JDK), with the runtime contract, exit codes, timeouts and signals of `dk run`.

mod common;

use std::time::{Duration, Instant};

use common::{
    PG_WIRE, Run, context, counts_on_postgres, fake_program, fresh_database, run_ok, run_with,
    succeed,
};
use dk_test::{TestContext, service};

/// Podman and the test runtime image, or `None` (skipped) when they are not available.
struct Podman {
    image: String,
    /// Podman's configuration here (runc, cgroupfs, host network): dk's tests clear the
    /// environment, so it is passed on explicitly.
    conf: String,
}

fn podman() -> Option<Podman> {
    service("DK_TEST_PODMAN", "podman")?;
    Some(Podman {
        image: service("DK_TEST_RUNTIME_IMAGE", "podman")?,
        conf: service("CONTAINERS_CONF", "podman")?,
    })
}

/// A test world whose docker executor is Podman and whose runtimes all run in the test image.
fn containers_context(podman: &Podman) -> TestContext {
    let ctx = context();
    run_ok(&ctx, &["config", "set", "run.engine", "podman"], 0);
    for runtime in ["generic-python", "generic-node", "generic-java"] {
        let key = format!("runtime.images.{runtime}");
        run_ok(&ctx, &["config", "set", &key, &podman.image], 0);
    }
    ctx
}

fn run_in_container(
    ctx: &TestContext,
    podman: &Podman,
    env: &[(&str, &str)],
    args: &[&str],
) -> Run {
    let mut all = vec![("CONTAINERS_CONF", podman.conf.as_str())];
    all.extend_from_slice(env);
    let mut command = vec!["run", "--executor", "docker"];
    command.extend_from_slice(args);
    run_with(ctx, &all, &command)
}

/// Turns a scaffolded package into a `generic` one: `command` (YAML flow list) in the test image.
fn make_generic(ctx: &TestContext, name: &str, image: &str, command: &str) {
    let manifest = ctx.read(format!("{name}/dk.yaml"));
    let runtime = manifest
        .lines()
        .find(|line| line.trim_start().starts_with("runtime: "))
        .expect("a runtime line")
        .to_owned();
    ctx.write(
        format!("{name}/dk.yaml"),
        manifest.replace(
            &runtime,
            &format!("  runtime: generic\n  image: {image}\n  command: {command}"),
        ),
    );
}

/// Whether a container of run `run_id` is still there, running or not.
fn container_left(podman: &Podman, run_id: &str) -> bool {
    let output = std::process::Command::new("podman")
        .env("CONTAINERS_CONF", &podman.conf)
        .args(["ps", "--all", "--quiet", "--filter"])
        .arg(format!("name=dk-{run_id}"))
        .output()
        .expect("run podman ps");
    assert!(output.status.success(), "podman ps failed");
    !output.stdout.is_empty()
}

/// The FAQ's "any language that runs in a container": the Python, Node.js and Java scaffolds run
/// in the runtime image and write the same pseudonymised records.
#[test]
fn python_node_and_java_packages_run_in_containers() {
    let Some(podman) = podman() else {
        return;
    };
    let ctx = containers_context(&podman);
    let mut outputs = Vec::new();
    for (name, runtime, program) in [
        ("py", "generic-python", "python3 main.py"),
        ("web", "generic-node", "node main.js"),
        ("ledger", "generic-java", "java Main.java"),
    ] {
        run_ok(&ctx, &["init", name, "--runtime", runtime], 0);
        let result = run_in_container(&ctx, &podman, &[], &[name]);
        assert_eq!(result.code, 0, "{}", result.transcript());
        let (program, args) = program.split_once(' ').unwrap();
        let started = format!("--entrypoint {program} {} {args}", podman.image);
        assert!(
            result.stderr.contains("podman run") && result.stderr.contains(&started),
            "{name} did not run in the image: {}",
            result.transcript()
        );
        assert!(
            result.stdout.contains("wrote 5 rows"),
            "{}",
            result.transcript()
        );
        // Python's csv module ends lines with CRLF, the others with LF.
        let written = ctx.read(format!("{name}/data/output/customers-clean.csv"));
        outputs.push(written.lines().map(str::to_owned).collect::<Vec<_>>());
    }
    assert_eq!(outputs[0].len(), 6, "{:?}", outputs[0]);
    assert_eq!(
        outputs[0], outputs[1],
        "Node.js wrote other records than Python"
    );
    assert_eq!(
        outputs[0], outputs[2],
        "Java wrote other records than Python"
    );
}

/// The pipeline: it connects with the DSN of the contract (through [`PG_WIRE`], beside it),
/// checks DK_CONTEXT and DK_RUN_ID, and writes rows.
const COUNTS: &str = r#"import json, os
from urllib.parse import urlparse, unquote
import pgwire

dsn = urlparse(os.environ["DK_STORE_DSN_WAREHOUSE"])
assert os.environ["DK_STORE_TYPE_WAREHOUSE"] == "postgres"
with open(os.environ["DK_CONTEXT"], encoding="utf-8") as handle:
    context = json.load(handle)
print("PROBE " + json.dumps({
    "runId": os.environ["DK_RUN_ID"],
    "contextRunId": context["runId"],
    "inputs": [d["name"] for d in context["inputs"]],
    "outputs": [d["name"] for d in context["outputs"]],
    "secretExpanded": unquote(dsn.password or "") == os.environ["EXPECTED_PASSWORD"],
}), flush=True)

conn = pgwire.connect(dsn)
pgwire.execute(conn, "CREATE TABLE IF NOT EXISTS public.countries (country text, customers bigint);"
    "TRUNCATE public.countries;"
    "INSERT INTO public.countries SELECT country, count(*) FROM public.customers GROUP BY country")
print("counted")
"#;

/// The contract inside the container: the DSN with its secret expanded reaches the real
/// PostgreSQL over the host network, DK_CONTEXT is readable, DK_RUN_ID is the run's id, and the
/// secret never shows in dk's output.
#[test]
fn a_python_container_gets_the_contract_and_writes_postgres_through_its_dsn() {
    let (Some(podman), Some(url)) = (podman(), service("DK_TEST_POSTGRES_URL", "PostgreSQL"))
    else {
        return;
    };
    let ctx = containers_context(&podman);
    let (database, store) = fresh_database(&url, "dk_containers_python");
    run_ok(&ctx, &["init", "counts", "--runtime", "generic-python"], 0);
    counts_on_postgres(&ctx, "counts", &store);
    ctx.write("counts/main.py", COUNTS);
    ctx.write("counts/pgwire.py", PG_WIRE);
    let run_id = "01900000-0000-7000-8000-00000000c0de";
    let secret = "container-secret-s3cr3t";
    let result = run_in_container(
        &ctx,
        &podman,
        &[("PGPASSWORD", secret), ("DK_RUN_ID", run_id)],
        &["counts", "--env", &format!("EXPECTED_PASSWORD={secret}")],
    );
    assert_eq!(result.code, 0, "{}", result.transcript());
    assert!(result.stdout.contains("counted"), "{}", result.transcript());
    let probe = result
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("PROBE "))
        .unwrap_or_else(|| panic!("no probe line: {}", result.transcript()));
    let probe: serde_json::Value = serde_json::from_str(probe).expect("probe JSON");
    assert_eq!(probe["runId"], run_id);
    assert_eq!(probe["contextRunId"], run_id);
    assert_eq!(probe["inputs"], serde_json::json!(["customers"]));
    assert_eq!(probe["outputs"], serde_json::json!(["countries"]));
    assert_eq!(probe["secretExpanded"], true, "{probe}");
    let rows = database
        .connect(postgres::NoTls)
        .expect("connect to the test database")
        .query(
            "SELECT country, customers FROM public.countries ORDER BY country",
            &[],
        )
        .expect("read the pipeline's rows");
    let rows: Vec<(String, i64)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    assert_eq!(
        rows,
        [("AT".into(), 1), ("GB".into(), 1), ("US".into(), 1)],
        "{}",
        result.transcript()
    );
    assert!(
        !result.transcript().contains(secret),
        "{}",
        result.transcript()
    );
    assert!(!container_left(&podman, run_id));
}

/// A Java package's own exit code is dk's, not the engine's.
#[test]
fn a_java_containers_exit_code_passes_through() {
    let Some(podman) = podman() else {
        return;
    };
    let ctx = containers_context(&podman);
    run_ok(&ctx, &["init", "ledger", "--runtime", "generic-java"], 0);
    ctx.write(
        "ledger/Main.java",
        "public class Main {\n    public static void main(String[] args) {\n        \
         System.out.println(\"failing on purpose\");\n        System.exit(7);\n    }\n}\n",
    );
    let result = run_in_container(&ctx, &podman, &[], &["ledger"]);
    assert_eq!(result.code, 7, "{}", result.transcript());
    assert!(
        result.stdout.contains("the pipeline exited with code 7"),
        "{}",
        result.transcript()
    );
}

/// `--timeout` stops the container (exit 124) and leaves no container behind.
#[test]
fn a_container_past_its_timeout_is_stopped_and_removed() {
    let Some(podman) = podman() else {
        return;
    };
    let ctx = containers_context(&podman);
    run_ok(&ctx, &["init", "slow", "--runtime", "generic-python"], 0);
    make_generic(
        &ctx,
        "slow",
        &podman.image,
        "[python3, -c, \"import time; time.sleep(120)\"]",
    );
    let run_id = "01900000-0000-7000-8000-0000000071e0";
    let result = run_in_container(
        &ctx,
        &podman,
        &[("DK_RUN_ID", run_id)],
        &["slow", "--timeout", "2s"],
    );
    assert_eq!(result.code, 124, "{}", result.transcript());
    assert!(result.stdout.contains("timeout"), "{}", result.transcript());
    assert!(!container_left(&podman, run_id));
}

/// SIGTERM to dk reaches the Node.js program inside the container, which stops cleanly; dk
/// exits with 143 and the container is gone.
#[test]
fn sigterm_reaches_a_node_program_in_its_container() {
    let Some(podman) = podman() else {
        return;
    };
    let ctx = containers_context(&podman);
    run_ok(&ctx, &["init", "stream", "--runtime", "generic-node"], 0);
    ctx.write(
        "stream/main.js",
        "const fs = require('fs');\n\
         fs.writeFileSync(process.env.READY, 'up');\n\
         process.on('SIGTERM', () => { fs.writeFileSync(process.env.READY, 'stopped cleanly'); process.exit(0); });\n\
         setInterval(() => {}, 1000);\n",
    );
    let ready = ctx.work().join("stream").join("ready");
    let run_id = "01900000-0000-7000-8000-00000000516e";
    let child = ctx
        .dk_process()
        .env("CONTAINERS_CONF", &podman.conf)
        .env("DK_RUN_ID", run_id)
        .args(["run", "stream", "--executor", "docker", "--env"])
        .arg(format!("READY={}", ready.display()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start dk");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "the pipeline never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("a pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("send SIGTERM");
    let output = child.wait_with_output().expect("wait for dk");
    let transcript = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(143), "{transcript}");
    assert_eq!(std::fs::read_to_string(&ready).unwrap(), "stopped cleanly");
    assert!(!container_left(&podman, run_id));
}

/// An image that is neither present nor pullable is reported as such (exit 3, with the fix),
/// never as the engine's exit code 125; nothing is recorded as run.
#[test]
fn a_missing_image_is_named_with_the_fix() {
    let Some(podman) = podman() else {
        return;
    };
    let ctx = containers_context(&podman);
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-node"], 0);
    let result = run_in_container(
        &ctx,
        &podman,
        &[],
        &["demo", "--set", "spec.image=127.0.0.1:9/dk-test/missing:0"],
    );
    assert_eq!(result.code, 3, "{}", result.transcript());
    assert!(
        result
            .stderr
            .contains("image 127.0.0.1:9/dk-test/missing:0 is not present and could not be pulled"),
        "{}",
        result.transcript()
    );
    assert!(result.stderr.contains("hint: "), "{}", result.transcript());
    assert!(
        !result.transcript().contains("code 125"),
        "{}",
        result.transcript()
    );
    // A run refused before its pipeline started is recorded as START and FAIL, never COMPLETE.
    let listed = run_ok(&ctx, &["lineage", "events", "-o", "json"], 0).json();
    let types: Vec<&str> = listed["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|entry| entry["eventType"].as_str())
        .collect();
    assert!(!types.contains(&"COMPLETE"), "nothing ran: {types:?}");
}

/// `dk run --executor docker` of a scaffolded package with `run.engine` set to `engine`, a fake
/// that runs the shell `script`.
fn run_on_fake_engine(engine: &str, script: &str) -> Run {
    let ctx = context();
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    run_ok(&ctx, &["config", "set", "run.engine", engine], 0);
    let path = fake_program(&ctx, engine, script);
    run_with(
        &ctx,
        &[("PATH", path.as_str())],
        &["run", "demo", "--executor", "docker"],
    )
}

/// No daemon: a `docker` whose engine does not answer is reported as such with the fix (no
/// container engine is needed for this one).
#[test]
fn a_docker_engine_without_its_daemon_is_named_with_the_fix() {
    let result = run_on_fake_engine(
        "docker",
        "echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?' >&2\nexit 1\n",
    );
    assert_eq!(result.code, 3, "{}", result.transcript());
    assert!(
        result.stderr.contains(
            "error: the docker engine does not answer: Cannot connect to the Docker daemon"
        ),
        "{}",
        result.transcript()
    );
    assert!(
        result.stderr.contains("hint: start the Docker daemon"),
        "{}",
        result.transcript()
    );
    assert!(
        !result.transcript().contains("code 125"),
        "{}",
        result.transcript()
    );
}

/// The portable binary (`make build-static`), or `None` (skipped).
fn static_dk() -> Option<String> {
    service(
        "DK_TEST_STATIC_DK",
        "the portable dk binary (make build-static)",
    )
}

fn podman_command(podman: &Podman) -> std::process::Command {
    let mut command = std::process::Command::new("podman");
    command.env("CONTAINERS_CONF", &podman.conf);
    command
}

/// An HTTPS server on loopback that answers every POST with 201 and appends its body to a file.
const TLS_SERVER: &str = r#"import http.server, ssl, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with open(sys.argv[3], "ab") as received:
            received.write(body + b"\n")
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// A throwaway CA and a server certificate it signs for `name`, in `dir`: (ca.pem, cert, key).
fn certificates(
    dir: &std::path::Path,
    name: &str,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let path = |file: &str| dir.join(file);
    std::fs::write(path("san.ext"), format!("subjectAltName=DNS:{name}\n")).unwrap();
    let openssl = |args: &[&str]| {
        succeed(
            std::process::Command::new("openssl")
                .current_dir(dir)
                .args(args),
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=dk-test-ca",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        &format!("/CN={name}"),
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    (path("ca.pem"), path("server.pem"), path("server.key"))
}

/// Static glibc from an image that holds nothing but the binary and a CA bundle (no libc, no NSS
/// modules, no nsswitch.conf): dk resolves a name from /etc/hosts and delivers its lineage over
/// TLS, verified against that CA, to a loopback HTTPS server.
#[test]
fn the_portable_binary_resolves_names_and_talks_tls_from_an_empty_image() {
    let (Some(podman), Some(dk)) = (podman(), static_dk()) else {
        return;
    };
    let ctx = context();
    let name = "dk-tls.test";
    let certs = ctx.root().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let (ca, cert, key) = certificates(&certs, name);
    let received = ctx.root().join("received");
    let mut server = std::process::Command::new("python3")
        .args(["-c", TLS_SERVER])
        .args([&cert, &key, &received])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the TLS server");
    let mut port = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap()),
        &mut port,
    )
    .expect("the server's port");
    let port = port.trim().to_owned();

    let rootfs = ctx.root().join("rootfs");
    for dir in ["usr/local/bin", "etc/ssl/certs", "tmp"] {
        std::fs::create_dir_all(rootfs.join(dir)).unwrap();
    }
    std::fs::copy(&dk, rootfs.join("usr/local/bin/dk")).unwrap();
    std::fs::copy(&ca, rootfs.join("etc/ssl/certs/ca-certificates.crt")).unwrap();
    let image = "localhost/dk-test/static-probe:latest";
    let tar = ctx.root().join("rootfs.tar");
    succeed(
        std::process::Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    );
    succeed(podman_command(&podman).arg("import").arg(&tar).arg(image));

    run_ok(&ctx, &["init", "probe", "--runtime", "generic-python"], 0);
    make_generic(&ctx, "probe", image, "[/usr/local/bin/dk, version]");
    let work = ctx.work().display().to_string();
    // Delivered before dk exits: in line, a loaded machine can pass the budget and leave the
    // events to the background deliverer, which the container does not outlive.
    let dk_home = format!("{work}/.dk-home");
    std::fs::create_dir_all(&dk_home).expect("create DK_HOME");
    std::fs::write(
        format!("{dk_home}/config.yaml"),
        "lineage:\n  delivery: sync\n",
    )
    .expect("write the configuration");
    let output = podman_command(&podman)
        .args(["run", "--rm", "--network", "host", "--add-host"])
        .arg(format!("{name}:127.0.0.1"))
        .args(["-e", "HOME=/tmp", "-e"])
        .arg(format!("DK_HOME={dk_home}"))
        .arg("-v")
        .arg(format!("{work}:{work}"))
        .args([
            "-w",
            &work,
            image,
            "/usr/local/bin/dk",
            "run",
            "probe",
            "-o",
            "json",
            "--lineage-endpoint",
        ])
        .arg(format!("https://{name}:{port}"))
        .output()
        .expect("run podman");
    let _ = server.kill();
    let _ = server.wait();
    let _ = podman_command(&podman)
        .args(["rmi", "--force", image])
        .output();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let transcript = format!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{transcript}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("a JSON report");
    let lineage = &report["runs"][0]["lineage"];
    assert_eq!(lineage["delivered"], 2, "{transcript}");
    assert!(lineage["warnings"].is_null(), "{transcript}");
    let received = std::fs::read_to_string(&received).unwrap_or_default();
    assert!(received.contains("\"START\""), "{received}");
    assert!(received.contains("\"COMPLETE\""), "{received}");
}

/// `make image`'s Containerfile on a local base: the binary runs, as a non-root user.
#[test]
fn the_dk_image_builds_on_a_local_base_and_runs_as_a_non_root_user() {
    let (Some(podman), Some(dk)) = (podman(), static_dk()) else {
        return;
    };
    let ctx = context();
    let build = ctx.root().join("build");
    std::fs::create_dir_all(build.join("bin")).unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::copy(repo.join("Containerfile"), build.join("Containerfile")).unwrap();
    std::fs::copy(&dk, build.join("bin/dk-static")).unwrap();
    let image = "localhost/dk-test/dk-image:latest";
    succeed(
        podman_command(&podman)
            .current_dir(&build)
            .args(["build", "--quiet", "--build-arg"])
            .arg(format!("BASE={}", podman.image))
            .args(["-t", image, "."]),
    );
    let version = succeed(podman_command(&podman).args(["run", "--rm", image, "version"]));
    let user = succeed(podman_command(&podman).args([
        "run",
        "--rm",
        "--entrypoint",
        "/usr/bin/id",
        image,
        "-u",
    ]));
    let _ = podman_command(&podman)
        .args(["rmi", "--force", image])
        .output();
    assert!(version.contains(env!("CARGO_PKG_VERSION")), "{version}");
    assert_eq!(user.trim(), "10001");
}

/// An engine that fails after the checks (its exit code 125) is reported as the engine's failure
/// with exit 3, not as the pipeline's exit code (no container engine is needed for this one).
#[test]
fn an_engine_failure_at_the_start_is_not_reported_as_the_pipelines_exit_code() {
    // `image inspect` and `info` succeed; `run` fails as an engine does, with 125.
    let result = run_on_fake_engine(
        "podman",
        "[ \"$1\" = run ] || exit 0\necho 'Error: OCI runtime error: runc: creating container' >&2\nexit 125\n",
    );
    assert_eq!(result.code, 3, "{}", result.transcript());
    assert!(
        result
            .stdout
            .contains("the container engine could not run the container (its exit code 125)"),
        "{}",
        result.transcript()
    );
    assert!(
        !result
            .transcript()
            .contains("the pipeline exited with code 125"),
        "{}",
        result.transcript()
    );
}
