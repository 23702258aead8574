//! The native runtime: each service a local process under `$DK_HOME/dev/` (data, logs, pids),
//! listening on loopback only. PostgreSQL from its local binaries, S3 from `minio` when installed
//! (it has a console) or else from dk itself (`dk dev serve-s3`, see [`crate::s3`]), the Kafka
//! protocol from `tansu` (its log kept in the stack's S3), lineage from `dk lineage serve`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::catalog::{
    BUCKETS, POSTGRES_DATABASE, POSTGRES_PASSWORD, POSTGRES_USER, Ports, S3_ACCESS_KEY,
    S3_SECRET_KEY, Service, TOPICS,
};
use crate::process::{
    alive, recorded_pid, remove_dir, remove_file, run_tool, spawn_logged, stop_recorded,
    stranger_note,
};
use crate::status::{Health, ServiceStatus, StackError};
use crate::{ports, probe};

/// How to install a program, on the platform dk runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// Debian, Ubuntu and their kin: `apt-get`.
    Debian,
    /// macOS (and Linux) with Homebrew.
    Homebrew,
    Other,
}

impl Platform {
    /// The platform of this machine: Homebrew on macOS, Debian where `apt-get` is.
    pub fn detect(brew: bool, apt: bool) -> Platform {
        if cfg!(target_os = "macos") || (brew && !apt) {
            Platform::Homebrew
        } else if apt {
            Platform::Debian
        } else {
            Platform::Other
        }
    }

    /// The command that installs the program `service` needs. Only the platform's packages and
    /// the programs' own releases: never a binary taken out of another package.
    pub fn install(self, service: Service) -> &'static str {
        match (service, self) {
            (Service::Postgres, Platform::Debian) => "sudo apt-get install postgresql",
            (Service::Postgres, Platform::Homebrew) => "brew install postgresql@16",
            (Service::Postgres, Platform::Other) => {
                "install PostgreSQL from your system's packages (https://www.postgresql.org/download/)"
            }
            // tansu's own crate, built with the S3 storage engine dk keeps the log in.
            (Service::Kafka, _) => "cargo install tansu --features dynostore --locked",
            (Service::S3, _) => "built into dk; put minio on PATH for a console",
            (Service::Lineage, _) => "built into dk",
        }
    }
}

/// The native stack of one dk home.
#[derive(Debug, Clone)]
pub struct NativeStack {
    /// `$DK_HOME/dev`.
    pub dev_dir: PathBuf,
    /// `$DK_HOME`, for the lineage server.
    pub dk_home: PathBuf,
    pub ports: Ports,
    /// The dk binary that serves lineage.
    pub dk_binary: PathBuf,
    /// Where programs are looked for (the `PATH` dk runs with).
    pub path: Option<String>,
    /// Which install commands to suggest.
    pub platform: Platform,
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

impl NativeStack {
    fn data_dir(&self, service: Service) -> PathBuf {
        if service == Service::Postgres && is_root() {
            // PostgreSQL refuses to run as root and its own user cannot enter most homes of
            // root: its data lives under /var/tmp, one folder per dk home.
            let digest = hex::encode(Sha256::digest(self.dev_dir.display().to_string()));
            return PathBuf::from("/var/tmp")
                .join(format!("dk-dev-{}", &digest[..12]))
                .join("postgres");
        }
        self.dev_dir.join("data").join(service.name())
    }

    fn log_file(&self, service: Service) -> PathBuf {
        self.dev_dir
            .join("logs")
            .join(format!("{}.log", service.name()))
    }

    fn pid_file(&self, service: Service) -> PathBuf {
        self.dev_dir
            .join("pids")
            .join(format!("{}.pid", service.name()))
    }

    fn find(&self, program: &str) -> Option<PathBuf> {
        let path = self.path.as_deref().unwrap_or_default();
        std::env::split_paths(path)
            .chain([self.dev_dir.join("bin")])
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    }

