//! Shared helpers of the end-to-end tests.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use dk_test::TestContext;

pub fn context() -> TestContext {
    TestContext::new(env!("CARGO_BIN_EXE_dk"))
}

/// Snapshots `text` with this test's temporary paths replaced by `[TMP]`.
pub fn snapshot(ctx: &TestContext, name: &str, text: &str) {
    settings(ctx).bind(|| insta::assert_snapshot!(name, text));
}

/// Snapshots a JSON value with this test's temporary paths replaced by `[TMP]`.
pub fn snapshot_json(ctx: &TestContext, name: &str, value: &serde_json::Value) {
    settings(ctx).bind(|| insta::assert_json_snapshot!(name, value));
}

/// Snapshots live in `tests/snapshots/`, next to the tests rather than this helper.
fn settings(ctx: &TestContext) -> insta::Settings {
    let mut settings = ctx.snapshot_settings();
    settings.set_snapshot_path("../snapshots");
    settings
}

/// What a command printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// How a process ended, its output read leniently (hostile input may not be UTF-8).
    pub fn from_output(output: std::process::Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// stdout, then stderr under a marker, then the exit code: one text to snapshot.
    pub fn transcript(&self) -> String {
        let mut text = self.stdout.clone();
        if !self.stderr.is_empty() {
            text.push_str("--- stderr ---\n");
            text.push_str(&self.stderr);
        }
        text.push_str(&format!("--- exit {} ---\n", self.code));
        text
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("stdout is not JSON ({err}):\n{}", self.stdout))
    }
}

pub fn run(ctx: &TestContext, args: &[&str]) -> Run {
    run_with(ctx, &[], args)
}

/// Runs with extra environment variables.
pub fn run_with(ctx: &TestContext, env: &[(&str, &str)], args: &[&str]) -> Run {
    let output = ctx
        .dk()
        .envs(env.iter().copied())
        .args(args)
        .output()
        .expect("run dk");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("utf-8 stderr"),
    }
}

/// Runs and asserts the exit code, with the transcript in the failure message.
pub fn run_ok(ctx: &TestContext, args: &[&str], code: i32) -> Run {
    run_ok_with(ctx, &[], args, code)
}

/// `run_ok` with extra environment variables.
pub fn run_ok_with(ctx: &TestContext, env: &[(&str, &str)], args: &[&str], code: i32) -> Run {
    let result = run_with(ctx, env, args);
    assert_eq!(
        result.code,
        code,
        "dk {}\n{}",
        args.join(" "),
        result.transcript()
    );
    result
}

