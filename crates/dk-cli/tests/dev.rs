//! `dk dev up|status|down` with the native runtime and real programs (PostgreSQL, tansu, dk's own
//! S3 and `dk lineage serve`) on free loopback ports: a pipeline reads PostgreSQL and writes to
//! S3 and Kafka, its lineage reaches the stack's server, the dbt scaffold's warehouse lands in
//! the stack's PostgreSQL, data survives `down`, and `down --volumes` removes it. The compose and
//! k3d runtimes are checked through fake `docker`/`k3d`/`helm`/`kubectl` programs.

mod common;

use common::{context, http_get, run_ok, run_with};
use dk_test::{TestContext, service};
use serde_json::Value;

/// Free loopback ports (bound and released; the stack binds them right after).
fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// Runs Python from the test tools (boto3, confluent-kafka) and returns its stdout.
fn python(tools: &str, code: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(format!("{tools}/python"))
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

const COUNT_ROWS: &str = "
import sys, psycopg
with psycopg.connect(sys.argv[1]) as connection:
    print(connection.execute(f'SELECT count(*) FROM {sys.argv[2]}').fetchone()[0])
";

const READ_EVENTS: &str = "
import sys, time, confluent_kafka
c = confluent_kafka.Consumer({'bootstrap.servers': sys.argv[1], 'group.id': 'dk-test', 'enable.auto.commit': False})
c.assign([confluent_kafka.TopicPartition('events', 0, confluent_kafka.OFFSET_BEGINNING)])
got, end = [], time.time() + 20
while time.time() < end and len(got) < int(sys.argv[2]):
    m = c.poll(0.5)
    if m is not None and not m.error():
        got.append(m.value().decode())
c.close()
print(len(got))
";

const READ_OBJECT: &str = "
import sys, boto3
s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='minioadmin', aws_secret_access_key='minioadmin')
print(s3.get_object(Bucket='lake', Key='orders/orders.json')['Body'].read().decode())
";

const PIPELINE: &str = "
import json, os, urllib.parse
import boto3, confluent_kafka, psycopg
rows = psycopg.connect(os.environ['DK_STORE_DSN_WAREHOUSE']).execute('select id, amount::float from public.orders order by id').fetchall()
lake = urllib.parse.urlparse(os.environ['DK_STORE_DSN_LAKE'])
query = urllib.parse.parse_qs(lake.query)
s3 = boto3.client('s3', endpoint_url=query['endpoint'][0], region_name=query['region'][0],
                  aws_access_key_id=urllib.parse.unquote(lake.username), aws_secret_access_key=urllib.parse.unquote(lake.password))
s3.put_object(Bucket=lake.hostname, Key='orders/orders.json', Body=json.dumps(rows).encode())
producer = confluent_kafka.Producer({'bootstrap.servers': os.environ['DK_STORE_DSN_EVENTS'].removeprefix('kafka://')})
for row in rows:
    producer.produce('events', json.dumps(row).encode())
assert producer.flush(10) == 0
print('moved', len(rows))
";

