//! `dk doctor`: the checks of what runs pipelines (container engine, the runtimes' tools, the
//! package's stores, the lineage endpoint), and the harness that runs every system's checks in
//! parallel within a time budget, so that a hanging endpoint costs the budget and no more.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use dk_config::doctor::{Check, Report};
use dk_devstack::catalog::{Ports, Service};
use dk_devstack::probe;
use dk_lineage::deliver::Target;
use dk_manifest::discover::Project;
use dk_manifest::model::StackService;

use crate::exec::{
    CLOUDQUERY_INSTALL, CONTAINER_INSTALL, DBT_INSTALL, GO_INSTALL, PYTHON_INSTALL, Tools,
};

/// One system's checks, run on a thread of its own.
pub struct Probe {
    /// What it checks, for the failure that says it did not finish in time.
    pub name: &'static str,
    pub run: Box<dyn FnOnce() -> Vec<Check> + Send>,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe").field("name", &self.name).finish()
    }
}

impl Probe {
    pub fn new(name: &'static str, run: impl FnOnce() -> Vec<Check> + Send + 'static) -> Probe {
        Probe {
            name,
            run: Box::new(run),
        }
    }
}

/// Runs every probe at once and waits at most `budget` for them all; one still running then
/// fails. The checks come in the order of the probes, whichever finished first.
pub fn run(probes: Vec<Probe>, budget: Duration) -> Report {
    let deadline = Instant::now() + budget;
    let (sender, receiver) = mpsc::channel();
    let names: Vec<&'static str> = probes.iter().map(|probe| probe.name).collect();
    for (index, probe) in probes.into_iter().enumerate() {
        let sender = sender.clone();
        // Detached: a probe stuck past the budget must not hold the report back.
        std::thread::spawn(move || {
            let _ = sender.send((index, (probe.run)()));
        });
    }
    drop(sender);
    let mut results: Vec<Option<Vec<Check>>> = vec![None; names.len()];
    while results.iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(left) {
            Ok((index, checks)) => results[index] = Some(checks),
            Err(_) => break,
        }
    }
    let checks = results
        .into_iter()
        .zip(names)
        .flat_map(|(checks, name)| {
            checks.unwrap_or_else(|| {
                vec![Check::fail(
                    name,
                    format!("no answer within {}s", budget.as_secs_f32()),
                    format!(
                        "something {name} needs hangs: check it by hand, then run dk doctor again"
                    ),
                )]
            })
        })
        .collect();
    Report::new(checks)
}

/// Runs `program args`, its stdout when it exits 0 within `timeout`; killed otherwise.
fn bounded(program: &PathBuf, args: &[&str], timeout: Duration) -> Option<String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let mut out = String::new();
                if let Some(mut stdout) = child.stdout.take() {
                    let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
                }
                return status.success().then_some(out);
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// dk itself is on the PATH (`dk` is how every hint names it).
pub fn dk_on_path(tools: &Tools, running: Option<PathBuf>) -> Check {
    let same = |a: &PathBuf, b: &PathBuf| a.canonicalize().ok() == b.canonicalize().ok();
    match tools.find("dk") {
        Some(found) if running.as_ref().is_none_or(|running| same(&found, running)) => {
            Check::ok("dk on PATH", found.display().to_string())
        }
        Some(found) => Check::warn(
            "dk on PATH",
            format!(
                "`dk` on PATH is {}, not this dk ({})",
                found.display(),
                running
                    .as_ref()
                    .map(|r| r.display().to_string())
                    .unwrap_or_default()
            ),
            "put the directory of the dk you mean first on PATH, or remove the other",
        ),
        None => {
            let dir = running
                .as_ref()
                .and_then(|exe| exe.parent())
                .map_or_else(|| "DIR".to_owned(), |dir| dir.display().to_string());
            Check::fail(
                "dk on PATH",
                "`dk` is not found on PATH",
                format!("export PATH=\"$PATH:{dir}\" (in your shell's profile)"),
            )
        }
    }
}