    /// The server's programs: where Debian installs them (newest version), else beside `pg_ctl`
    /// on PATH.
    fn postgres_bin(&self) -> Option<PathBuf> {
        self.postgres_bin_under(Path::new("/usr/lib/postgresql"))
    }

    fn postgres_bin_under(&self, versions: &Path) -> Option<PathBuf> {
        // A folder with the client tools only, or a dangling initdb link, is no server install:
        // taking it gave "`initdb` failed: No such file or directory" instead of the install hint.
        let complete = |bin: &Path| {
            ["initdb", "pg_ctl", "createdb"]
                .iter()
                .all(|program| bin.join(program).is_file())
        };
        let mut versions: Vec<PathBuf> = std::fs::read_dir(versions)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path().join("bin"))
            .filter(|bin| complete(bin))
            .collect();
        versions.sort();
        versions.pop().or_else(|| {
            self.find("pg_ctl")?
                .parent()
                .filter(|bin| complete(bin))
                .map(Path::to_owned)
        })
    }

    fn pid(&self, service: Service) -> Option<u32> {
        if service != Service::Postgres {
            return recorded_pid(&self.pid_file(service));
        }
        let text =
            dk_fs::read_to_string(&self.data_dir(service).join("postmaster.pid"), 64 << 10).ok()?;
        let pid = text.lines().next()?.trim().parse().ok()?;
        alive(pid).then_some(pid)
    }

