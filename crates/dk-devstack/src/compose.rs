//! The compose runtime: the FAQ's stack in Docker containers — Redpanda (Kafka), MinIO,
//! PostgreSQL and Marquez with its web UI — from `$DK_HOME/dev/compose.yaml`, run as project
//! `dk`. Image tags are pinned and overridden by `dev.charts.<name>.version`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::catalog::{
    POSTGRES_DATABASE, POSTGRES_PASSWORD, POSTGRES_USER, Ports, S3_ACCESS_KEY, S3_SECRET_KEY,
    Service,
};
use crate::probe;
use crate::status::{Health, ServiceStatus, StackError, io_error};

/// The containers: chart name (the key of `dev.charts.<name>`), image, pinned tag.
pub const IMAGES: [(&str, &str, &str); 5] = [
    (
        "redpanda",
        "docker.redpanda.com/redpandadata/redpanda",
        "v24.2.7",
    ),
    (
        "minio",
        "quay.io/minio/minio",
        "RELEASE.2024-10-13T13-34-11Z",
    ),
    ("postgres", "postgres", "16.4"),
    ("marquez", "marquezproject/marquez", "0.50.0"),
    ("marquez-web", "marquezproject/marquez-web", "0.50.0"),
];

/// The compose project name.
pub const PROJECT: &str = "dk";

#[derive(Debug, Clone)]
pub struct ComposeStack {
    /// `$DK_HOME/dev`.
    pub dev_dir: PathBuf,
    pub ports: Ports,
    /// `dev.charts.<name>.version` overrides of the pinned tags.
    pub versions: BTreeMap<String, String>,
    /// The `docker` program.
    pub docker: PathBuf,
}

impl ComposeStack {
    pub fn compose_file(&self) -> PathBuf {
        self.dev_dir.join("compose.yaml")
    }

    fn image(&self, chart: &str) -> String {
        let (_, image, tag) = IMAGES
            .iter()
            .find(|(name, _, _)| *name == chart)
            .expect("a chart of the catalogue");
        let tag = self.versions.get(chart).map_or(*tag, String::as_str);
        format!("{image}:{tag}")
    }

    /// The compose file: loopback-only ports, named volumes, Marquez in its own database.
    pub fn render(&self) -> String {
        let p = &self.ports;
        format!(
            r#"# Written by `dk dev up --runtime compose`; regenerated on every `up`.
name: {PROJECT}
services:
  redpanda:
    image: {redpanda}
    command:
      - redpanda
      - start
      - --mode=dev-container
      - --smp=1
      - --kafka-addr=PLAINTEXT://0.0.0.0:9092
      - --advertise-kafka-addr=PLAINTEXT://127.0.0.1:{kafka}
    ports: ["127.0.0.1:{kafka}:9092"]
    volumes: ["redpanda:/var/lib/redpanda/data"]
  minio:
    image: {minio}
    command: ["server", "/data", "--console-address", ":9001"]
    environment:
      MINIO_ROOT_USER: {S3_ACCESS_KEY}
      MINIO_ROOT_PASSWORD: {S3_SECRET_KEY}
    ports: ["127.0.0.1:{s3}:9000", "127.0.0.1:{s3_console}:9001"]
    volumes: ["minio:/data"]
  postgres:
    image: {postgres}
    environment:
      POSTGRES_USER: {POSTGRES_USER}
      POSTGRES_PASSWORD: {POSTGRES_PASSWORD}
      POSTGRES_DB: {POSTGRES_DATABASE}
    ports: ["127.0.0.1:{postgres_port}:5432"]
    volumes:
      - "postgres:/var/lib/postgresql/data"
      - "./postgres-init.sql:/docker-entrypoint-initdb.d/10-marquez.sql:ro"
    healthcheck:
      test: ["CMD", "pg_isready", "-U", "{POSTGRES_USER}", "-d", "{POSTGRES_DATABASE}"]
      interval: 2s
      retries: 30
  marquez:
    image: {marquez}
    environment:
      MARQUEZ_PORT: "5000"
      MARQUEZ_ADMIN_PORT: "5001"
      POSTGRES_HOST: postgres
      POSTGRES_PORT: "5432"
      POSTGRES_DB: marquez
      POSTGRES_USER: {POSTGRES_USER}
      POSTGRES_PASSWORD: {POSTGRES_PASSWORD}
    ports: ["127.0.0.1:{lineage}:5000"]
    depends_on:
      postgres:
        condition: service_healthy
  marquez-web:
    image: {marquez_web}
    environment:
      MARQUEZ_HOST: marquez
      MARQUEZ_PORT: "5000"
    ports: ["127.0.0.1:{lineage_web}:3000"]
    depends_on: [marquez]
volumes:
  redpanda: {{}}
  minio: {{}}
  postgres: {{}}
"#,
            redpanda = self.image("redpanda"),
            minio = self.image("minio"),
            postgres = self.image("postgres"),
            marquez = self.image("marquez"),
            marquez_web = self.image("marquez-web"),
            kafka = p.kafka,
            s3 = p.s3,
            s3_console = p.s3_console,
            postgres_port = p.postgres,
            lineage = p.lineage,
            lineage_web = p.lineage_web,
        )
    }