/// Docker or Podman answers `info`. Neither is needed by the native runtime: a warning.
pub fn container_engine(tools: &Tools, timeout: Duration) -> Check {
    let mut found = Vec::new();
    for program in ["docker", "podman"] {
        if let Some(path) = tools.find(program) {
            if bounded(&path, &["info"], timeout).is_some() {
                return Check::ok("container engine", format!("{program} answers"));
            }
            found.push(program);
        }
    }
    match &found[..] {
        [] => Check::warn(
            "container engine",
            "neither Docker nor Podman is installed: `dk dev up` uses the native runtime, and containers cannot run",
            CONTAINER_INSTALL,
        ),
        programs => Check::warn(
            "container engine",
            format!(
                "{} installed but `info` does not answer",
                programs.join(" and ")
            ),
            "start its daemon (systemctl start docker), or check `docker info` by hand",
        ),
    }
}

/// The runtimes' tools: python3 with venv, go, dbt, cloudquery. A tool the package in the
/// working directory needs fails when missing; others warn.
pub fn runtime_tools(tools: &Tools, needed: &[&str], timeout: Duration) -> Vec<Check> {
    let specs: [(&str, &str, &[&str], &str); 4] = [
        (
            "python3",
            "generic-python",
            &["-m", "venv", "--help"],
            PYTHON_INSTALL,
        ),
        ("go", "generic-go", &["version"], GO_INSTALL),
        ("dbt", "dbt", &["--version"], DBT_INSTALL),
        (
            "cloudquery",
            "cloudquery",
            &["--version"],
            CLOUDQUERY_INSTALL,
        ),
    ];
    specs
        .iter()
        .map(|(program, runtime, args, install)| {
            let name = format!("runtime {runtime}");
            let problem = match tools.find(program) {
                Some(path) if bounded(&path, args, timeout).is_some() => {
                    return Check::ok(name, format!("{program} at {}", path.display()));
                }
                Some(path) if *program == "python3" => {
                    format!("{} has no venv module", path.display())
                }
                Some(path) => format!("{} does not run", path.display()),
                None => format!("{program} is not on PATH"),
            };
            let fix = match *program {
                "python3" => "apt-get install python3 python3-venv (or brew install python)",
                _ => install,
            };
            if needed.contains(runtime) {
                Check::fail(name, format!("{problem}; this package needs it"), fix)
            } else {
                Check::warn(name, problem, fix)
            }
        })
        .collect()
}

/// The lineage endpoint (`lineage.endpoint`) answers HTTP. Without one, runs deliver to the dev
/// stack's lineage server while it answers (`dev_stack`: its ports, when a stack was started).
pub fn lineage_endpoint(
    backend: Option<&str>,
    endpoint: Option<&str>,
    dev_stack: Option<&Ports>,
    timeout: Duration,
) -> Check {
    let Some(endpoint) = endpoint else {
        if let Some(ports) = dev_stack.filter(|ports| probe::answers(ports, Service::Lineage)) {
            return Check::ok(
                "lineage endpoint",
                format!(
                    "none set; runs deliver to the dev stack's lineage server at {}, which answers",
                    ports.endpoint(Service::Lineage)
                ),
            );
        }
        return Check::skip(
            "lineage endpoint",
            "none set: events are kept in $DK_HOME (dk lineage serve shows them)",
        );
    };
    let target = match Target::new(backend, endpoint, None) {
        Ok(target) => target,
        Err(err) => {
            return Check::fail(
                "lineage endpoint",
                err.to_string(),
                "dk config set lineage.endpoint http://HOST:PORT (and lineage.backend)",
            );
        }
    };
    let Target::Http { .. } = &target else {
        return Check::ok("lineage endpoint", target.id());
    };
    let shown = target.id();
    let base = endpoint.trim_end_matches('/');
    match http_answers(base, timeout) {
        Ok(status) => Check::ok(
            "lineage endpoint",
            format!("{shown}: its server answers (HTTP {status})"),
        ),
        Err(reason) => Check::fail(
            "lineage endpoint",
            format!("cannot reach {shown} ({reason}); events wait in the spool"),
            "start the backend (dk dev up runs one), or dk config set lineage.endpoint URL; dk lineage flush sends what waits",
        ),
    }
}

