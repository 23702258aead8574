//! The k3d runtime: the FAQ's stack on a local Kubernetes cluster, `dk-local`, from Helm charts
//! embedded in dk (Redpanda, MinIO, PostgreSQL, Marquez), reached through `kubectl port-forward`
//! on the FAQ's loopback ports. `dev.charts.<name>.version` sets a chart's image tag and
//! `dev.charts.<name>.values.<path>` any of its values.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::catalog::{
    BUCKETS, CustomService, POSTGRES_DATABASE, POSTGRES_PASSWORD, POSTGRES_USER, Ports,
    S3_ACCESS_KEY, S3_SECRET_KEY, TOPICS, check_custom, pinned_image,
};
use crate::process::{
    recorded_pid, remove_dir, remove_file, run_tool, spawn_logged, stop_recorded,
};
use crate::status::{ServiceStatus, StackError};
use crate::{ports, probe};

pub const CLUSTER: &str = "dk-local";
/// The kubeconfig context k3d creates for the cluster.
pub const CONTEXT: &str = "k3d-dk-local";
pub const NAMESPACE: &str = "dk";

macro_rules! chart {
    ($name:literal) => {
        (
            $name,
            &[
                (
                    "Chart.yaml",
                    include_str!(concat!("../charts/", $name, "/Chart.yaml")),
                ),
                (
                    "values.yaml",
                    include_str!(concat!("../charts/", $name, "/values.yaml")),
                ),
                (
                    concat!("templates/", $name, ".yaml"),
                    include_str!(concat!("../charts/", $name, "/templates/", $name, ".yaml")),
                ),
            ],
        )
    };
}

/// The embedded charts, in install order (Marquez needs PostgreSQL), with their files.
pub const CHARTS: [(&str, &[(&str, &str)]); 4] = [
    chart!("postgres"),
    chart!("minio"),
    chart!("redpanda"),
    chart!("marquez"),
];