    /// `docker compose -f FILE -p dk ARGS...`
    fn compose(&self, args: &[&str]) -> Result<(), StackError> {
        let mut command = Command::new(&self.docker);
        command
            .arg("compose")
            .arg("-f")
            .arg(self.compose_file())
            .args(["-p", PROJECT])
            .args(args)
            .stdin(Stdio::null());
        let shown = format!("docker compose -p {PROJECT} {}", args.join(" "));
        let output = command.output().map_err(|err| StackError::Command {
            command: shown.clone(),
            message: err.to_string(),
        })?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(StackError::Command {
            command: shown,
            message: stderr.lines().last().unwrap_or("no output").to_owned(),
        })
    }

    fn status_of(&self, service: Service) -> ServiceStatus {
        let health = if probe::answers(&self.ports, service) {
            Health::Healthy
        } else {
            Health::Stopped
        };
        ServiceStatus {
            service,
            health,
            ports: self.ports.of(service),
            endpoint: self.ports.endpoint(service),
            pid: None,
            detail: None,
        }
    }

    pub fn status(&self) -> Vec<ServiceStatus> {
        Service::ALL
            .iter()
            .map(|&service| self.status_of(service))
            .collect()
    }

    /// Writes the compose file, starts the project and waits up to `timeout` for every service
    /// to answer.
    pub fn up(
        &self,
        timeout: Duration,
        progress: &mut dyn FnMut(&ServiceStatus),
    ) -> Result<Vec<ServiceStatus>, StackError> {
        std::fs::create_dir_all(&self.dev_dir).map_err(io_error(&self.dev_dir))?;
        write(&self.compose_file(), &self.render())?;
        write(
            &self.dev_dir.join("postgres-init.sql"),
            "CREATE DATABASE marquez;\n",
        )?;
        self.compose(&["up", "--detach", "--remove-orphans"])?;
        let deadline = Instant::now() + timeout;
        let mut statuses = Vec::new();
        for service in Service::ALL {
            let mut status = self.status_of(service);
            while status.health != Health::Healthy && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(250));
                status = self.status_of(service);
            }
            if status.health != Health::Healthy {
                status.health = Health::Failed;
                status.detail = Some(format!(
                    "did not answer in time; see `docker compose -p {PROJECT} logs`"
                ));
            }
            progress(&status);
            statuses.push(status);
        }
        Ok(statuses)
    }

    /// Stops the project; with `volumes`, removes its volumes and files too.
    pub fn down(&self, volumes: bool) -> Result<Vec<ServiceStatus>, StackError> {
        if self.compose_file().exists() {
            let mut args = vec!["down"];
            if volumes {
                args.push("--volumes");
            }
            self.compose(&args)?;
        }
        if volumes {
            for file in [self.compose_file(), self.dev_dir.join("postgres-init.sql")] {
                match std::fs::remove_file(&file) {
                    Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                        return Err(io_error(&file)(err));
                    }
                    _ => {}
                }
            }
        }
        Ok(self.status())
    }
}

fn write(path: &Path, contents: &str) -> Result<(), StackError> {
    std::fs::write(path, contents).map_err(io_error(path))
}