/// The status of `GET url`, or why there was none.
fn http_answers(url: &str, timeout: Duration) -> Result<u16, String> {
    reqwest::blocking::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .and_then(|client| client.get(url).send())
        .map(|response| response.status().as_u16())
        .map_err(|err| match () {
            _ if err.is_timeout() => "timed out".to_owned(),
            _ if err.is_connect() => "connection refused or unreachable".to_owned(),
            _ => err.without_url().to_string(),
        })
}

/// How to reach a store, read from its connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A PostgreSQL server: answered with its SSL handshake.
    Postgres(String),
    /// An HTTP(S) service (S3 and other APIs).
    Http(String),
    /// Anything else with a host and port: a TCP connection.
    Tcp(String),
}

/// A store of the package and how to reach it.
#[derive(Debug, Clone)]
pub struct StoreTarget {
    pub name: String,
    /// The dev stack service it stands for while that answers.
    pub dev: Option<StackService>,
    /// `Err`: why it is not checked (a file store, a connection resolved at run time).
    pub endpoint: Result<Endpoint, String>,
}

/// The stores the package in `project` and its project define.
pub fn store_targets(project: &Project) -> Vec<StoreTarget> {
    let packages = project.packages.iter().map(|package| &package.catalog);
    std::iter::once(&project.shared)
        .chain(packages)
        .flat_map(|catalog| catalog.stores())
        .map(|store| {
            let spec = &store.manifest.spec;
            StoreTarget {
                name: store.name().to_owned(),
                dev: spec.dev.as_ref().map(|dev| dev.stack),
                endpoint: endpoint(&spec.connector, &spec.connection),
            }
        })
        .collect()
}

fn endpoint(connector: &str, connection: &Map<String, Value>) -> Result<Endpoint, String> {
    let text = |key: &str| connection.get(key).and_then(Value::as_str);
    if connection
        .values()
        .any(|value| value.as_str().is_some_and(|text| text.contains("${")))
    {
        return Err("its connection takes values from the environment at run time".into());
    }
    if let Some(url) = text("endpoint")
        .or_else(|| text("url"))
        .filter(|url| url.starts_with("http://") || url.starts_with("https://"))
    {
        return Ok(Endpoint::Http(url.to_owned()));
    }
    let servers = ["bootstrap-servers", "bootstrapServers", "brokers"]
        .iter()
        .find_map(|key| text(key));
    if let Some(first) = servers.and_then(|servers| servers.split(',').next()) {
        return Ok(Endpoint::Tcp(first.trim().to_owned()));
    }
    let Some(host) = text("host") else {
        return Err("no network address in its connection".into());
    };
    let default_port = match connector {
        "postgres" | "postgresql" => 5432,
        "mysql" => 3306,
        "kafka" => 9092,
        _ => return Err(format!("no port known for connector {connector}")),
    };
    let port = connection
        .get("port")
        .and_then(|port| port.as_u64().or_else(|| port.as_str()?.parse().ok()))
        .unwrap_or(default_port);
    let address = format!("{host}:{port}");
    Ok(match connector {
        "postgres" | "postgresql" => Endpoint::Postgres(address),
        _ => Endpoint::Tcp(address),
    })
}

fn connect(address: &str, timeout: Duration) -> Result<TcpStream, String> {
    let first: SocketAddr = address
        .to_socket_addrs()
        .map_err(|err| err.to_string())?
        .next()
        .ok_or_else(|| format!("{address} has no address"))?;
    TcpStream::connect_timeout(&first, timeout).map_err(|err| err.to_string())
}

/// A PostgreSQL server answers an SSLRequest with one byte, `S` or `N`: cheaper than a login
/// and it tells a database from a port that only accepts connections.
fn postgres_answers(address: &str, timeout: Duration) -> Result<(), String> {
    use std::io::{Read, Write};
    let mut stream = connect(address, timeout)?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|err| err.to_string())?;
    let request = [0u8, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
    stream.write_all(&request).map_err(|err| err.to_string())?;
    let mut answer = [0u8; 1];
    match stream.read_exact(&mut answer) {
        Ok(()) if matches!(answer[0], b'S' | b'N') => Ok(()),
        Ok(()) => Err("it does not speak the PostgreSQL protocol".into()),
        Err(err)
            if matches!(
                err.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Err("accepts connections but does not answer".into())
        }
        Err(err) => Err(err.to_string()),
    }
}