/// What `kubectl port-forward` forwards: the Kubernetes service and (local, remote) ports.
fn forwards(ports: &Ports) -> [(&'static str, Vec<(u16, u16)>); 5] {
    [
        ("postgres", vec![(ports.postgres, 5432)]),
        ("minio", vec![(ports.s3, 9000), (ports.s3_console, 9001)]),
        ("redpanda", vec![(ports.kafka, 9092)]),
        ("marquez", vec![(ports.lineage, 5000)]),
        ("marquez-web", vec![(ports.lineage_web, 3000)]),
    ]
}

/// A timeout as k3d and Helm take it, in whole seconds (at least one).
fn helm_duration(timeout: Duration) -> String {
    format!("{}s", timeout.as_secs().max(1))
}

/// A values file: JSON is YAML, so Helm reads it as one.
fn values_text(values: &Value) -> String {
    format!(
        "# Written by `dk dev up --runtime k3d`; regenerated on every `up`.\n{}\n",
        serde_json::to_string_pretty(values).expect("JSON values")
    )
}

#[derive(Debug, Clone)]
pub struct K3dStack {
    /// `$DK_HOME/dev`.
    pub dev_dir: PathBuf,
    pub ports: Ports,
    /// `dev.charts.<name>.version`: image tags.
    pub versions: BTreeMap<String, String>,
    /// `dev.charts.<name>.values`: the user's Helm values, applied after dk's.
    pub values: BTreeMap<String, Value>,
    pub k3d: PathBuf,
    pub helm: PathBuf,
    pub kubectl: PathBuf,
    /// The user's own charts, installed after the stack's.
    pub custom: Vec<CustomService>,
}

impl K3dStack {
    fn dir(&self) -> PathBuf {
        self.dev_dir.join("k3d")
    }

    pub fn chart_dir(&self, chart: &str) -> PathBuf {
        self.dir().join("charts").join(chart)
    }

    /// dk's values of a chart, and the user's (written when there are any).
    pub fn values_files(&self, chart: &str) -> (PathBuf, PathBuf) {
        let dir = self.dir().join("values");
        (
            dir.join(format!("{chart}.yaml")),
            dir.join(format!("{chart}.user.yaml")),
        )
    }

    fn image(&self, chart: &str) -> Value {
        let (repository, tag) = pinned_image(chart, &self.versions);
        json!({"repository": repository, "tag": tag})
    }

    /// The values dk gives a chart: images, credentials, buckets, topics, ports.
    pub fn values(&self, chart: &str) -> Value {
        match chart {
            "postgres" => json!({
                "image": self.image("postgres"),
                "auth": {"username": POSTGRES_USER, "password": POSTGRES_PASSWORD, "database": POSTGRES_DATABASE},
                "extraDatabases": ["marquez"],
            }),
            "minio" => json!({
                "image": self.image("minio"),
                "mc": self.image("mc"),
                "auth": {"rootUser": S3_ACCESS_KEY, "rootPassword": S3_SECRET_KEY},
                "buckets": BUCKETS,
            }),
            "redpanda" => json!({
                "image": self.image("redpanda"),
                "advertisedPort": self.ports.kafka,
                "topics": TOPICS,
            }),
            "marquez" => json!({
                "image": self.image("marquez"),
                "web": {"image": self.image("marquez-web")},
                "database": {"user": POSTGRES_USER, "password": POSTGRES_PASSWORD},
            }),
            other => unreachable!("no chart {other}"),
        }
    }

    fn write_charts(&self) -> Result<(), StackError> {
        for service in &self.custom {
            let (_, theirs) = self.values_files(&service.name);
            match &service.values {
                Some(values) => dk_fs::write_atomic(&theirs, values_text(values).as_bytes())?,
                None => remove_file(&theirs)?,
            }
        }
        for (chart, files) in CHARTS {
            let dir = self.chart_dir(chart);
            for (name, contents) in files {
                dk_fs::write_atomic(&dir.join(name), contents.as_bytes())?;
            }
            let (ours, theirs) = self.values_files(chart);
            dk_fs::write_atomic(&ours, values_text(&self.values(chart)).as_bytes())?;
            match self.values.get(chart) {
                Some(values) => dk_fs::write_atomic(&theirs, values_text(values).as_bytes())?,
                None => remove_file(&theirs)?,
            }
        }
        Ok(())
    }

    fn tool(&self, program: &Path, name: &str, args: &[String]) -> Result<(), StackError> {
        run_tool(
            Command::new(program).args(args),
            &format!("{name} {}", args.join(" ")),
        )
    }

    fn k3d(&self, args: &[&str]) -> Result<(), StackError> {
        let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
        self.tool(&self.k3d, "k3d", &args)
    }

    fn cluster_exists(&self) -> bool {
        self.k3d(&["cluster", "get", CLUSTER]).is_ok()
    }

    /// `helm upgrade --install` of an embedded chart, with dk's values then the user's.
    fn install(&self, chart: &str, timeout: Duration) -> Result<(), StackError> {
        let (ours, theirs) = self.values_files(chart);
        let mut args = vec!["--values".to_owned(), ours.display().to_string()];
        if self.values.contains_key(chart) {
            args.extend(["--values".to_owned(), theirs.display().to_string()]);
        }
        self.helm_install(
            chart,
            &self.chart_dir(chart).display().to_string(),
            args,
            timeout,
        )
    }

    /// `helm upgrade --install` of a custom service's chart, at its version, with its values.
    fn install_custom(&self, service: &CustomService, timeout: Duration) -> Result<(), StackError> {
        let mut args = Vec::new();
        if let Some(version) = &service.version {
            args.extend(["--version".to_owned(), version.clone()]);
        }
        if service.values.is_some() {
            let (_, theirs) = self.values_files(&service.name);
            args.extend(["--values".to_owned(), theirs.display().to_string()]);
        }
        let chart = service.chart.as_deref().unwrap_or_default();
        self.helm_install(&service.name, chart, args, timeout)
    }

    fn helm_install(
        &self,
        release: &str,
        chart: &str,
        options: Vec<String>,
        timeout: Duration,
    ) -> Result<(), StackError> {
        let mut args = vec![
            "upgrade".to_owned(),
            "--install".to_owned(),
            release.to_owned(),
            chart.to_owned(),
            "--kube-context".to_owned(),
            CONTEXT.to_owned(),
            "--namespace".to_owned(),
            NAMESPACE.to_owned(),
            "--create-namespace".to_owned(),
        ];
        args.extend(options);
        args.extend([
            "--wait".to_owned(),
            "--timeout".to_owned(),
            helm_duration(timeout),
        ]);
        self.tool(&self.helm, "helm", &args)
    }

    fn forward_files(&self, service: &str) -> (PathBuf, PathBuf) {
        let name = format!("port-forward-{service}");
        (
            self.dev_dir.join("logs").join(format!("{name}.log")),
            self.dev_dir.join("pids").join(format!("{name}.pid")),
        )
    }

    /// Starts the port-forwards that are not running. A local port someone else holds fails
    /// the whole `up`, naming its owner.
    fn forward(&self) -> Result<(), StackError> {
        for (service, pairs) in forwards(&self.ports) {
            let (log, pid_file) = self.forward_files(service);
            if recorded_pid(&pid_file).is_some() {
                continue;
            }
            if let Some(&(port, _)) = pairs.iter().find(|(port, _)| probe::listening(*port)) {
                return Err(StackError::Command {
                    command: format!("kubectl port-forward service/{service}"),
                    message: ports::describe_owner(port),
                });
            }
            let mut command = Command::new(&self.kubectl);
            command
                .args(["--context", CONTEXT, "--namespace", NAMESPACE])
                .args(["port-forward", "--address", "127.0.0.1"])
                .arg(format!("service/{service}"))
                .args(
                    pairs
                        .iter()
                        .map(|(local, remote)| format!("{local}:{remote}")),
                );
            spawn_logged(command, "kubectl port-forward", &log, &pid_file).map_err(|message| {
                StackError::Command {
                    command: format!("kubectl port-forward service/{service}"),
                    message,
                }
            })?;
        }
        Ok(())
    }

    pub fn status(&self) -> Vec<ServiceStatus> {
        probe::probe_all(&self.ports)
    }

    /// Creates (or starts) the cluster, calls `started`, installs or upgrades every chart,
    /// forwards the ports and waits up to `timeout` for every service to answer.
    pub fn up(
        &self,
        timeout: Duration,
        started: &dyn Fn() -> Result<(), StackError>,
        progress: &mut dyn FnMut(&ServiceStatus),
    ) -> Result<Vec<ServiceStatus>, StackError> {
        check_custom(&self.custom, "chart")?;
        self.write_charts()?;
        let wait = helm_duration(timeout);
        if self.cluster_exists() {
            self.k3d(&["cluster", "start", CLUSTER, "--wait", "--timeout", &wait])?;
        } else {
            // The user's current context stays theirs: dk always names the context.
            self.k3d(&[
                "cluster",
                "create",
                CLUSTER,
                "--kubeconfig-update-default",
                "--kubeconfig-switch-context=false",
                "--wait",
                "--timeout",
                &wait,
            ])?;
        }
        started()?;
        for (chart, _) in CHARTS {
            self.install(chart, timeout)?;
        }
        for service in &self.custom {
            self.install_custom(service, timeout)?;
        }
        self.forward()?;
        Ok(probe::await_healthy(
            &self.ports,
            timeout,
            &format!("see `kubectl --context {CONTEXT} -n {NAMESPACE} get pods`"),
            progress,
        ))
    }

    /// Stops the port-forwards and the cluster (its volumes survive); with `volumes`, deletes the
    /// cluster and dk's files of it.
    pub fn down(&self, volumes: bool) -> Result<Vec<ServiceStatus>, StackError> {
        for (service, _) in forwards(&self.ports) {
            let (log, pid_file) = self.forward_files(service);
            // A stranger under a stale pid is left running.
            stop_recorded(&pid_file)?;
            if volumes {
                remove_file(&log)?;
            }
        }
        if self.dir().exists() && self.cluster_exists() {
            let action = if volumes { "delete" } else { "stop" };
            self.k3d(&["cluster", action, CLUSTER])?;
        }
        if volumes {
            remove_dir(&self.dir())?;
        }
        Ok(self.status())
    }
}
