//! The production path end to end: `dk gitops init ./g` as `gitops.repo`, `dk publish` to the
//! registry with basic auth, `dk promote` to dev, the `dk-app` chart rendered by Helm with the
//! promoted values, and the rendered pod run for real by `podman kube play` (Podman 4.3, runc,
//! cgroupfs, host network): the init container pulls the package by digest with the registry
//! credentials of the pull Secret, and the main container's `dk run` writes rows into the test
//! PostgreSQL and sends its lineage to a `dk lineage serve` on the host.
//!
//! Podman 4.3's `kube play` runs Pods and Deployments, not Jobs or CronJobs, and differs from a
//! kubelet in a few places; the test translates the rendered objects there and nowhere else
//! (docs/gitops.md says so):
//! - a Job's or CronJob's pod template runs as a Pod of the same spec (backoff, deadline, TTL and
//!   the schedule are checked on the rendered objects only, in tests/gitops.rs);
//! - `emptyDir` becomes a fresh host folder, world-writable as a kubelet makes it: 4.3 turns it
//!   into a named volume shared by every pod that uses the same volume name ([`pod_volumes`]);
//! - a `secret` volume becomes a host folder holding the Secret's items (4.3 crashes on secret
//!   volumes), and a Secret read through `secretKeyRef` is created with `podman secret create`
//!   in the form 4.3 reads, not from the Secret object ([`PlayedPod::start`]);
//! - the Deployment's `restartPolicy` becomes `OnFailure`: under `Always`, 4.3 restarts init
//!   containers that succeeded;
//! - `imagePullSecrets` is left to the kubelet: the dk and runtime images are local here.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine;
use common::{PG_WIRE, render_chart, run_ok, run_with, stop_server, succeed, write_wheel};
use common::{Run, context, counts_on_postgres, fresh_database, lineage_server, pod_spec};
use dk_test::sink::closed_port;
use dk_test::{TestContext, service};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// How long a pod may take from `kube play` to its pipeline's end (or, streaming, to its rows).
const POD_DEADLINE: Duration = Duration::from_secs(180);

/// Everything the flow needs, or `None` (skipped) when a service is missing.
struct Services {
    podman: String,
    /// Podman's configuration here (runc, cgroupfs, host network).
    containers_conf: String,
    runtime_image: String,
    static_dk: String,
    tools: String,
    registry: String,
    user: String,
    password: String,
    postgres: String,
}

fn services() -> Option<Services> {
    Some(Services {
        podman: service("DK_TEST_PODMAN", "podman")?,
        containers_conf: service("CONTAINERS_CONF", "podman")?,
        runtime_image: service("DK_TEST_RUNTIME_IMAGE", "podman")?,
        static_dk: service(
            "DK_TEST_STATIC_DK",
            "the portable dk binary (make build-static)",
        )?,
        tools: service(
            "DK_TEST_TOOLS_BIN",
            "pipeline tools (helm-python-sdk, kubernetes-validate)",
        )?,
        registry: service("DK_TEST_AUTH_REGISTRY", "an OCI registry with basic auth")?,
        user: service("DK_TEST_REGISTRY_USER", "the registry user")?,
        password: service("DK_TEST_REGISTRY_PASSWORD", "the registry password")?,
        postgres: service("DK_TEST_POSTGRES_URL", "PostgreSQL")?,
    })
}

impl Services {
    fn podman(&self) -> Command {
        let mut command = Command::new(&self.podman);
        command.env("CONTAINERS_CONF", &self.containers_conf);
        command
    }

    /// Runs podman and returns its stdout, or panics with what it said.
    fn podman_ok(&self, args: &[&str]) -> String {
        succeed(self.podman().args(args))
    }

    /// Runs podman for cleaning up: whatever is already gone is fine.
    fn podman_quiet(&self, args: &[&str]) {
        let _ = self.podman().args(args).output();
    }
}