/// The paths `dk build PACKAGE --dry-run` would bundle.
pub fn bundled(ctx: &TestContext, package: &str) -> Vec<String> {
    let built = run_ok(
        ctx,
        &[
            "build",
            package,
            "--tag",
            "v0.1.0",
            "--dry-run",
            "-o",
            "json",
        ],
        0,
    )
    .json();
    built["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e.as_str().expect("a path").to_owned())
        .collect()
}

/// The FAQ's DataSet, with a classification to choose.
pub fn customer_data(classification: &str) -> String {
    format!(
        "apiVersion: datakit.infoblox.dev/v1alpha1
kind: DataSet
metadata:
  name: customer-data
spec:
  store: warehouse
  table: public.customers
  classification: {classification}
  retention:
    days: 365
  schema:
    - name: email
      type: string
      pii: true
    - name: name
      type: string
      pii: true
"
    )
}

pub const WAREHOUSE: &str = "apiVersion: datakit.infoblox.dev/v1alpha1
kind: Store
metadata:
  name: warehouse
spec:
  connector: postgres
  connection:
    host: localhost
    database: shop
  secrets:
    password: ${PGPASSWORD}
";

/// Points the output of `dk init`'s package `name` at a table of a remote PostgreSQL store
/// `warehouse` whose password is `${WAREHOUSE_PASSWORD}`: a run's context then holds a DSN.
pub fn remote_postgres_output(ctx: &TestContext, name: &str) {
    ctx.write(
        format!("{name}/store/warehouse.yaml"),
        WAREHOUSE
            .replace("localhost", "db.example.com")
            .replace("database: shop\n", "database: shop\n    user: etl\n")
            .replace("PGPASSWORD", "WAREHOUSE_PASSWORD"),
    );
    let dataset = format!("{name}/dataset/{name}-clean.yaml");
    let raw = ctx.read(&dataset);
    ctx.write(
        &dataset,
        raw.replace("store: local-files", "store: warehouse")
            .replace(
                "path: output/customers-clean.csv",
                "table: public.customers_clean",
            )
            .replace("  format: csv\n", ""),
    );
}

/// A package `pkg` whose Transform writes the FAQ's `customer-data`.
pub fn faq_package(ctx: &TestContext, classification: &str) {
    ctx.write(
        "pkg/dk.yaml",
        "apiVersion: datakit.infoblox.dev/v1alpha1
kind: Transform
metadata:
  name: customers
spec:
  runtime: generic-python
  owner: data-team
  inputs:
    - dataset: customer-data
  outputs:
    - dataset: customer-data
",
    );
    ctx.write(
        "pkg/dataset/customer-data.yaml",
        customer_data(classification),
    );
    ctx.write("pkg/store/warehouse.yaml", WAREHOUSE);
}

/// A plain HTTP GET on loopback (the tests have no HTTP client of their own).
pub fn http_get(url: &str) -> String {
    http_request(url, "GET", &[], "")
}

/// An HTTP request on loopback with these headers (a `Host` among them replaces the URL's) and
/// body; the whole answer.
pub fn http_request(url: &str, method: &str, headers: &[(&str, &str)], body: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        head.push_str(&format!("Host: {host}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    write!(stream, "{head}Connection: close\r\n\r\n{body}").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// Starts dk with `command`, waits until its pipeline has written `ready`, sends dk `signal` and
/// returns how dk ended.
pub fn signal_when_ready(
    mut command: std::process::Command,
    ready: &std::path::Path,
    signal: rustix::process::Signal,
) -> std::process::Output {
    use std::time::{Duration, Instant};
    let child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start dk");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "the pipeline never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("a pid");
    rustix::process::kill_process(pid, signal).expect("signal dk");
    child.wait_with_output().expect("wait for dk")
}

/// Makes `dir` a git repository on branch `main` with `remote` as its origin and everything in
/// it committed.
pub fn git_repository(dir: &std::path::Path, remote: &str) {
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .args(["-c", "user.name=dk", "-c", "user.email=dk@example.com"])
            .args(args)
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run git");
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["remote", "add", "origin", remote]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "init"]);
}

/// `dk lineage serve` on a free port with extra arguments and environment, and its base URL.
pub fn lineage_server(
    ctx: &TestContext,
    env: &[(&str, &str)],
    extra: &[&str],
) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut server = ctx
        .dk_process()
        .envs(env.iter().copied())
        .args(["lineage", "serve", "--port", "0"])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the server");
    let mut first = String::new();
    // Read the address, then close the pipe: the server must keep serving.
    std::io::BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let endpoint = first
        .split_whitespace()
        .find(|word| word.ends_with("/api/v1/lineage"))
        .unwrap_or_else(|| panic!("no endpoint in {first:?}"))
        .to_owned();
    (
        server,
        endpoint.trim_end_matches("/api/v1/lineage").to_owned(),
    )
}

/// Stops a server with SIGTERM, as Ctrl-C or a service manager would; how it ended.
pub fn stop_server(mut server: std::process::Child) -> std::process::ExitStatus {
    let pid = rustix::process::Pid::from_raw(server.id() as i32).expect("a pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("stop the server");
    server.wait().expect("wait for the server")
}

/// A fresh database on the test server, so tests do not share tables.
pub fn fresh_database(url: &str, name: &str) -> (postgres::Config, String) {
    let mut client =
        postgres::Client::connect(url, postgres::NoTls).expect("connect to PostgreSQL");
    for statement in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        client
            .batch_execute(&statement)
            .expect("create a test database");
    }
    let config: postgres::Config = url.parse().expect("a PostgreSQL URL");
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let store = format!(
        "apiVersion: datakit.infoblox.dev/v1alpha1
kind: Store
metadata:
  name: warehouse
spec:
  connector: postgres
  connection:
    host: 127.0.0.1
    port: {port}
    database: {name}
    user: postgres
  secrets:
    password: ${{PGPASSWORD}}
"
    );
    let mut database = config.clone();
    database.dbname(name);
    (database, store)
}

pub const SEEDED_CUSTOMERS: &str = "apiVersion: datakit.infoblox.dev/v1alpha1
kind: DataSet
metadata:
  name: customers
spec:
  store: warehouse
  table: public.customers
  classification: confidential
  retention:
    days: 30
  schema:
    - name: id
      type: integer
    - name: email
      type: string
      pii: true
    - name: country
      type: string
  dev:
    seed:
      inline:
        - {id: 1, email: ada@example.com, country: GB}
        - {id: 2, email: grace@example.com, country: US}
        - {id: 3, email: hedy@example.com, country: AT}
";

pub const CUSTOMER_COUNTRIES: &str = "apiVersion: datakit.infoblox.dev/v1alpha1
kind: DataSet
metadata:
  name: countries
spec:
  store: warehouse
  table: public.countries
  classification: confidential
  retention:
    days: 30
  schema:
    - name: country
      type: string
      from: customers.country
    - name: customers
      type: integer
";

/// Turns the scaffolded package `dir` into one that counts `customers` per country into
/// `countries`, both tables behind `store` (from [`fresh_database`]).
pub fn counts_on_postgres(ctx: &TestContext, dir: &str, store: &str) {
    for file in [
        format!("dataset/{dir}-raw.yaml"),
        format!("dataset/{dir}-clean.yaml"),
        "store/local-files.yaml".into(),
    ] {
        std::fs::remove_file(ctx.work().join(dir).join(file)).unwrap();
    }
    ctx.write(format!("{dir}/store/warehouse.yaml"), store);
    ctx.write(format!("{dir}/dataset/customers.yaml"), SEEDED_CUSTOMERS);
    ctx.write(format!("{dir}/dataset/countries.yaml"), CUSTOMER_COUNTRIES);
    let raw = ctx.read(format!("{dir}/dk.yaml"));
    ctx.write(
        format!("{dir}/dk.yaml"),
        raw.replace(&format!("dataset: {dir}-raw"), "dataset: customers")
            .replace(&format!("dataset: {dir}-clean"), "dataset: countries"),
    );
}

/// Puts an executable `name` running the shell `script` first on a PATH, which it returns (a fake
/// container engine, for the cases no real one can show).
pub fn fake_program(ctx: &TestContext, name: &str, script: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let bin = ctx.root().join("bin");
    std::fs::create_dir_all(&bin).expect("create the fake's directory");
    let program = bin.join(name);
    std::fs::write(&program, format!("#!/bin/sh\n{script}")).expect("write the fake");
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755))
        .expect("make the fake executable");
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Renders the chart with a promotion's values plus `extra` in `env`/`cell`, validates every
/// document strictly against Kubernetes 1.33 (an unknown kind fails) and returns the documents,
/// or what Helm or the validation said.
pub fn try_render_chart(
    tools: &str,
    chart: &std::path::Path,
    values: &std::path::Path,
    env: &str,
    cell: &str,
    extra: serde_json::Value,
) -> Result<Vec<serde_json::Value>, String> {
    let script = "
import json, re, sys, yaml, helm_python, kubernetes_validate
values = yaml.safe_load(open(sys.argv[2]))
values.update(json.loads(sys.argv[3]))
with helm_python.Chart.load(sys.argv[1]) as chart:
    rendered = chart.render(values=values, name=sys.argv[4], namespace=sys.argv[5], is_install=True)
docs = [d for text in rendered.values() for d in yaml.safe_load_all(text) if d]
for doc in docs:
    kubernetes_validate.validate(doc, '1.33.0', strict=True)
    assert re.fullmatch(r'[a-z0-9]([-a-z0-9]*[a-z0-9])?', doc['metadata']['name']), doc['metadata']
    for key, value in doc['metadata'].get('labels', {}).items():
        assert isinstance(value, str) and len(value) <= 63, (key, value)
print(json.dumps(docs))
";
    let mut values_json = extra;
    values_json["env"] = env.into();
    values_json["cell"] = cell.into();
    let output = std::process::Command::new(format!("{tools}/python"))
        .args(["-c", script])
        .arg(chart)
        .arg(values)
        .arg(values_json.to_string())
        .arg(format!("{env}-{cell}-shop"))
        .arg(format!("dk-{env}-{cell}"))
        .output()
        .unwrap();
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&output.stdout).unwrap())
}