/// Each store answers: its dev stack service when it stands for one that answers, else its own
/// address (a PostgreSQL handshake, an HTTP request, or a TCP connection).
pub fn stores(targets: &[StoreTarget], ports: &Ports, timeout: Duration) -> Vec<Check> {
    if targets.is_empty() {
        return vec![Check::skip(
            "stores",
            "no package (dk.yaml) in this directory",
        )];
    }
    targets
        .iter()
        .map(|target| {
            let name = format!("store {}", target.name);
            if let Some(stack) = target.dev {
                let service = match stack {
                    StackService::Postgres => Service::Postgres,
                    StackService::S3 => Service::S3,
                    StackService::Kafka => Service::Kafka,
                };
                if probe::answers(ports, service) {
                    return Check::ok(name, format!("the dev stack's {} answers", service.name()));
                }
            }
            let endpoint = match &target.endpoint {
                Ok(endpoint) => endpoint,
                Err(reason) => return Check::skip(name, format!("not checked: {reason}")),
            };
            let (shown, answer) = match endpoint {
                Endpoint::Postgres(address) => (address.clone(), postgres_answers(address, timeout)),
                Endpoint::Http(url) => (
                    dk_lineage::deliver::Target::Http { url: url.clone(), api_key: None }.id(),
                    http_answers(url, timeout).map(|_| ()),
                ),
                Endpoint::Tcp(address) => (address.clone(), connect(address, timeout).map(|_| ())),
            };
            match answer {
                Ok(()) => Check::ok(name, format!("{shown} answers")),
                Err(reason) => {
                    let fix = match target.dev {
                        Some(stack) => format!(
                            "dk dev up (the store stands for the dev stack's {}), or check the store's connection",
                            stack.name()
                        ),
                        None => "check that the server runs and the store's connection (host, port) is right".to_owned(),
                    };
                    Check::fail(name, format!("cannot reach {shown} ({reason})"), fix)
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dk_config::doctor::Level;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn store_addresses_come_from_their_connections() {
        assert_eq!(
            endpoint("postgres", &map(json!({"host": "db", "port": 6432}))),
            Ok(Endpoint::Postgres("db:6432".into()))
        );
        assert_eq!(
            endpoint(
                "s3",
                &map(json!({"endpoint": "http://127.0.0.1:9000", "bucket": "lake"}))
            ),
            Ok(Endpoint::Http("http://127.0.0.1:9000".into()))
        );
        assert_eq!(
            endpoint(
                "kafka",
                &map(json!({"bootstrap-servers": "k1:9092,k2:9092"}))
            ),
            Ok(Endpoint::Tcp("k1:9092".into()))
        );
        assert!(endpoint("postgres", &map(json!({"host": "${PGHOST}"}))).is_err());
        assert!(endpoint("sqlite", &map(json!({"path": "db.sqlite"}))).is_err());
    }

    #[test]
    fn a_probe_that_hangs_fails_at_the_budget_and_the_others_keep_their_order() {
        let probes = vec![
            Probe::new("slow", || {
                std::thread::sleep(Duration::from_secs(600));
                Vec::new()
            }),
            Probe::new("quick", || vec![Check::ok("quick", "fine")]),
        ];
        let report = run(probes, Duration::from_millis(300));
        assert_eq!(report.checks.len(), 2);
        assert_eq!(report.checks[0].name, "slow");
        assert_eq!(report.checks[0].level, Level::Fail);
        assert_eq!(report.checks[1].level, Level::Ok);
        assert_eq!(report.failures, 1);
    }

    #[test]
    fn a_port_that_accepts_but_never_answers_is_no_postgres() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let err = postgres_answers(&address, Duration::from_millis(200)).unwrap_err();
        assert!(err.contains("does not answer"), "{err}");
    }
}