/// The dk image of the pods' init containers: the repository's Containerfile on the runtime
/// image with the portable debug binary. Tagged by a digest of its inputs, so a rerun with the
/// same binary reuses it; older tags are removed.
fn dk_image(services: &Services) -> String {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
            let containerfile = std::fs::read(repo.join("Containerfile")).unwrap();
            let binary = std::fs::read(&services.static_dk).expect("read DK_TEST_STATIC_DK");
            let base = services.podman_ok(&[
                "image",
                "inspect",
                "--format",
                "{{.Id}}",
                &services.runtime_image,
            ]);
            let mut hasher = Sha256::new();
            for part in [&containerfile[..], base.trim().as_bytes(), &binary[..]] {
                hasher.update((part.len() as u64).to_be_bytes());
                hasher.update(part);
            }
            let repository = "localhost/dk-test/dk-kube";
            let tag = format!("{repository}:{}", &hex::encode(hasher.finalize())[..16]);
            let exists = services.podman().args(["image", "exists", &tag]).status();
            if !exists.is_ok_and(|status| status.success()) {
                let build = tempfile::tempdir().unwrap();
                std::fs::create_dir_all(build.path().join("bin")).unwrap();
                std::fs::write(build.path().join("Containerfile"), &containerfile).unwrap();
                // A copy keeps the binary executable.
                std::fs::copy(&services.static_dk, build.path().join("bin/dk-static")).unwrap();
                let base_arg = format!("BASE={}", services.runtime_image);
                let dir = build.path().to_str().unwrap();
                services.podman_ok(&[
                    "build",
                    "--quiet",
                    "--build-arg",
                    &base_arg,
                    "-t",
                    &tag,
                    dir,
                ]);
                let listed = services.podman_ok(&[
                    "images",
                    "--format",
                    "{{.Repository}}:{{.Tag}}",
                    repository,
                ]);
                for old in listed.lines().filter(|line| *line != tag) {
                    // Not forced: an image a running pod uses stays.
                    services.podman_quiet(&["rmi", old]);
                }
            }
            tag
        })
        .clone()
}

/// The pipeline: it writes one row (batch), or a row every half second until stopped
/// (streaming), each with the run id and a digest of the password its DSN carried.
fn pipeline(streaming: bool) -> String {
    let streaming = if streaming { "True" } else { "False" };
    format!(
        r#"import hashlib, os, time
from urllib.parse import urlparse, unquote
import pgwire

STREAMING = {streaming}
dsn = urlparse(os.environ["DK_STORE_DSN_WAREHOUSE"])
secret = hashlib.sha256(unquote(dsn.password or "").encode()).hexdigest()
run = os.environ["DK_RUN_ID"]
conn = pgwire.connect(dsn)
pgwire.execute(conn, "CREATE TABLE IF NOT EXISTS public.countries "
    "(country text, customers bigint, run_id text, secret_sha256 text)")
rows = 0
while True:
    pgwire.execute(conn, f"INSERT INTO public.countries VALUES ('GB', {{rows}}, '{{run}}', '{{secret}}')")
    rows += 1
    print(f"wrote {{rows}} rows", flush=True)
    if not STREAMING:
        break
    time.sleep(0.5)
"#
    )
}

/// One test's world: its dk home, a database of its own, a registry namespace of its own with
/// the credentials in a docker config, and a `dk lineage serve` on loopback.
struct World<'a> {
    services: &'a Services,
    ctx: TestContext,
    database: postgres::Config,
    store: String,
    registry: String,
    /// The docker config (`config.json`) with the registry credentials: what `docker login`
    /// leaves, and the pull Secret's `.dockerconfigjson`.
    docker_config: PathBuf,
    /// The password the pipeline's Store reads as `${PGPASSWORD}`, from the package's Secret.
    secret: String,
    lineage: Option<std::process::Child>,
    lineage_url: String,
}