fn manifest(kind: &str, name: &str, spec: &str) -> String {
    format!(
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

/// A package moving seeded orders from the stack's PostgreSQL to its S3 and Kafka.
fn flow_package(ctx: &TestContext, postgres: u16, s3: u16, kafka: u16) {
    ctx.write(
        "flow/dk.yaml",
        manifest(
            "Transform",
            "flow",
            "  runtime: generic-python\n  owner: data-team\n  inputs: [{dataset: orders}]\n  outputs: [{dataset: order-files}, {dataset: order-events}]\n",
        ),
    );
    ctx.write("flow/main.py", PIPELINE);
    ctx.write(
        "flow/store/warehouse.yaml",
        manifest("Store", "warehouse", &format!("  connector: postgres\n  connection:\n    host: 127.0.0.1\n    port: {postgres}\n    database: datakit\n    user: dkuser\n  secrets:\n    password: ${{PGPASSWORD}}\n")),
    );
    ctx.write(
        "flow/store/lake.yaml",
        manifest("Store", "lake", &format!("  connector: s3\n  connection:\n    bucket: lake\n    endpoint: http://127.0.0.1:{s3}\n    region: us-east-1\n  secrets:\n    access_key_id: ${{S3_ACCESS_KEY}}\n    secret_access_key: ${{S3_SECRET_KEY}}\n")),
    );
    ctx.write(
        "flow/store/events.yaml",
        manifest(
            "Store",
            "events",
            &format!(
                "  connector: kafka\n  connection:\n    bootstrap-servers: 127.0.0.1:{kafka}\n"
            ),
        ),
    );
    let schema = "  classification: internal\n  schema:\n    - name: id\n      type: integer\n    - name: amount\n      type: decimal\n";
    ctx.write(
        "flow/dataset/orders.yaml",
        manifest("DataSet", "orders", &format!("  store: warehouse\n  table: public.orders\n{schema}  dev:\n    seed:\n      inline:\n        - {{id: 1, amount: 9.5}}\n        - {{id: 2, amount: 20}}\n")),
    );
    ctx.write(
        "flow/dataset/order-files.yaml",
        manifest(
            "DataSet",
            "order-files",
            &format!("  store: lake\n  prefix: orders/\n  format: json\n{schema}"),
        ),
    );
    ctx.write(
        "flow/dataset/order-events.yaml",
        manifest(
            "DataSet",
            "order-events",
            &format!("  store: events\n  topic: events\n{schema}"),
        ),
    );
}

/// `dev.services.<key>` ports in the user config of the test's dk home.
fn set_ports(ctx: &TestContext, ports: &[(&str, u16)]) {
    for (key, port) in ports {
        let key = format!("dev.services.{key}");
        run_ok(ctx, &["config", "set", &key, &port.to_string()], 0);
    }
}

fn healths(report: &Value) -> Vec<(String, String)> {
    report["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["service"].as_str().unwrap().to_owned(),
                s["health"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_native_stack_runs_a_pipeline_keeps_its_data_and_removes_it_on_request() {
    let (Some(stack_bin), Some(tools)) = (
        service("DK_TEST_STACK_BIN", "dev stack program (tansu)"),
        service(
            "DK_TEST_TOOLS_BIN",
            "pipeline tools (boto3, confluent-kafka)",
        ),
    ) else {
        return;
    };
    let ctx = context();
    let ports = free_ports(6);
    let (postgres, s3, s3_web, kafka, lineage, lineage_web) =
        (ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]);
    set_ports(
        &ctx,
        &[
            ("postgres.port", postgres),
            ("s3.port", s3),
            ("s3.webPort", s3_web),
            ("kafka.port", kafka),
            ("lineage.port", lineage),
            ("lineage.webPort", lineage_web),
        ],
    );
    let path = format!(
        "{stack_bin}:{tools}:{}",
        std::env::var("PATH").unwrap_or_default()
    );
    let env = [
        ("PATH", path.as_str()),
        ("PGPASSWORD", "dkpassword"),
        ("S3_ACCESS_KEY", "minioadmin"),
        ("S3_SECRET_KEY", "minioadmin"),
    ];
    let stop = || run_with(&ctx, &env, &["dev", "down", "--volumes"]);

    let up = run_with(
        &ctx,
        &env,
        &["dev", "up", "--runtime", "native", "-o", "json"],
    );
    if up.code != 0 {
        stop();
        panic!("{}", up.transcript());
    }
    let all_healthy: Vec<(String, String)> = ["postgres", "s3", "kafka", "lineage"]
        .iter()
        .map(|s| ((*s).to_owned(), "healthy".to_owned()))
        .collect();
    assert_eq!(healths(&up.json()), all_healthy);
    let again = run_with(&ctx, &env, &["dev", "up", "-o", "json"]);
    assert_eq!(healths(&again.json()), all_healthy, "up is idempotent");
    let status = run_with(&ctx, &env, &["dev", "status"]);
    assert!(
        status.stdout.contains(&format!(
            "postgresql://dkuser:dkpassword@127.0.0.1:{postgres}/datakit"
        )),
        "{}",
        status.stdout
    );

    flow_package(&ctx, postgres, s3, kafka);
    let url = format!("http://127.0.0.1:{lineage}");
    // No endpoint configured: lineage goes to the stack's server.
    let result = run_with(&ctx, &env, &["run", "flow"]);
    if result.code != 0 {
        stop();
        panic!("{}", result.transcript());
    }
    assert!(result.stdout.contains("moved 2"), "{}", result.transcript());
    assert!(
        result
            .stdout
            .contains(&format!("2 delivered to {url}/api/v1/lineage")),
        "{}",
        result.transcript()
    );
    let jobs = http_get(&format!("{url}/api/v1/namespaces/default/jobs"));
    assert!(
        jobs.contains("\"name\":\"flow\"") && jobs.contains("COMPLETED"),
        "{jobs}"
    );
    let s3_url = format!("http://127.0.0.1:{s3}");
    assert_eq!(
        python(&tools, READ_OBJECT, &[&s3_url]),
        "[[1, 9.5], [2, 20.0]]"
    );
    let brokers = format!("127.0.0.1:{kafka}");
    assert_eq!(python(&tools, READ_EVENTS, &[&brokers, "2"]), "2");

    // The dbt scaffold's warehouse stands for the stack's PostgreSQL while the stack is up:
    // `dk dev seed` and `dk run` (dbt-postgres) land in the database `datakit`.
    run_ok(&ctx, &["init", "shop", "--runtime", "dbt"], 0);
    let seeded = run_with(&ctx, &env, &["dev", "seed", "shop"]);
    assert_eq!(seeded.code, 0, "{}", seeded.transcript());
    assert!(
        seeded
            .stderr
            .contains("Store 'warehouse' is the dev stack's postgres"),
        "{}",
        seeded.transcript()
    );
    let shop = run_with(&ctx, &env, &["run", "shop"]);
    if shop.code != 0 {
        stop();
        panic!("{}", shop.transcript());
    }
    let dsn = format!("postgresql://dkuser:dkpassword@127.0.0.1:{postgres}/datakit");
    assert_eq!(
        python(&tools, COUNT_ROWS, &[&dsn, "main.customers_clean"]),
        "3"
    );
    assert!(
        !ctx.root().join("shop/data/warehouse.duckdb").exists(),
        "the embedded store was not used"
    );

    // Down keeps the data; the next up finds it.
    let down = run_with(&ctx, &env, &["dev", "down", "-o", "json"]);
    assert_eq!(down.code, 0, "{}", down.transcript());
    assert!(
        healths(&down.json())
            .iter()
            .all(|(_, health)| health == "stopped")
    );
    let up = run_with(&ctx, &env, &["dev", "up", "-o", "json"]);
    assert_eq!(healths(&up.json()), all_healthy, "{}", up.transcript());
    assert_eq!(
        python(&tools, READ_OBJECT, &[&s3_url]),
        "[[1, 9.5], [2, 20.0]]"
    );
    assert_eq!(python(&tools, READ_EVENTS, &[&brokers, "2"]), "2");

    let removed = stop();
    assert_eq!(removed.code, 0, "{}", removed.transcript());
    assert!(
        !ctx.dk_home().join("dev").exists(),
        "down --volumes leaves nothing behind"
    );
}

#[test]
fn a_missing_program_is_unavailable_with_how_to_install_it_and_up_exits_3_naming_it() {
    let ctx = context();
    let ports = free_ports(6);
    set_ports(
        &ctx,
        &[
            ("postgres.port", ports[0]),
            ("s3.port", ports[1]),
            ("s3.webPort", ports[2]),
            ("kafka.port", ports[3]),
            ("lineage.port", ports[4]),
            ("lineage.webPort", ports[5]),
        ],
    );
    // Only dk itself on PATH: kafka has no program; S3 and lineage are dk's own and start.
    let empty = ctx.root().join("no-tools").display().to_string();
    let env = [("PATH", empty.as_str())];
    let up = run_with(&ctx, &env, &["dev", "up", "-o", "json"]);
    let report = up.json();
    let service = |report: &Value, name: &str| {
        report["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["service"] == name)
            .unwrap()
            .clone()
    };
    for name in ["s3", "lineage"] {
        assert_eq!(
            service(&report, name)["health"],
            "healthy",
            "{}",
            up.transcript()
        );
    }
    // dk's own S3 has no console: only the port it serves is listed.
    assert_eq!(
        service(&report, "s3")["ports"],
        serde_json::json!([ports[1]])
    );
    // dk's lineage server serves its web UI on the web port too.
    assert_eq!(
        service(&report, "lineage")["ports"],
        serde_json::json!([ports[4], ports[5]])
    );
    let kafka = service(&report, "kafka");
    assert_eq!(kafka["health"], "unavailable");
    let detail = kafka["detail"].as_str().unwrap();
    assert!(
        detail.contains("cargo install tansu --features dynostore --locked"),
        "{detail}"
    );
    assert!(
        !detail.contains("pip") && !detail.contains("calfkit"),
        "{detail}"
    );
    assert_eq!(up.code, 3, "{}", up.transcript());
    assert!(
        up.stderr.contains("services did not start: ") && up.stderr.contains("kafka"),
        "{}",
        up.transcript()
    );
    let partial = run_with(&ctx, &env, &["dev", "up", "--allow-partial"]);
    assert_eq!(partial.code, 0, "{}", partial.transcript());
    assert!(
        partial.stderr.contains("(--allow-partial)"),
        "{}",
        partial.transcript()
    );

    // status judges the services that started: all answer.
    let status = run_with(&ctx, &env, &["dev", "status", "-o", "json"]);
    assert_eq!(status.code, 0, "{}", status.transcript());
    let lineage_pid = service(&status.json(), "lineage")["pid"].as_u64().unwrap();
    let taken = std::net::TcpListener::bind(("127.0.0.1", ports[3])).unwrap();
    let status = run_with(&ctx, &env, &["dev", "status", "-o", "json"]);
    let kafka = service(&status.json(), "kafka");
    assert_eq!(kafka["health"], "failed");
    assert!(
        kafka["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("(pid {})", std::process::id())),
        "{kafka}"
    );
    assert_eq!(
        status.code,
        0,
        "kafka was never started: {}",
        status.transcript()
    );
    drop(taken);

    // A service that started and died: status exits 1 and names it.
    let pid = rustix::process::Pid::from_raw(lineage_pid as i32).unwrap();
    rustix::process::kill_process_group(pid, rustix::process::Signal::KILL).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut status = run_with(&ctx, &env, &["dev", "status"]);
    while status.code == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
        status = run_with(&ctx, &env, &["dev", "status"]);
    }
    assert_eq!(status.code, 1, "{}", status.transcript());
    assert!(
        status
            .stderr
            .contains("the dev stack's lineage is not running"),
        "{}",
        status.transcript()
    );

    let down = run_with(&ctx, &env, &["dev", "down", "--volumes"]);
    assert_eq!(down.code, 0, "{}", down.transcript());
    // Nothing recorded any more: status and down say so, and exit 0.
    let status = run_with(&ctx, &env, &["dev", "status", "-o", "json"]);
    assert_eq!(status.code, 0, "{}", status.transcript());
    assert_eq!(status.json()["runtime"], Value::Null);
    let down = run_with(&ctx, &env, &["dev", "down"]);
    assert_eq!(down.code, 0, "{}", down.transcript());
    assert!(
        down.stdout.contains("No dev stack was started") && down.stdout.contains("nothing to stop"),
        "{}",
        down.transcript()
    );
}

/// Without the compose plugin, `up --runtime compose` fails with docker's own words, in full,
/// records no runtime, and `down` (with or without --volumes) has nothing to do.
#[test]
fn a_compose_runtime_that_never_started_is_not_recorded_and_down_is_a_no_op() {
    let ctx = context();
    let (path, log) = fake_programs(
        &ctx,
        &[(
            "docker",
            "case \"$1\" in\n  compose) echo 'docker: unknown command: docker compose' >&2; echo >&2; echo \"Run 'docker --help' for more information\" >&2; exit 1 ;;\nesac",
        )],
    );
    let env = [("PATH", path.as_str())];
    let up = run_with(
        &ctx,
        &env,
        &["dev", "up", "--runtime", "compose", "--timeout", "0s"],
    );
    assert_eq!(up.code, 3, "{}", up.transcript());
    assert!(
        up.stderr
            .contains("docker: unknown command: docker compose")
            && up.stderr.contains("dk dev up --runtime native"),
        "{}",
        up.transcript()
    );
    assert!(
        !ctx.dk_home().join("dev/runtime").exists(),
        "a runtime that never started is recorded"
    );
    for args in [
        &["dev", "down"][..],
        &["dev", "down", "--volumes"],
        &["dev", "status"],
    ] {
        let result = run_with(&ctx, &env, args);
        assert_eq!(result.code, 0, "{}", result.transcript());
        assert!(
            result.stdout.contains("No dev stack was started"),
            "{}",
            result.transcript()
        );
    }
    let commands = std::fs::read_to_string(&log).unwrap();
    assert!(!commands.contains(" down"), "{commands}");
    // Docker answers, its compose plugin does not: the default runtime is native.
    let ports = free_ports(6);
    set_ports(
        &ctx,
        &[
            ("postgres.port", ports[0]),
            ("s3.port", ports[1]),
            ("kafka.port", ports[3]),
            ("lineage.port", ports[4]),
            ("lineage.webPort", ports[5]),
        ],
    );
    let up = run_with(&ctx, &env, &["dev", "up", "--timeout", "0s", "-o", "json"]);
    let down = run_with(&ctx, &env, &["dev", "down", "--volumes"]);
    assert_eq!(up.json()["runtime"], "native", "{}", up.transcript());
    assert_eq!(down.code, 0, "{}", down.transcript());
}

/// Shell scripts on PATH that append each command line to one log, then run `body`. Returns
/// the PATH to run dk with and the log.
fn fake_programs(ctx: &TestContext, programs: &[(&str, &str)]) -> (String, std::path::PathBuf) {
    let bin = ctx.root().join("fake-bin");
    let log = ctx.root().join("commands.log");
    std::fs::create_dir_all(&bin).unwrap();
    for (name, body) in programs {
        let program = bin.join(name);
        std::fs::write(
            &program,
            format!(
                "#!/bin/sh\necho \"{name} $*\" >> '{}'\n{body}\n",
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(
            &program,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (path, log)
}

/// The compose runtime as far as it can be checked without a Docker engine: the compose file
/// (golden) and the exact commands, recorded by a fake `docker` on PATH.
#[test]
fn the_compose_runtime_writes_its_compose_file_and_drives_docker_compose() {
    let ctx = context();
    let (path, log) = fake_programs(&ctx, &[("docker", "")]);
    let env = [("PATH", path.as_str())];
    run_ok(
        &ctx,
        &["config", "set", "dev.charts.redpanda.version", "v25.2.0"],
        0,
    );
    set_ports(&ctx, &[("lineage.webPort", 13000)]);
    // A custom service: its image runs beside the stack's.
    run_ok(
        &ctx,
        &[
            "config",
            "set",
            "dev.charts.mailpit.image",
            "axllent/mailpit:v1.20",
        ],
        0,
    );
    run_ok(
        &ctx,
        &["config", "set", "dev.charts.mailpit.version", "v1.21"],
        0,
    );

    // Docker answers `docker info`: compose is the default. Nothing listens, so nothing is healthy.
    let up = run_with(&ctx, &env, &["dev", "up", "--timeout", "0s", "-o", "json"]);
    // 3 as nothing answers (0 if this machine happens to run something on the default ports).
    assert!(matches!(up.code, 0 | 3), "{}", up.transcript());
    assert_eq!(up.json()["runtime"], "compose");
    let compose = ctx.dk_home().join("dev").join("compose.yaml");
    common::snapshot(
        &ctx,
        "dev_compose_file",
        &std::fs::read_to_string(&compose).unwrap(),
    );
    assert_eq!(
        std::fs::read_to_string(ctx.dk_home().join("dev/postgres-init.sql")).unwrap(),
        "CREATE DATABASE marquez;\n"
    );
    let status = run_with(&ctx, &env, &["dev", "status", "-o", "json"]);
    assert_eq!(
        status.json()["runtime"],
        "compose",
        "status addresses the last up's runtime"
    );
    let down = run_with(&ctx, &env, &["dev", "down", "--volumes"]);
    assert_eq!(down.code, 0, "{}", down.transcript());
    assert!(!compose.exists());
    common::snapshot(
        &ctx,
        "dev_compose_commands",
        &std::fs::read_to_string(&log).unwrap(),
    );
}

/// A custom service without what the runtime needs is refused before anything starts: without
/// an image or a chart when the config is read, with only a chart by the compose runtime.
#[test]
fn a_custom_service_the_runtime_cannot_run_is_refused_with_the_key_it_needs() {
    let ctx = context();
    let (path, log) = fake_programs(&ctx, &[("docker", "")]);
    let env = [("PATH", path.as_str())];
    ctx.write(
        ctx.dk_home().join("config.yaml"),
        "dev:\n  charts:\n    mailpit:\n      version: v1.21\n",
    );
    let up = run_with(&ctx, &env, &["dev", "up", "--runtime", "compose"]);
    assert_eq!(up.code, 2, "{}", up.transcript());
    assert!(
        up.stderr
            .contains("`dev.charts.mailpit` is no built-in chart")
            && up
                .stderr
                .contains("hint: dk config set dev.charts.mailpit.image IMAGE"),
        "{}",
        up.transcript()
    );
    run_ok(
        &ctx,
        &[
            "config",
            "set",
            "dev.charts.mailpit.chart",
            "./charts/mailpit",
        ],
        0,
    );
    let up = run_with(&ctx, &env, &["dev", "up", "--runtime", "compose"]);
    assert_eq!(up.code, 2, "{}", up.transcript());
    assert!(
        up.stderr
            .contains("custom service `mailpit`: this runtime needs dev.charts.mailpit.image"),
        "{}",
        up.transcript()
    );
    assert!(!ctx.dk_home().join("dev/runtime").exists());
    let commands = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!commands.contains("compose -f"), "{commands}");
}

/// Renders a chart offline with Helm (helm-python-sdk) from values files applied in order, and
/// validates every manifest against the Kubernetes 1.33 schemas (kubernetes-validate).
const RENDER_CHART: &str = "
import json, sys, yaml, helm_python, kubernetes_validate
def merge(into, values):
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value
values = {}
for path in sys.argv[2:]:
    merge(values, yaml.safe_load(open(path)))
manifests = []
with helm_python.Chart.load(sys.argv[1]) as chart:
    rendered = chart.render(values=values, name=chart.name, namespace='dk', is_install=True)
    for _, text in sorted(rendered.items()):
        for manifest in yaml.safe_load_all(text):
            if manifest:
                kubernetes_validate.validate(manifest, '1.33.0', strict=True)
                manifests.append(manifest)
print(json.dumps(manifests))
";

/// The k3d runtime as far as it can be checked without a cluster: the exact k3d, helm and
/// kubectl commands (recorded by fakes on PATH), dk's values and the user's overrides (golden),
/// and the embedded charts rendered by Helm with those values into valid Kubernetes manifests.
#[test]
fn the_k3d_runtime_installs_the_embedded_charts_with_overrides_and_forwards_the_ports() {
    let Some(tools) = service("DK_TEST_TOOLS_BIN", "pipeline tools (helm-python-sdk)") else {
        return;
    };
    let ctx = context();
    let cluster = ctx.root().join("cluster-exists");
    let k3d = format!(
        "case \"$*\" in\n  'cluster get'*) test -e '{c}' ;;\n  'cluster create'*) touch '{c}' ;;\n  'cluster delete'*) rm -f '{c}' ;;\nesac",
        c = cluster.display()
    );
    let (path, log) = fake_programs(&ctx, &[("k3d", &k3d), ("helm", ""), ("kubectl", "")]);
    let env = [("PATH", path.as_str())];
    run_ok(
        &ctx,
        &["config", "set", "dev.charts.redpanda.version", "v25.2.0"],
        0,
    );
    run_ok(
        &ctx,
        &[
            "config",
            "set",
            "dev.charts.postgres.values.primary.resources.limits.memory",
            "1Gi",
        ],
        0,
    );
    // A custom service: its chart is installed after the stack's, with its version and values.
    for (key, value) in [
        (
            "dev.charts.mailpit.chart",
            "oci://ghcr.io/example/charts/mailpit",
        ),
        ("dev.charts.mailpit.version", "0.20.0"),
        ("dev.charts.mailpit.values.replicaCount", "2"),
    ] {
        run_ok(&ctx, &["config", "set", key, value], 0);
    }
    // Ports nothing here uses: a port someone holds would (rightly) stop the port-forwards.
    set_ports(
        &ctx,
        &[
            ("postgres.port", 45432),
            ("s3.port", 49000),
            ("s3.webPort", 49001),
            ("kafka.port", 49092),
            ("lineage.port", 45000),
            ("lineage.webPort", 43000),
        ],
    );

    // No cluster answers: nothing is healthy, every step before the wait ran.
    let up = run_with(
        &ctx,
        &env,
        &[
            "dev",
            "up",
            "--runtime",
            "k3d",
            "--timeout",
            "0s",
            "-o",
            "json",
        ],
    );
    assert!(matches!(up.code, 0 | 3), "{}", up.transcript());
    assert_eq!(up.json()["runtime"], "k3d");
    assert_eq!(
        std::fs::read_to_string(ctx.dk_home().join("dev/k3d/values/mailpit.user.yaml")).unwrap(),
        "# Written by `dk dev up --runtime k3d`; regenerated on every `up`.\n{\n  \"replicaCount\": 2\n}\n"
    );
    // A second up finds the cluster and starts it instead.
    run_with(&ctx, &env, &["dev", "up", "--timeout", "0s"]);

    let values = ctx.dk_home().join("dev/k3d/values");
    let mut files = String::new();
    for chart in ["postgres", "minio", "redpanda", "marquez"] {
        let ours = values.join(format!("{chart}.yaml"));
        let theirs = values.join(format!("{chart}.user.yaml"));
        files += &format!(
            "== {chart}.yaml\n{}",
            std::fs::read_to_string(&ours).unwrap()
        );
        let mut args = vec![ours.to_str().unwrap().to_owned()];
        if theirs.exists() {
            files += &format!(
                "== {chart}.user.yaml\n{}",
                std::fs::read_to_string(&theirs).unwrap()
            );
            args.push(theirs.to_str().unwrap().to_owned());
        }
        let chart_dir = ctx.dk_home().join("dev/k3d/charts").join(chart);
        let mut argv = vec![chart_dir.to_str().unwrap()];
        argv.extend(args.iter().map(String::as_str));
        let manifests: Value = serde_json::from_str(&python(&tools, RENDER_CHART, &argv)).unwrap();
        let labelled = manifests
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["spec"]["template"]["metadata"]["labels"]["app"] == chart);
        assert!(
            labelled,
            "{chart}: `kubectl logs -l app={chart}` finds its pods"
        );
        let images: Vec<&str> = manifests
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|m| {
                m["spec"]["template"]["spec"]["containers"]
                    .as_array()
                    .into_iter()
                    .flatten()
            })
            .map(|c| c["image"].as_str().unwrap())
            .collect();
        match chart {
            "redpanda" => {
                assert!(images.contains(&"docker.redpanda.com/redpandadata/redpanda:v25.2.0"))
            }
            "postgres" => {
                let statefulset = manifests
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|m| m["kind"] == "StatefulSet")
                    .unwrap();
                let resources =
                    &statefulset["spec"]["template"]["spec"]["containers"][0]["resources"];
                assert_eq!(resources["limits"]["memory"], "1Gi", "the override applies");
                assert_eq!(
                    resources["requests"]["memory"], "256Mi",
                    "the chart's defaults stay"
                );
            }
            _ => assert!(images.iter().all(|image| !image.ends_with(':'))),
        }
    }
    common::snapshot(&ctx, "dev_k3d_values", &files);

    let down = run_with(&ctx, &env, &["dev", "down", "--volumes"]);
    assert_eq!(down.code, 0, "{}", down.transcript());
    assert!(
        !ctx.dk_home().join("dev").exists(),
        "down --volumes leaves nothing behind"
    );
    // The port-forwards start in the background: their lines are sorted within each `up`.
    let mut commands: Vec<String> = Vec::new();
    let mut forwards: Vec<String> = Vec::new();
    for line in std::fs::read_to_string(&log).unwrap().lines() {
        if line.starts_with("kubectl") {
            forwards.push(line.to_owned());
            continue;
        }
        forwards.sort();
        commands.append(&mut forwards);
        commands.push(line.to_owned());
    }
    common::snapshot(&ctx, "dev_k3d_commands", &(commands.join("\n") + "\n"));
}