pub fn render_chart(
    tools: &str,
    chart: &std::path::Path,
    values: &std::path::Path,
    env: &str,
    cell: &str,
    extra: serde_json::Value,
) -> Vec<serde_json::Value> {
    try_render_chart(tools, chart, values, env, cell, extra).unwrap_or_else(|err| panic!("{err}"))
}

/// The pod spec of a Job, CronJob or Deployment.
pub fn pod_spec(doc: &serde_json::Value) -> &serde_json::Value {
    match doc["kind"].as_str().unwrap() {
        "CronJob" => &doc["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        _ => &doc["spec"]["template"]["spec"],
    }
}

/// A Python module `pgwire` that speaks PostgreSQL's simple query protocol with the standard
/// library only (the test images have no driver): `connect(urlparse(dsn))`, `execute(conn, sql)`.
pub const PG_WIRE: &str = r#"import socket, struct, sys
from urllib.parse import unquote

def _receive(conn, size):
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            sys.exit("postgres closed the connection")
        data += chunk
    return data

def _until_ready(conn):
    while True:
        kind = _receive(conn, 1)
        body = _receive(conn, struct.unpack("!I", _receive(conn, 4))[0] - 4)
        if kind == b"E":
            sys.exit("postgres: " + body.decode(errors="replace"))
        if kind == b"Z":
            return

def connect(dsn):
    conn = socket.create_connection((dsn.hostname, dsn.port))
    params = b"user\0" + unquote(dsn.username).encode() + b"\0database\0" + dsn.path[1:].encode() + b"\0\0"
    conn.sendall(struct.pack("!II", len(params) + 8, 196608) + params)
    _until_ready(conn)
    return conn

def execute(conn, sql):
    conn.sendall(b"Q" + struct.pack("!I", len(sql.encode()) + 5) + sql.encode() + b"\0")
    _until_ready(conn)
"#;

/// Runs a program and returns its stdout, or panics with what it said.
pub fn succeed(command: &mut std::process::Command) -> String {
    let output = command.output().expect("start a program");
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Writes a valid pure-python wheel of `dkdemo` 1.0, whose module has `VALUE = value`, into
/// `dir`; returns its path.
pub fn write_wheel(dir: &std::path::Path, value: u32) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let script = r#"
import base64, hashlib, sys, zipfile
def record(data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "sha256=" + digest
files = {
    "dkdemo/__init__.py": ("VALUE = %s\n" % sys.argv[2]).encode(),
    "dkdemo-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: dkdemo\nVersion: 1.0\n",
    "dkdemo-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: dk-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
rows = "".join("%s,%s,%d\n" % (name, record(data), len(data)) for name, data in files.items())
with zipfile.ZipFile(sys.argv[1], "w") as wheel:
    for name, data in files.items():
        wheel.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data)
    wheel.writestr(zipfile.ZipInfo("dkdemo-1.0.dist-info/RECORD", (2020, 1, 1, 0, 0, 0)),
                   rows + "dkdemo-1.0.dist-info/RECORD,,\n")
"#;
    let path = dir.join("dkdemo-1.0-py3-none-any.whl");
    let status = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .arg(value.to_string())
        .status()
        .expect("run python3");
    assert!(status.success(), "writing the test wheel failed");
    path
}

/// `dk datasetgroup create` of the group `sources` holding the scaffold's `demo-raw`, in `demo`.
pub const CREATE_GROUP: &[&str] = &[
    "datasetgroup",
    "create",
    "sources",
    "--store",
    "local-files",
    "--dataset",
    "demo-raw",
    "--dir",
    "demo",
];