impl<'a> World<'a> {
    fn new(services: &'a Services, database: &str) -> World<'a> {
        let ctx = context();
        let (database, store) = fresh_database(&services.postgres, database);
        let unique = ctx.unique_name();
        let docker_config = ctx.root().join("docker-config");
        std::fs::create_dir_all(&docker_config).unwrap();
        std::fs::write(
            docker_config.join("config.json"),
            docker_config_json(services),
        )
        .unwrap();
        let (server, url) = lineage_server(&ctx, &[], &[]);
        World {
            registry: format!("{}/{unique}", services.registry),
            secret: format!("kube-secret-{unique}"),
            services,
            ctx,
            database,
            store,
            docker_config,
            lineage: Some(server),
            lineage_url: url,
        }
    }

    fn dk(&self, args: &[&str]) -> Run {
        // pip finds the test's wheel in a folder, never on the internet (the index is closed).
        let index = format!("http://127.0.0.1:{}/simple", closed_port());
        let links = self.ctx.root().join("wheels");
        let run = run_with(
            &self.ctx,
            &[
                ("DOCKER_CONFIG", self.docker_config.to_str().unwrap()),
                ("PIP_INDEX_URL", &index),
                ("PIP_RETRIES", "0"),
                ("PIP_FIND_LINKS", links.to_str().unwrap()),
            ],
            args,
        );
        assert_eq!(run.code, 0, "dk {}\n{}", args.join(" "), run.transcript());
        run
    }

    /// A python package `name` writing into this world's database: `spec` lines go under
    /// `spec:`, `mode` is `batch` or `streaming`. With `wheel`, it requires a pure-python wheel
    /// that `dk build` vendors and `dk run` in the pod installs offline, and prints its value.
    fn package(&self, name: &str, mode: &str, spec: &str, wheel: bool) {
        run_ok(
            &self.ctx,
            &["init", name, "--runtime", "generic-python", "--mode", mode],
            0,
        );
        counts_on_postgres(&self.ctx, name, &self.store);
        let manifest = self.ctx.read(format!("{name}/dk.yaml"));
        self.ctx.write(
            format!("{name}/dk.yaml"),
            manifest
                .replace("  version: 0.1.0\n", "  version: 1.0.0\n")
                .replace(
                    &format!("  mode: {mode}\n"),
                    &format!("  mode: {mode}\n{spec}"),
                ),
        );
        self.ctx
            .write(format!("{name}/main.py"), pipeline(mode == "streaming"));
        self.ctx.write(format!("{name}/pgwire.py"), PG_WIRE);
        if wheel {
            write_wheel(&self.ctx.root().join("wheels"), 7);
            self.ctx
                .write(format!("{name}/requirements.txt"), "dkdemo==1.0\n");
            let main = self.ctx.read(format!("{name}/main.py"));
            self.ctx.write(
                format!("{name}/main.py"),
                format!("import dkdemo\nprint(f\"dkdemo {{dkdemo.VALUE}}\", flush=True)\n{main}"),
            );
        }
    }

    /// `dk gitops init ./g` as gitops.repo, `dk build`, `dk publish --registry R`, `dk promote
    /// PKG v1.0.0 --to dev`, then the chart rendered (and validated strictly) with the promoted
    /// values and this world's cluster settings. Returns the digest and the rendered objects.
    fn promote_and_render(&self, name: &str) -> (String, Vec<Value>) {
        let repo = self.ctx.work().join("g");
        if !repo.exists() {
            self.dk(&["gitops", "init", "g"]);
            self.dk(&["config", "set", "gitops.repo", repo.to_str().unwrap()]);
        }
        self.dk(&["build", name, "--tag", "v1.0.0"]);
        let published = self.dk(&[
            "publish",
            name,
            "--tag",
            "v1.0.0",
            "--registry",
            &self.registry,
            "-o",
            "json",
        ]);
        let digest = published.json()["digest"].as_str().unwrap().to_owned();
        let promoted = self.dk(&["promote", name, "v1.0.0", "--to", "dev", "-o", "json"]);
        assert_eq!(promoted.json()["digest"], digest.as_str());
        // gitops.repo accepts pushes to its checked-out main (updateInstead): the values are in
        // its working tree.
        let values = repo.join(format!("envs/dev/cells/c0/apps/{name}/values.yaml"));
        let text = std::fs::read_to_string(&values).unwrap();
        assert!(
            text.contains(&format!("\nregistry: {}\n", self.registry)),
            "{text}"
        );
        let cluster = json!({
            "dk": {"image": dk_image(self.services)},
            "image": self.services.runtime_image,
            "lineage": {"url": self.lineage_url, "namespace": "kube-dev"},
            "imagePullSecrets": [{"name": pull_secret(name)}],
            "secrets": [{"name": "PGPASSWORD"}],
        });
        let docs = render_chart(
            &self.services.tools,
            &repo.join("charts/dk-app"),
            &values,
            "dev",
            "c0",
            cluster,
        );
        assert_eq!(docs.len(), 1, "{docs:?}");
        (digest, docs)
    }

    /// A package promoted and rendered ([`World::package`], [`World::promote_and_render`]): its
    /// one workload, of `kind`, whose init container pulls the promoted digest, which the
    /// registry refuses to pull anonymously (so the pod's pull needs the Secret's credentials).
    fn promoted_workload(
        &self,
        name: &str,
        mode: &str,
        spec: &str,
        wheel: bool,
        kind: &str,
    ) -> Value {
        self.package(name, mode, spec, wheel);
        let (digest, mut docs) = self.promote_and_render(name);
        let workload = docs.remove(0);
        assert_eq!(workload["kind"], kind, "{workload}");
        let pull = &pod_spec(&workload)["initContainers"][0];
        let reference = format!("{}/default/{name}@{digest}", self.registry);
        assert_eq!(pull["command"][4], reference.as_str());
        assert_eq!(pull["env"][0]["name"], "DOCKER_CONFIG");
        let anonymous = run_with(&self.ctx, &[], &["pull", &reference, "-d", "anon"]);
        assert_eq!(anonymous.code, 3, "{}", anonymous.transcript());
        workload
    }

    /// The Secrets the rendered pod names: the pull Secret with the registry credentials and
    /// the package's `dk-<package>` with the Store's password.
    fn secrets(&self, name: &str) -> Vec<Value> {
        let encode = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
        vec![
            json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": pull_secret(name)},
                "type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson": encode(&docker_config_json(self.services))},
            }),
            json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": format!("dk-{name}")},
                "type": "Opaque",
                "data": {"PGPASSWORD": encode(&self.secret)},
            }),
        ]
    }

    /// The events `dk lineage serve` received for the package's job.
    fn events(&self, name: &str) -> Vec<Value> {
        let listed = self.dk(&["lineage", "events", "-o", "json"]);
        listed.json()["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|event| event["event"]["job"]["name"] == name)
            .map(|event| event["event"].clone())
            .collect()
    }

    /// The rows the pipeline wrote: (run id, digest of the password it was given).
    fn rows(&self) -> Vec<(String, String)> {
        let mut client = self
            .database
            .connect(postgres::NoTls)
            .expect("connect to the test database");
        let exists: bool = client
            .query_one("SELECT to_regclass('public.countries') IS NOT NULL", &[])
            .unwrap()
            .get(0);
        if !exists {
            return Vec::new();
        }
        client
            .query("SELECT run_id, secret_sha256 FROM public.countries", &[])
            .expect("read the pipeline's rows")
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect()
    }

    /// The run ids of the rows, each checked to have been given the package Secret's password.
    fn row_runs(&self) -> Vec<String> {
        let expected = hex::encode(Sha256::digest(self.secret.as_bytes()));
        self.rows()
            .into_iter()
            .map(|(run, secret)| {
                assert_eq!(secret, expected, "the Store's password is not the Secret's");
                run
            })
            .collect()
    }
}