    /// What it takes to run `service`, or how to install it.
    fn program(&self, service: Service) -> Result<PathBuf, &'static str> {
        let install = self.platform.install(service);
        match service {
            Service::Postgres => self.postgres_bin().ok_or(install),
            Service::S3 => Ok(self.find("minio").unwrap_or_else(|| self.dk_binary.clone())),
            Service::Kafka => self.find("tansu").ok_or(install),
            Service::Lineage => Ok(self.dk_binary.clone()),
        }
    }

    /// The ports something serves: the S3 console only with minio; dk's lineage server serves
    /// its web UI on the web port.
    pub fn ports_of(&self, service: Service) -> Vec<u16> {
        match service {
            Service::S3 if self.find("minio").is_some() => self.ports.of(service),
            Service::Lineage => self.ports.of(service),
            other => vec![self.ports.main(other)],
        }
    }

    pub fn status_of(&self, service: Service) -> ServiceStatus {
        let pid = self.pid(service);
        let (health, detail) = match (pid, probe::answers(&self.ports, service)) {
            (Some(_), true) => (Health::Healthy, None),
            (Some(_), false) => (Health::Starting, None),
            (None, _) if probe::listening(self.ports.main(service)) => (
                Health::Failed,
                Some(ports::describe_owner(self.ports.main(service))),
            ),
            (None, _) => match self.program(service) {
                Ok(_) => (Health::Stopped, None),
                Err(install) => (
                    Health::Unavailable,
                    Some(format!("not installed: {install}")),
                ),
            },
        };
        ServiceStatus {
            service,
            health,
            ports: self.ports_of(service),
            endpoint: self.ports.endpoint(service),
            pid,
            detail,
        }
    }

    pub fn status(&self) -> Vec<ServiceStatus> {
        Service::ALL
            .iter()
            .map(|&service| self.status_of(service))
            .collect()
    }

    /// Starts what is not running, waiting up to `timeout` in all for each to answer; calls
    /// `progress` as each service settles. Services already up are left alone.
    pub fn up(
        &self,
        timeout: Duration,
        progress: &mut dyn FnMut(&ServiceStatus),
    ) -> Vec<ServiceStatus> {
        let deadline = Instant::now() + timeout;
        let mut statuses = Vec::new();
        for service in Service::ALL {
            let mut status = self.status_of(service);
            if status.health == Health::Stopped {
                status = match self.start(service, &statuses) {
                    Ok(()) => self.wait(service, deadline),
                    Err(reason) => ServiceStatus {
                        health: Health::Failed,
                        detail: Some(reason),
                        ..status
                    },
                };
            }
            // Also for a service that was already up: what it needs may be missing.
            if status.health == Health::Healthy
                && let Err(reason) = self.provision(service)
            {
                status.health = Health::Failed;
                status.detail = Some(reason);
            }
            progress(&status);
            statuses.push(status);
        }
        statuses
    }

    fn wait(&self, service: Service, deadline: Instant) -> ServiceStatus {
        loop {
            let status = self.status_of(service);
            match status.health {
                Health::Starting | Health::Stopped if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Health::Starting | Health::Stopped => {
                    let log = self.log_file(service);
                    return ServiceStatus {
                        health: Health::Failed,
                        detail: Some(format!("did not answer in time; see {}", log.display())),
                        ..status
                    };
                }
                _ => return status,
            }
        }
    }

    fn spawn(&self, service: Service, command: Command) -> Result<(), String> {
        spawn_logged(
            command,
            service.name(),
            &self.log_file(service),
            &self.pid_file(service),
        )
        .map(drop)
    }

    fn start(&self, service: Service, started: &[ServiceStatus]) -> Result<(), String> {
        let program = self
            .program(service)
            .map_err(|install| format!("not installed: {install}"))?;
        let data = self.data_dir(service);
        std::fs::create_dir_all(&data).map_err(|err| format!("{}: {err}", data.display()))?;
        match service {
            Service::Postgres => self.start_postgres(&program, &data),
            Service::S3 => {
                for bucket in BUCKETS {
                    std::fs::create_dir_all(data.join(bucket)).map_err(|err| err.to_string())?;
                }
                let address = format!("127.0.0.1:{}", self.ports.s3);
                let mut command = Command::new(&program);
                if program.ends_with("minio") {
                    command
                        .args(["server", "--address", &address, "--console-address"])
                        .arg(format!("127.0.0.1:{}", self.ports.s3_console))
                        .arg(&data)
                        .env("MINIO_ROOT_USER", S3_ACCESS_KEY)
                        .env("MINIO_ROOT_PASSWORD", S3_SECRET_KEY);
                } else {
                    command
                        .args(["dev", "serve-s3", "--port", &self.ports.s3.to_string()])
                        .arg(&data);
                }
                self.spawn(service, command)
            }
            Service::Kafka => {
                let listener = format!("tcp://127.0.0.1:{}", self.ports.kafka);
                let mut command = Command::new(&program);
                command.args([
                    "broker",
                    "--listener-url",
                    &listener,
                    "--advertised-listener-url",
                    &listener,
                ]);
                // The log lives in the stack's S3 when it is up, so it survives `down`.
                let s3_up = started
                    .iter()
                    .any(|s| s.service == Service::S3 && s.health == Health::Healthy);
                if s3_up {
                    command
                        .args(["--storage-engine", "s3://kafka-log/"])
                        .env("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
                        .env("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
                        .env("AWS_DEFAULT_REGION", "us-east-1")
                        .env(
                            "AWS_ENDPOINT",
                            format!("http://127.0.0.1:{}", self.ports.s3),
                        )
                        .env("AWS_ALLOW_HTTP", "true");
                } else {
                    command.args(["--storage-engine", "memory://tansu/"]);
                }
                self.spawn(service, command)
            }
            Service::Lineage => {
                let mut command = Command::new(&program);
                command
                    .args([
                        "lineage",
                        "serve",
                        "--port",
                        &self.ports.lineage.to_string(),
                        "--web-port",
                        &self.ports.lineage_web.to_string(),
                    ])
                    .env("DK_HOME", &self.dk_home);
                self.spawn(service, command)
            }
        }
    }

    /// A PostgreSQL command, run as the `postgres` user when dk runs as root.
    fn as_postgres(&self, program: PathBuf) -> Command {
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn run(command: &mut Command, what: &str) -> Result<(), String> {
        run_tool(command, what).map_err(|err| err.to_string())
    }

    fn start_postgres(&self, bin: &Path, data: &Path) -> Result<(), String> {
        if is_root() {
            let parent = data.parent().unwrap_or(data);
            Self::run(
                Command::new("chown").args(["-R", "postgres"]).arg(parent),
                "chown",
            )?;
            Self::run(Command::new("chmod").arg("700").arg(data), "chmod")?;
        }
        if !data.join("PG_VERSION").exists() {
            let password_file = data.parent().unwrap_or(data).join(".dk-pwfile");
            let mut file = dk_fs::AtomicFile::create(&password_file).map_err(|e| e.to_string())?;
            file.set_mode(0o600).map_err(|e| e.to_string())?;
            std::io::Write::write_all(&mut file, POSTGRES_PASSWORD.as_bytes())
                .map_err(|e| e.to_string())?;
            file.commit().map_err(|e| e.to_string())?;
            if is_root() {
                Self::run(
                    Command::new("chown").arg("postgres").arg(&password_file),
                    "chown",
                )?;
            }
            let initialised = Self::run(
                self.as_postgres(bin.join("initdb"))
                    .arg("-D")
                    .arg(data)
                    .args(["-U", POSTGRES_USER, "-A", "scram-sha-256", "--no-sync"])
                    .arg(format!("--pwfile={}", password_file.display())),
                "initdb",
            );
            let _ = std::fs::remove_file(&password_file);
            initialised?;
        }
        let log = self.log_file(Service::Postgres);
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).map_err(|err| err.to_string())?;
        }
        // The server writes its log itself, as the postgres user: it goes next to its data.
        Self::run(
            self.as_postgres(bin.join("pg_ctl"))
                .arg("-D")
                .arg(data)
                .arg("-l")
                .arg(data.join("server.log"))
                .arg("-o")
                .arg(format!(
                    "-p {} -k {} -c listen_addresses=127.0.0.1",
                    self.ports.postgres,
                    data.display()
                ))
                .arg("start"),
            "pg_ctl start",
        )
    }

    /// What a service needs once it answers: the database, the topics.
    fn provision(&self, service: Service) -> Result<(), String> {
        match service {
            Service::Postgres => {
                let bin = self.postgres_bin().ok_or(self.platform.install(service))?;
                let output = Command::new(bin.join("createdb"))
                    .args(["-h", "127.0.0.1", "-p", &self.ports.postgres.to_string()])
                    .args(["-U", POSTGRES_USER, POSTGRES_DATABASE])
                    .env("PGPASSWORD", POSTGRES_PASSWORD)
                    .stdin(Stdio::null())
                    .output()
                    .map_err(|err| format!("createdb: {err}"))?;
                let stderr = String::from_utf8_lossy(&output.stderr);
                if output.status.success() || stderr.contains("already exists") {
                    Ok(())
                } else {
                    Err(format!("createdb failed: {}", stderr.trim()))
                }
            }
            Service::Kafka => {
                let tansu = self.find("tansu").ok_or(self.platform.install(service))?;
                let broker = format!("tcp://127.0.0.1:{}", self.ports.kafka);
                for topic in TOPICS {
                    // An existing topic is an error to tansu, and fine here.
                    let _ = Command::new(&tansu)
                        .args([
                            "topic",
                            "create",
                            topic,
                            "--partitions",
                            "1",
                            "--broker",
                            &broker,
                        ])
                        .stdin(Stdio::null())
                        .output();
                }
                Ok(())
            }
            Service::S3 | Service::Lineage => Ok(()),
        }
    }

    /// Stops every service; with `volumes`, removes their data too.
    pub fn down(&self, volumes: bool) -> Result<Vec<ServiceStatus>, StackError> {
        let mut strangers = Vec::new();
        for service in Service::ALL.into_iter().rev() {
            if service == Service::Postgres {
                if let (Some(bin), true) = (
                    self.postgres_bin(),
                    self.data_dir(service).join("PG_VERSION").exists(),
                ) {
                    let _ = Self::run(
                        self.as_postgres(bin.join("pg_ctl"))
                            .arg("-D")
                            .arg(self.data_dir(service))
                            .args(["-m", "fast", "-w", "stop"]),
                        "pg_ctl stop",
                    );
                }
                remove_file(&self.pid_file(service))?;
            } else if let Some(pid) = stop_recorded(&self.pid_file(service))? {
                strangers.push((service, pid));
            }
        }
        if volumes {
            // Everything the stack wrote: its folder, and PostgreSQL's when it lives elsewhere.
            let postgres = self.data_dir(Service::Postgres);
            let mut dirs = vec![self.dev_dir.clone()];
            if !postgres.starts_with(&self.dev_dir) {
                dirs.extend(postgres.parent().map(Path::to_owned));
            }
            for dir in dirs {
                remove_dir(&dir)?;
            }
        }
        let mut statuses = self.status();
        for status in &mut statuses {
            if let Some((_, pid)) = strangers.iter().find(|(s, _)| *s == status.service) {
                status.detail = Some(stranger_note(*pid));
            }
        }
        Ok(statuses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(path: &Path) -> NativeStack {
        NativeStack {
            dev_dir: path.join("dev"),
            dk_home: path.to_owned(),
            ports: Ports::default(),
            dk_binary: PathBuf::from("/usr/bin/dk"),
            path: Some(path.join("bin").display().to_string()),
            platform: Platform::Debian,
        }
    }

    #[test]
    fn install_hints_are_the_platforms_packages_or_the_programs_own() {
        for platform in [Platform::Debian, Platform::Homebrew, Platform::Other] {
            for service in Service::ALL {
                let hint = platform.install(service);
                for foreign in ["pip", "unzip", "calfkit", "wheel"] {
                    assert!(!hint.contains(foreign), "{platform:?} {service:?}: {hint}");
                }
            }
        }
        assert_eq!(
            Platform::Debian.install(Service::Postgres),
            "sudo apt-get install postgresql"
        );
        assert!(
            Platform::Homebrew
                .install(Service::Postgres)
                .starts_with("brew install")
        );
        assert!(
            Platform::Other
                .install(Service::Kafka)
                .starts_with("cargo install tansu")
        );
    }

    /// Client tools only under /usr/lib/postgresql and a dangling initdb beside pg_ctl on PATH
    /// made `dk dev up` fail with "`initdb` failed: No such file or directory".
    #[test]
    fn a_postgres_install_without_its_server_programs_is_not_taken() {
        let dir = tempfile::tempdir().unwrap();
        let native = stack(dir.path());
        let versions = dir.path().join("versions");
        let clients = versions.join("15/bin");
        std::fs::create_dir_all(&clients).unwrap();
        for program in ["psql", "createdb", "pg_dump"] {
            std::fs::write(clients.join(program), "").unwrap();
        }
        let on_path = dir.path().join("bin");
        std::fs::create_dir_all(&on_path).unwrap();
        std::fs::write(on_path.join("pg_ctl"), "").unwrap();
        std::fs::write(on_path.join("createdb"), "").unwrap();
        std::os::unix::fs::symlink("/nonexistent/initdb", on_path.join("initdb")).unwrap();
        assert_eq!(native.postgres_bin_under(&versions), None);
        std::fs::remove_file(on_path.join("initdb")).unwrap();
        std::fs::write(on_path.join("initdb"), "").unwrap();
        assert_eq!(native.postgres_bin_under(&versions), Some(on_path));
        for program in ["initdb", "pg_ctl"] {
            std::fs::write(clients.join(program), "").unwrap();
        }
        assert_eq!(native.postgres_bin_under(&versions), Some(clients));
    }

    #[test]
    fn only_ports_something_serves_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let native = stack(dir.path());
        assert_eq!(native.ports_of(Service::S3), [9000]);
        assert_eq!(
            native.ports_of(Service::Lineage),
            [5000, 3000],
            "the web UI"
        );
        // S3 is dk's own without minio: always available, nothing to install.
        assert_eq!(
            native.program(Service::S3).unwrap(),
            PathBuf::from("/usr/bin/dk")
        );
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        std::fs::write(dir.path().join("bin/minio"), "").unwrap();
        assert_eq!(
            native.ports_of(Service::S3),
            [9000, 9001],
            "minio's console"
        );
    }
}
