//! The compose runtime: the FAQ's stack in Docker containers — Redpanda (Kafka), MinIO,
//! PostgreSQL and Marquez with its web UI — from `$DK_HOME/dev/compose.yaml`, run as project
//! `dk`. Image tags are pinned and overridden by `dev.charts.<name>.version`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::catalog::{
    BUCKETS, CustomService, POSTGRES_DATABASE, POSTGRES_PASSWORD, POSTGRES_USER, Ports,
    S3_ACCESS_KEY, S3_SECRET_KEY, check_custom, custom_image, pinned_image,
};
use crate::probe;
use crate::process::{remove_file, run_tool};
use crate::status::{ServiceStatus, StackError};

/// The compose project name.
pub const PROJECT: &str = "dk";

/// Whether `docker compose` exists: Docker without its compose plugin answers `docker info`
/// all the same.
pub fn plugin_answers(docker: &Path) -> bool {
    run_tool(
        Command::new(docker).args(["compose", "version"]),
        "docker compose version",
    )
    .is_ok()
}

#[derive(Debug, Clone)]
pub struct ComposeStack {
    /// `$DK_HOME/dev`.
    pub dev_dir: PathBuf,
    pub ports: Ports,
    /// `dev.charts.<name>.version` overrides of the pinned tags.
    pub versions: BTreeMap<String, String>,
    /// The `docker` program.
    pub docker: PathBuf,
    /// The user's own services, run beside the stack's.
    pub custom: Vec<CustomService>,
}

impl ComposeStack {
    pub fn compose_file(&self) -> PathBuf {
        self.dev_dir.join("compose.yaml")
    }

    fn image(&self, chart: &str) -> String {
        let (image, tag) = pinned_image(chart, &self.versions);
        format!("{image}:{tag}")
    }

    /// The compose file: loopback-only ports, named volumes, Marquez in its own database, and
    /// the user's services.
    pub fn render(&self) -> String {
        let mut custom = String::new();
        for service in &self.custom {
            if let Some(image) = custom_image(service) {
                // A JSON string is a YAML scalar: nothing in the image can break the file.
                let image = serde_json::Value::from(image);
                custom += &format!("  {}:\n    image: {image}\n", service.name);
            }
        }
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
  minio-buckets:
    image: {mc}
    entrypoint: ["/bin/sh", "-c"]
    command:
      - >-
        until mc alias set stack http://minio:9000 {S3_ACCESS_KEY} {S3_SECRET_KEY}; do sleep 1; done
        && mc mb --ignore-existing {buckets}
    depends_on: [minio]
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
{custom}volumes:
  redpanda: {{}}
  minio: {{}}
  postgres: {{}}
"#,
            redpanda = self.image("redpanda"),
            minio = self.image("minio"),
            mc = self.image("mc"),
            buckets = BUCKETS.map(|bucket| format!("stack/{bucket}")).join(" "),
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
        run_tool(
            Command::new(&self.docker)
                .arg("compose")
                .arg("-f")
                .arg(self.compose_file())
                .args(["-p", PROJECT])
                .args(args),
            &format!("docker compose -p {PROJECT} {}", args.join(" ")),
        )
    }

    pub fn status(&self) -> Vec<ServiceStatus> {
        probe::probe_all(&self.ports)
    }

    /// Writes the compose file, starts the project, calls `started` and waits up to `timeout`
    /// for every service to answer.
    pub fn up(
        &self,
        timeout: Duration,
        started: &dyn Fn() -> Result<(), StackError>,
        progress: &mut dyn FnMut(&ServiceStatus),
    ) -> Result<Vec<ServiceStatus>, StackError> {
        check_custom(&self.custom, "image")?;
        dk_fs::write_atomic(&self.compose_file(), self.render().as_bytes())?;
        dk_fs::write_atomic(
            &self.dev_dir.join("postgres-init.sql"),
            b"CREATE DATABASE marquez;\n",
        )?;
        self.compose(&["up", "--detach", "--remove-orphans"])?;
        started()?;
        Ok(probe::await_healthy(
            &self.ports,
            timeout,
            &format!("see `docker compose -p {PROJECT} logs`"),
            progress,
        ))
    }

    /// Stops the project; with `volumes`, removes its volumes and files too. Without the compose
    /// plugin nothing of the project can run, so there is nothing to stop.
    pub fn down(&self, volumes: bool) -> Result<Vec<ServiceStatus>, StackError> {
        if self.compose_file().exists() && plugin_answers(&self.docker) {
            let mut args = vec!["down"];
            if volumes {
                args.push("--volumes");
            }
            self.compose(&args)?;
        }
        if volumes {
            for file in [self.compose_file(), self.dev_dir.join("postgres-init.sql")] {
                remove_file(&file)?;
            }
        }
        Ok(self.status())
    }
}