impl Drop for World<'_> {
    fn drop(&mut self) {
        if let Some(server) = self.lineage.take() {
            stop_server(server);
        }
    }
}

fn pull_secret(package: &str) -> String {
    format!("{package}-regcred")
}

/// A docker config holding the registry's basic-auth credentials.
fn docker_config_json(services: &Services) -> String {
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", services.user, services.password));
    json!({"auths": {services.registry.as_str(): {"auth": auth}}}).to_string()
}

/// The pod spec as `kube play` can run it: each `emptyDir` a fresh world-writable host folder
/// (as a kubelet makes it; Podman 4.3 makes a named volume that every pod with that volume name
/// shares), each `secret` volume a host folder holding the Secret's items (Podman 4.3 crashes on
/// secret volumes), each `configMap` volume a host folder holding the ConfigMap's data (among
/// `secrets`, the objects rendered beside the workload). Everything else is as rendered.
fn pod_volumes(spec: &Value, secrets: &[Value], dir: &Path) -> Value {
    use std::os::unix::fs::PermissionsExt;
    let mut spec = spec.clone();
    for volume in spec["volumes"].as_array_mut().unwrap() {
        let host = dir.join(volume["name"].as_str().unwrap());
        std::fs::create_dir_all(&host).unwrap();
        if volume.get("emptyDir").is_some() {
            std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o777)).unwrap();
        } else if let Some(source) = volume.get("secret") {
            let secret = secrets
                .iter()
                .find(|secret| secret["metadata"]["name"] == source["secretName"])
                .unwrap_or_else(|| panic!("no Secret {}", source["secretName"]));
            for item in source["items"].as_array().unwrap() {
                let value = secret["data"][item["key"].as_str().unwrap()]
                    .as_str()
                    .unwrap();
                let value = base64::engine::general_purpose::STANDARD
                    .decode(value)
                    .unwrap();
                std::fs::write(host.join(item["path"].as_str().unwrap()), value).unwrap();
            }
        } else if let Some(source) = volume.get("configMap") {
            let map = secrets
                .iter()
                .find(|doc| doc["kind"] == "ConfigMap" && doc["metadata"]["name"] == source["name"])
                .unwrap_or_else(|| panic!("no ConfigMap {}", source["name"]));
            for (key, value) in map["data"].as_object().unwrap() {
                std::fs::write(host.join(key), value.as_str().unwrap()).unwrap();
            }
        } else {
            panic!("a volume the test does not translate: {volume}");
        }
        *volume = json!({
            "name": volume["name"],
            "hostPath": {"path": host, "type": "Directory"},
        });
    }
    spec
}

/// A pod `kube play` started, removed with its Secrets when dropped, even after a failure.
struct PlayedPod<'a> {
    services: &'a Services,
    manifest: PathBuf,
    secrets: Vec<String>,
    /// Podman's name of the pod (a Deployment's pod is `<name>-pod-0`).
    pod: String,
    /// What `kube play` said, for failure messages.
    played: String,
}

impl<'a> PlayedPod<'a> {
    /// Creates the Secrets, then plays `workload` (a Pod or a Deployment) with `kube play`.
    fn start(world: &World<'a>, workload: &Value, secrets: &[Value]) -> PlayedPod<'a> {
        let (pod, started) = PlayedPod::play(world, workload, secrets);
        assert!(
            started,
            "kube play failed, or did not end within {POD_DEADLINE:?}: {}",
            pod.played
        );
        pod
    }

    /// [`PlayedPod::start`] of a Pod whose init containers may fail (kube play then exits
    /// non-zero and leaves the pod): the pod, and whether kube play succeeded.
    fn play(world: &World<'a>, workload: &Value, secrets: &[Value]) -> (PlayedPod<'a>, bool) {
        let services = world.services;
        let name = workload["metadata"]["name"].as_str().unwrap();
        let manifest = world.ctx.root().join(format!("{name}.json"));
        std::fs::write(&manifest, workload.to_string()).unwrap();
        let mut pod = PlayedPod {
            services,
            manifest,
            secrets: Vec::new(),
            pod: String::new(),
            played: String::new(),
        };
        // Left over by a run that was killed: the names are the same each run.
        pod.remove();
        for secret in secrets.iter().filter(|doc| doc["kind"] == "Secret") {
            // Podman 4.3 reads a secretKeyRef from a JSON map of base64 values (a Secret object
            // played by kube play is stored in a form its secretKeyRef cannot read).
            let name = secret["metadata"]["name"].as_str().unwrap().to_owned();
            let file = world.ctx.root().join(format!("{name}.secret.json"));
            std::fs::write(&file, secret["data"].to_string()).unwrap();
            services.podman_quiet(&["secret", "rm", &name]);
            services.podman_ok(&["secret", "create", &name, file.to_str().unwrap()]);
            pod.secrets.push(name);
        }
        // kube play returns once the init containers have run and the main one started: bounded,
        // since an init container that hangs would hold it.
        let mut play = services
            .podman()
            .args(["--runtime", "runc", "kube", "play", "--network", "host"])
            .arg(&pod.manifest)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run podman kube play");
        let deadline = Instant::now() + POD_DEADLINE;
        while play.try_wait().expect("wait for kube play").is_none() {
            if Instant::now() > deadline {
                let _ = play.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let output = play.wait_with_output().expect("wait for kube play");
        pod.played = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let id = pod
            .played
            .lines()
            .skip_while(|line| *line != "Pod:")
            .nth(1)
            .unwrap_or(name)
            .to_owned();
        pod.pod = services
            .podman_ok(&["pod", "inspect", "--format", "{{.Name}}", &id])
            .trim()
            .to_owned();
        (pod, output.status.success())
    }

    /// `podman container inspect --format FORMAT` of the pod's container `name`, empty once the
    /// container is gone.
    fn inspect(&self, name: &str, format: &str) -> String {
        let output = self
            .services
            .podman()
            .args(["container", "inspect", "--format", format])
            .arg(format!("{}-{name}", self.pod))
            .output()
            .expect("run podman container inspect");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// The state of the pod's container `name`: (status, exit code), `None` once it is gone.
    fn state(&self, name: &str) -> Option<(String, i64)> {
        let text = self.inspect(name, "{{.State.Status}} {{.State.ExitCode}}");
        let (status, code) = text.split_once(' ')?;
        Some((status.to_owned(), code.parse().ok()?))
    }

    fn logs(&self, name: &str) -> String {
        let output = self
            .services
            .podman()
            .arg("logs")
            .arg(format!("{}-{name}", self.pod))
            .output()
            .expect("run podman logs");
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }

    /// Waits (bounded) until the main container has exited, and returns its exit code.
    fn wait_for_exit(&self) -> i64 {
        let deadline = Instant::now() + POD_DEADLINE;
        loop {
            if let Some((status, code)) = self.state("run")
                && status == "exited"
            {
                return code;
            }
            assert!(
                Instant::now() < deadline,
                "the pod's main container did not exit within {POD_DEADLINE:?}: {:?}\n{}\n{}",
                self.state("run"),
                self.played,
                self.logs("run")
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn remove(&self) {
        let manifest = self.manifest.to_str().unwrap();
        self.services.podman_quiet(&["kube", "down", manifest]);
        if !self.pod.is_empty() {
            self.services
                .podman_quiet(&["pod", "rm", "--force", "--time", "2", &self.pod]);
        }
        for secret in &self.secrets {
            self.services.podman_quiet(&["secret", "rm", secret]);
        }
    }
}

impl Drop for PlayedPod<'_> {
    fn drop(&mut self) {
        self.remove();
    }
}

/// A Job's or CronJob's pod template as the Pod its controller would create.
fn job_pod(name: &str, template: &Value, secrets: &[Value], dir: &Path) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": template["metadata"]["labels"]},
        "spec": pod_volumes(&template["spec"], secrets, dir),
    })
}

/// The pod ran the pipeline once: exit 0, one row written with the Secret's password by the run
/// whose START and COMPLETE reached the lineage server.
fn assert_ran_once(world: &World, pod: &PlayedPod, name: &str) -> Vec<Value> {
    let code = pod.wait_for_exit();
    let logs = pod.logs("run");
    assert_eq!(code, 0, "dk run in the pod:\n{logs}\n{}", pod.played);
    assert!(logs.contains("wrote 1 rows"), "{logs}");
    let events = world.events(name);
    let types: Vec<&str> = events
        .iter()
        .map(|event| event["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["START", "COMPLETE"], "{events:?}\n{logs}");
    let run = events[0]["run"]["runId"].as_str().unwrap();
    assert_eq!(events[1]["run"]["runId"], run);
    assert_eq!(events[0]["job"]["namespace"], "kube-dev");
    assert_eq!(world.row_runs(), [run], "{logs}");
    events
}

/// A batch package without a schedule renders a Job; its pod template, run as a Pod, pulls the
/// package by digest with the pull Secret's credentials and `dk run`s it: rows and lineage.
#[test]
fn a_promoted_jobs_pod_pulls_by_digest_and_runs_with_lineage() {
    let Some(services) = services() else {
        return;
    };
    let world = World::new(&services, "dk_kube_job");
    let name = "kube-batch";
    let job = world.promoted_workload(name, "batch", "", true, "Job");
    let template = &job["spec"]["template"];
    let secrets = world.secrets(name);
    let pod_name = job["metadata"]["name"].as_str().unwrap();
    let dir = world.ctx.root().join("volumes");
    let manifest = job_pod(pod_name, template, &secrets, &dir);
    // A kubelet may run the init containers again over the emptyDir an earlier attempt filled
    // (a re-created sandbox): the pull must still work, and only the fresh pull runs.
    let stale = dir.join("workspace/pkg");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(
        stale.join("main.py"),
        "raise SystemExit('the stale package ran')\n",
    )
    .unwrap();
    for path in [&stale, &stale.join("main.py")] {
        std::os::unix::fs::chown(path, Some(10001), Some(10001)).unwrap();
    }
    let pod = PlayedPod::start(&world, &manifest, &secrets);
    assert_ran_once(&world, &pod, name);
    // The vendored wheel, installed offline in the pod: the runtime image has no index to reach.
    let logs = pod.logs("run");
    assert!(logs.contains("dkdemo 7"), "{logs}");
}

/// A scheduled batch package renders a CronJob; its job template's pod, run as a Pod, runs the
/// same way with the schedule passed to `dk run`.
#[test]
fn a_promoted_cronjobs_pod_runs_with_its_schedule() {
    let Some(services) = services() else {
        return;
    };
    let world = World::new(&services, "dk_kube_cron");
    let name = "kube-nightly";
    let schedule = "  schedule:\n    cron: \"0 2 * * *\"\n    timezone: Europe/Berlin\n";
    let cron = world.promoted_workload(name, "batch", schedule, false, "CronJob");
    assert_eq!(cron["spec"]["schedule"], "0 2 * * *");
    let template = &cron["spec"]["jobTemplate"]["spec"]["template"];
    let secrets = world.secrets(name);
    let pod_name = format!("{}-manual", cron["metadata"]["name"].as_str().unwrap());
    let dir = world.ctx.root().join("volumes");
    let pod = PlayedPod::start(
        &world,
        &job_pod(&pod_name, template, &secrets, &dir),
        &secrets,
    );
    let events = assert_ran_once(&world, &pod, name);
    let env = pod.inspect("run", "{{json .Config.Env}}");
    for variable in ["DK_SCHEDULE=0 2 * * *", "DK_TIMEZONE=Europe/Berlin"] {
        assert!(env.contains(variable), "{variable} not in {env}");
    }
    assert_eq!(events[0]["eventType"], "START");
    // No DK_NOMINAL_TIME in a CronJob's pod: dk run works it out as the latest 02:00 Berlin time
    // not after its own start.
    let started = chrono::DateTime::parse_from_rfc3339(events[0]["eventTime"].as_str().unwrap())
        .unwrap()
        .to_utc();
    let expected = dk_runner::schedule::Schedule::new("0 2 * * *", Some("Europe/Berlin"))
        .unwrap()
        .nominal_time(started)
        .unwrap();
    let nominal = &events[0]["run"]["facets"]["nominalTime"]["nominalStartTime"];
    let nominal = chrono::DateTime::parse_from_rfc3339(nominal.as_str().unwrap()).unwrap();
    assert_eq!(nominal.to_utc(), expected, "{}", events[0]);
}

/// A streaming package renders a Deployment; `kube play` runs it and it stays up: its init
/// containers finished, its main container keeps running, writes rows and has sent START.
#[test]
fn a_promoted_streaming_deployment_stays_up() {
    let Some(services) = services() else {
        return;
    };
    let world = World::new(&services, "dk_kube_stream");
    let name = "kube-stream";
    let mut workload = world.promoted_workload(name, "streaming", "", false, "Deployment");
    let secrets = world.secrets(name);
    let dir = world.ctx.root().join("volumes");
    workload["spec"]["template"]["spec"] = pod_volumes(pod_spec(&workload), &secrets, &dir);
    // Podman 4.3 applies a Deployment's restart policy (Always) to init containers too: it
    // restarts them after they succeed, and then fails to remove them. A kubelet runs each once;
    // OnFailure does that here and still restarts a failed container.
    workload["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure".into();
    let pod = PlayedPod::start(&world, &workload, &secrets);

    let deadline = Instant::now() + POD_DEADLINE;
    let run = loop {
        let state = pod.state("run");
        if let Some((status, _)) = &state {
            assert_eq!(status, "running", "{}\n{}", pod.played, pod.logs("run"));
        }
        let events = world.events(name);
        let runs = world.row_runs();
        if let Some(start) = events.first()
            && runs.len() >= 3
        {
            assert_eq!(start["eventType"], "START", "{events:?}");
            let run = start["run"]["runId"].as_str().unwrap().to_owned();
            assert!(runs.iter().all(|row| *row == run), "{runs:?} {run}");
            break run;
        }
        assert!(
            Instant::now() < deadline,
            "no START and rows within {POD_DEADLINE:?}: {state:?}\n{}\n{}",
            pod.played,
            pod.logs("run")
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    // Still up: the init containers are done, the pipeline keeps writing.
    let written = world.row_runs().len();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        pod.state("run").map(|(status, _)| status).as_deref(),
        Some("running")
    );
    // Podman removes an init container once it succeeded; one still there must have exited 0.
    for init in ["pull", "dk-binary"] {
        if let Some((status, code)) = pod.state(init) {
            assert_eq!((status.as_str(), code), ("exited", 0), "{init}");
        }
    }
    let runs = world.row_runs();
    assert!(runs.len() > written, "the pipeline stopped writing");
    assert!(runs.iter().all(|row| *row == run), "{runs:?} {run}");
}

/// The cluster verifies too: with a policy requiring the release key in dev, `dk promote` writes
/// the key into the values and the chart's `verify` init container checks the pinned digest
/// against it before anything is pulled. The signed artifact's pod verifies and runs; a values
/// file pointed at an unsigned artifact (merged past dk's gate by hand) stops in `verify`, with
/// what is missing, and its pipeline never runs.
#[test]
fn the_verify_init_container_refuses_an_unsigned_artifact() {
    let Some(services) = services() else {
        return;
    };
    let world = World::new(&services, "dk_kube_verify");
    let name = "kube-signed";
    world.package(name, "batch", "", false);
    let repo = world.ctx.work().join("g");
    world.dk(&["gitops", "init", "g"]);
    world.dk(&["config", "set", "gitops.repo", repo.to_str().unwrap()]);
    world.dk(&["key", "generate", "release"]);
    let public = std::fs::read_to_string(world.ctx.work().join("release.pub")).unwrap();
    std::fs::create_dir_all(repo.join("keys")).unwrap();
    std::fs::write(repo.join("keys/release.pub"), public).unwrap();
    std::fs::write(
        repo.join("policy.yaml"),
        "environments:\n  dev:\n    requireSignature: [keys/release.pub]\n",
    )
    .unwrap();
    let git = |args: &[&str]| succeed(Command::new("git").arg("-C").arg(&repo).args(args));
    git(&["add", "-A"]);
    git(&[
        "-c",
        "user.name=kube",
        "-c",
        "user.email=kube@example.com",
        "commit",
        "-qm",
        "dev needs the release key",
    ]);

    world.dk(&["build", name, "--tag", "v1.0.0"]);
    world.dk(&[
        "sign",
        &format!("default/{name}:v1.0.0"),
        "--key",
        "release.key",
    ]);
    let published = world.dk(&[
        "publish",
        name,
        "--tag",
        "v1.0.0",
        "--registry",
        &world.registry,
        "-o",
        "json",
    ]);
    let digest = published.json()["digest"].as_str().unwrap().to_owned();
    let promoted = world.dk(&["promote", name, "v1.0.0", "--to", "dev", "-o", "json"]);
    assert_eq!(promoted.json()["verified"]["required"], true);
    let values = repo.join(format!("envs/dev/cells/c0/apps/{name}/values.yaml"));
    let render = |values: &Path| {
        let cluster = json!({
            "dk": {"image": dk_image(&services)},
            "image": services.runtime_image,
            "lineage": {"url": world.lineage_url, "namespace": "kube-dev"},
            "imagePullSecrets": [{"name": pull_secret(name)}],
            "secrets": [{"name": "PGPASSWORD"}],
        });
        render_chart(
            &services.tools,
            &repo.join("charts/dk-app"),
            values,
            "dev",
            "c0",
            cluster,
        )
    };
    let play = |docs: Vec<Value>, pod_name: &str| {
        let job = docs
            .iter()
            .find(|doc| doc["kind"] == "Job")
            .unwrap()
            .clone();
        assert_eq!(pod_spec(&job)["initContainers"][0]["name"], "verify");
        let mut objects = world.secrets(name);
        objects.extend(docs.into_iter().filter(|doc| doc["kind"] == "ConfigMap"));
        let dir = world.ctx.root().join(format!("volumes-{pod_name}"));
        let manifest = job_pod(pod_name, &job["spec"]["template"], &objects, &dir);
        PlayedPod::play(&world, &manifest, &objects)
    };

    let (pod, started) = play(render(&values), "kube-signed-v1");
    assert!(started, "{}\n{}", pod.played, pod.logs("verify"));
    // Podman removes init containers that succeeded: that the pipeline ran after `verify` (the
    // first init container) is the proof it verified.
    assert_ran_once(&world, &pod, name);
    drop(pod);

    // v1.1.0 published unsigned; its digest written into the values past dk promote.
    let manifest = world.ctx.read(format!("{name}/dk.yaml"));
    world.ctx.write(
        format!("{name}/dk.yaml"),
        manifest.replace("  version: 1.0.0\n", "  version: 1.1.0\n"),
    );
    world.dk(&["build", name, "--tag", "v1.1.0"]);
    let unsigned = world.dk(&[
        "publish",
        name,
        "--tag",
        "v1.1.0",
        "--registry",
        &world.registry,
        "-o",
        "json",
    ]);
    let unsigned = unsigned.json()["digest"].as_str().unwrap().to_owned();
    let bypassed = world.ctx.root().join("bypassed.yaml");
    let text = std::fs::read_to_string(&values).unwrap();
    std::fs::write(&bypassed, text.replace(&digest, &unsigned)).unwrap();
    let (pod, started) = play(render(&bypassed), "kube-signed-v2");
    assert!(
        !started,
        "an unsigned artifact's pod started: {}",
        pod.played
    );
    let refused = pod.logs("verify");
    assert!(
        refused.contains("no signature"),
        "{refused}\n{}",
        pod.played
    );
    assert_eq!(
        pod.state("verify").map(|(_, code)| code),
        Some(1),
        "{refused}"
    );
    assert_ne!(
        pod.state("run").map(|(status, _)| status).as_deref(),
        Some("exited"),
        "the pipeline ran"
    );
    assert_eq!(world.row_runs().len(), 1, "only the signed run wrote");
}
