//! `dk build`, `dk publish`, `dk pull`, `dk inspect`: reproducible artifacts in the local OCI
//! layout, pushed to and pulled from a real registry (CNCF distribution on loopback, started by
//! scripts/test-services), checked by skopeo as an independent client.

mod common;

use std::path::Path;

use common::{context, run_ok, run_with};
use dk_test::{TestContext, service};
use serde_json::Value;

fn init(ctx: &TestContext, name: &str) {
    run_ok(ctx, &["init", name, "--runtime", "generic-python"], 0);
}

fn build(ctx: &TestContext, env: &[(&str, &str)], dir: &str, tag: &str) -> Value {
    let result = run_with(ctx, env, &["build", dir, "--tag", tag, "-o", "json"]);
    assert_eq!(result.code, 0, "{}", result.transcript());
    result.json()
}

/// Every file below `dir`, relative, with its contents and whether it is executable.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>, bool)> {
    use std::os::unix::fs::PermissionsExt;
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap().display().to_string();
                let contents = if meta.file_type().is_symlink() {
                    std::fs::read_link(&path)
                        .unwrap()
                        .display()
                        .to_string()
                        .into_bytes()
                } else {
                    std::fs::read(&path).unwrap()
                };
                files.push((relative, contents, meta.permissions().mode() & 0o111 != 0));
            }
        }
    }
    files.sort();
    files
}

fn skopeo(args: &[&str]) -> String {
    let skopeo = service("DK_TEST_SKOPEO", "skopeo").expect("skopeo");
    let output = std::process::Command::new(skopeo)
        .args(args)
        .output()
        .expect("run skopeo");
    assert!(
        output.status.success(),
        "skopeo {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn a_build_is_reproducible_across_checkouts_and_lands_in_a_valid_oci_layout() {
    let ctx = context();
    init(&ctx, "demo");
    let first = build(&ctx, &[], "demo", "v0.1.0");
    let again = build(&ctx, &[], "demo", "v0.1.0");
    assert_eq!(first["digest"], again["digest"]);
    assert_eq!(again["unchanged"], true);

    // Another checkout: another path, other mtimes, caches and a virtualenv lying around.
    let other = ctx.root().join("elsewhere/checkout/demo");
    dk_test::copy_tree(&ctx.work().join("demo"), &other, &[]);
    for entry in std::fs::read_dir(&other).unwrap() {
        let file = std::fs::File::options()
            .write(true)
            .open(entry.unwrap().path())
            .ok();
        if let Some(file) = file {
            file.set_modified(
                std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000),
            )
            .unwrap();
        }
    }
    std::fs::create_dir_all(other.join("__pycache__")).unwrap();
    std::fs::write(other.join("__pycache__/main.cpython-311.pyc"), "cache").unwrap();
    std::fs::create_dir_all(other.join(".venv/bin")).unwrap();
    std::fs::write(other.join(".venv/bin/python"), "venv").unwrap();
    let elsewhere = ctx.root().join("elsewhere-home");
    let home = elsewhere.to_str().unwrap();
    let moved = build(
        &ctx,
        &[("DK_HOME", home)],
        other.to_str().unwrap(),
        "v0.1.0",
    );
    assert_eq!(moved["digest"], first["digest"], "same files, same digest");

    // SOURCE_DATE_EPOCH changes every entry's time, so the digest.
    let dated = run_with(
        &ctx,
        &[("DK_HOME", home), ("SOURCE_DATE_EPOCH", "1700000000")],
        &[
            "build",
            other.to_str().unwrap(),
            "--tag",
            "v0.1.1",
            "-o",
            "json",
        ],
    );
    assert_ne!(
        dated.json()["digest"],
        first["digest"],
        "{}",
        dated.transcript()
    );
    assert!(
        dated
            .stderr
            .contains("tag v0.1.1 disagrees with metadata.version 0.1.0"),
        "{}",
        dated.stderr
    );

    let layout = ctx.dk_home().join("registry");
    assert_eq!(
        std::fs::read_to_string(layout.join("oci-layout")).unwrap(),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "default/demo:v0.1.0"
    );
    let manifest_digest = first["digest"].as_str().unwrap();
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(layout.join("blobs/sha256").join(&manifest_digest[7..])).unwrap(),
    )
    .unwrap();
    assert_eq!(
        manifest["artifactType"],
        "application/vnd.infoblox.dk.package.v1"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.infoblox.dk.config.v1+json"
    );
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 2);
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.created"],
        "1970-01-01T00:00:00Z"
    );
    // Every blob's name is its digest.
    for entry in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let digest = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(&bytes))
        };
        assert_eq!(path.file_name().unwrap().to_str().unwrap(), digest);
    }
    // An independent reader of OCI layouts agrees.
    if service("DK_TEST_SKOPEO", "skopeo").is_some() {
        let raw = skopeo(&[
            "inspect",
            "--raw",
            &format!("oci:{}:default/demo:v0.1.0", layout.display()),
        ]);
        let read: Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(read, manifest);
    }
}

#[test]
fn ignored_files_stay_out_and_tags_must_be_semver() {
    let ctx = context();
    init(&ctx, "demo");
    ctx.write(
        "demo/.dkignore",
        "# local scratch\nscratch/\n*.tmp\n!keep.tmp\n",
    );
    ctx.write("demo/scratch/notes.txt", "x");
    ctx.write("demo/a.tmp", "x");
    ctx.write("demo/keep.tmp", "x");
    ctx.write("demo/.git/HEAD", "ref: refs/heads/main\n");
    ctx.write("demo/__pycache__/x.pyc", "x");
    let dry = run_with(
        &ctx,
        &[],
        &["build", "demo", "--tag", "1.0.0", "--dry-run", "-o", "json"],
    );
    assert_eq!(dry.code, 0, "{}", dry.transcript());
    let report = dry.json();
    let entries: Vec<&str> = report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        entries.contains(&"dk.yaml") && entries.contains(&"keep.tmp"),
        "{entries:?}"
    );
    for ignored in [
        "scratch/notes.txt",
        "a.tmp",
        ".git/HEAD",
        "__pycache__/x.pyc",
    ] {
        assert!(!entries.contains(&ignored), "{ignored} in {entries:?}");
    }
    assert!(
        !ctx.dk_home().join("registry").exists(),
        "a dry run writes nothing"
    );

    let bad = run_with(&ctx, &[], &["build", "demo", "--tag", "latest"]);
    assert_eq!(bad.code, 2, "{}", bad.transcript());
    assert!(
        bad.stderr.contains("not a semantic version"),
        "{}",
        bad.stderr
    );

    // Lint errors stop the build.
    ctx.write(
        "demo/dataset/demo-clean.yaml",
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: DataSet\n",
    );
    let broken = run_with(&ctx, &[], &["build", "demo", "--tag", "v0.1.0"]);
    assert_eq!(broken.code, 1, "{}", broken.transcript());
    assert!(
        broken.stderr.contains("nothing was built"),
        "{}",
        broken.stderr
    );
}

/// Writes a gzip tar with one entry through Python's tarfile (an independent writer that lets a
/// test make what dk never would).
fn evil_layer(ctx: &TestContext, name: &str, kind: &str, path: &str, target: &str) -> Vec<u8> {
    let out = ctx.root().join(format!("{name}.tar.gz"));
    let script = "
import io, sys, tarfile
out, kind, path, target = sys.argv[1:5]
with tarfile.open(out, 'w:gz', format=tarfile.GNU_FORMAT) as tar:
    info = tarfile.TarInfo(path)
    if kind == 'file':
        data = b'pwned'
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        info.type = tarfile.SYMTYPE
        info.linkname = target
        tar.addfile(info)
";
    let status = std::process::Command::new("python3")
        .args(["-c", script, out.to_str().unwrap(), kind, path, target])
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(out).unwrap()
}

/// Puts an artifact with `layer` as its only layer into the local layout under `ref_name`.
fn plant(ctx: &TestContext, ref_name: &str, layer: &[u8]) {
    use sha2::Digest;
    let digest = |bytes: &[u8]| format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)));
    let layout = ctx.dk_home().join("registry");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let d = digest(bytes);
        std::fs::write(blobs.join(&d[7..]), bytes).unwrap();
        d
    };
    let config = br#"{"kind":"Transform","name":"evil","namespace":"default","transform":{}}"#;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.infoblox.dk.package.v1",
        "config": {"mediaType": "application/vnd.infoblox.dk.config.v1+json", "digest": put(config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(layer), "size": layer.len()}],
    });
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(&bytes), "size": bytes.len(),
                        "annotations": {"org.opencontainers.image.ref.name": ref_name}}],
    });
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
}

#[test]
fn pull_refuses_archives_that_escape_and_writes_nothing() {
    let cases = [
        ("traversal", "file", "../escaped.txt", ""),
        ("absolute", "file", "/tmp/dk-absolute-escape.txt", ""),
        ("symlink", "symlink", "link", "../../outside"),
        ("symlink-absolute", "symlink", "link", "/etc/passwd"),
    ];
    for (name, kind, path, target) in cases {
        let ctx = context();
        let layer = evil_layer(&ctx, name, kind, path, target);
        plant(&ctx, "default/evil:v1.0.0", &layer);
        let out = ctx.work().join("out");
        let pulled = run_with(
            &ctx,
            &[],
            &["pull", "evil:v1.0.0", "-d", out.to_str().unwrap()],
        );
        assert_eq!(pulled.code, 1, "{name}: {}", pulled.transcript());
        assert!(
            pulled.stderr.contains("refused"),
            "{name}: {}",
            pulled.stderr
        );
        assert!(!out.exists(), "{name}: nothing is written");
        assert!(!ctx.work().join("escaped.txt").exists());
        let leftovers: Vec<_> = std::fs::read_dir(ctx.work())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().starts_with(".dk-pull"))
            .collect();
        assert!(leftovers.is_empty(), "{name}: staging removed");
    }
    assert!(!Path::new("/tmp/dk-absolute-escape.txt").exists());

    // A blob that does not match its digest is refused too.
    let ctx = context();
    init(&ctx, "demo");
    let built = build(&ctx, &[], "demo", "v0.1.0");
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(
            ctx.dk_home()
                .join("registry/blobs/sha256")
                .join(&built["digest"].as_str().unwrap()[7..]),
        )
        .unwrap(),
    )
    .unwrap();
    let layer = ctx
        .dk_home()
        .join("registry/blobs/sha256")
        .join(&manifest["layers"][1]["digest"].as_str().unwrap()[7..]);
    let mut bytes = std::fs::read(&layer).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&layer, bytes).unwrap();
    // Into a folder with files: a usage error with the way out (it was exit 1, no hint).
    let occupied = run_with(&ctx, &[], &["pull", "demo:v0.1.0"]);
    assert_eq!(occupied.code, 2, "{}", occupied.transcript());
    assert!(
        occupied
            .stderr
            .contains("demo exists and is not empty: dk pull never writes into a folder that has files\nhint: pull into a new folder: dk pull demo:v0.1.0 --to DIR"),
        "{}",
        occupied.stderr
    );
    let pulled = run_with(&ctx, &[], &["pull", "demo:v0.1.0", "-d", "copy"]);
    assert_eq!(pulled.code, 1, "{}", pulled.transcript());
    assert!(
        pulled.stderr.contains("digest mismatch"),
        "{}",
        pulled.stderr
    );
    assert!(!ctx.work().join("copy").exists());
}

#[test]
fn publish_pull_and_inspect_against_a_real_registry() {
    let Some(registry) = service("DK_TEST_REGISTRY", "an OCI registry") else {
        return;
    };
    let ctx = context();
    init(&ctx, "demo");
    // Large enough for a chunked upload; random, so gzip cannot shrink it below the limit.
    let mut big = vec![0u8; 20 << 20];
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for byte in big.iter_mut() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state as u8;
    }
    ctx.write("demo/data/model.bin", &big);
    std::fs::set_permissions(
        ctx.work().join("demo/main.py"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    // A prefix of its own: the registry outlives the test.
    let prefix = format!("{registry}/t{}", std::process::id());
    let built = build(&ctx, &[], "demo", "v0.1.0");

    // In 4 MiB chunks here; in one streamed request below.
    let published = run_with(
        &ctx,
        &[],
        &[
            "publish",
            "demo",
            "--registry",
            &prefix,
            "--config",
            "publish.chunked=true",
            "-o",
            "json",
        ],
    );
    assert_eq!(published.code, 0, "{}", published.transcript());
    let report = published.json();
    assert_eq!(report["outcome"], "pushed");
    assert_eq!(report["digest"], built["digest"]);
    assert_eq!(report["uploadedBlobs"], 3);
    let reference = format!("{prefix}/default/demo:v0.1.0");
    assert_eq!(report["reference"], reference);

    // skopeo reads the same manifest, artifact type and digest.
    if service("DK_TEST_SKOPEO", "skopeo").is_some() {
        let raw = skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ]);
        let manifest: Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(
            manifest["artifactType"],
            "application/vnd.infoblox.dk.package.v1"
        );
        let digest = {
            use sha2::Digest;
            format!(
                "sha256:{}",
                hex::encode(sha2::Sha256::digest(raw.as_bytes()))
            )
        };
        assert_eq!(digest, built["digest"].as_str().unwrap());
    }

    // The same digest again: a no-op.
    let again = run_with(
        &ctx,
        &[],
        &["publish", "demo", "--registry", &prefix, "-o", "json"],
    );
    assert_eq!(
        again.json()["outcome"],
        "already-published",
        "{}",
        again.transcript()
    );

    // Pulled into a fresh home: the exact files, modes included.
    let fresh = ctx.root().join("fresh-home");
    let fresh_home = fresh.to_str().unwrap();
    let out = ctx.work().join("restored");
    let pulled = run_with(
        &ctx,
        &[("DK_HOME", fresh_home)],
        &[
            "pull",
            &reference,
            "-d",
            out.to_str().unwrap(),
            "-o",
            "json",
        ],
    );
    assert_eq!(pulled.code, 0, "{}", pulled.transcript());
    assert_eq!(pulled.json()["digest"], built["digest"]);
    assert_eq!(tree(&out), tree(&ctx.work().join("demo")));
    let streamed = format!("{prefix}-streamed");
    let published = run_with(&ctx, &[], &["publish", "demo", "--registry", &streamed]);
    assert_eq!(published.code, 0, "{}", published.transcript());
    let out = ctx.work().join("restored-streamed");
    let pulled = run_with(
        &ctx,
        &[("DK_HOME", fresh_home)],
        &[
            "pull",
            &format!("{streamed}/default/demo:v0.1.0"),
            "-d",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(pulled.code, 0, "{}", pulled.transcript());
    assert_eq!(tree(&out), tree(&ctx.work().join("demo")));

    let inspected = run_with(
        &ctx,
        &[("DK_HOME", fresh_home)],
        &["inspect", &reference, "-o", "json"],
    );
    assert_eq!(inspected.code, 0, "{}", inspected.transcript());
    let inspected = inspected.json();
    assert_eq!(inspected["digest"], built["digest"]);
    assert_eq!(inspected["config"]["transform"]["metadata"]["name"], "demo");
    assert_eq!(
        inspected["manifest"]["layers"][1]["annotations"]["org.opencontainers.image.title"],
        "content.tar.gz"
    );
    let text = run_with(&ctx, &[("DK_HOME", fresh_home)], &["inspect", &reference]);
    assert!(
        text.stdout
            .contains("Transform default/demo: runtime generic-python"),
        "{}",
        text.stdout
    );

    // A published tag is never replaced locally, not even with --force.
    ctx.write("demo/main.py", "print('changed')\n");
    let forced = run_with(&ctx, &[], &["build", "demo", "--tag", "v0.1.0", "--force"]);
    assert_eq!(forced.code, 1, "{}", forced.transcript());
    assert!(forced.stderr.contains("published to"), "{}", forced.stderr);
    // Changed content under the same tag from another machine is refused, naming both digests.
    let other_home = ctx.root().join("other-home");
    let other = [("DK_HOME", other_home.to_str().unwrap())];
    let rebuilt = run_with(
        &ctx,
        &other,
        &["build", "demo", "--tag", "v0.1.0", "-o", "json"],
    );
    let new_digest = rebuilt.json()["digest"].as_str().unwrap().to_owned();
    let refused = run_with(&ctx, &other, &["publish", "demo", "--registry", &prefix]);
    assert_eq!(refused.code, 1, "{}", refused.transcript());
    assert!(
        refused.stderr.contains(built["digest"].as_str().unwrap()),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains(&new_digest), "{}", refused.stderr);
}

#[test]
fn basic_auth_credentials_come_from_the_docker_config() {
    let (Some(registry), Some(user), Some(password)) = (
        service("DK_TEST_AUTH_REGISTRY", "an OCI registry with basic auth"),
        service("DK_TEST_REGISTRY_USER", "the registry user"),
        service("DK_TEST_REGISTRY_PASSWORD", "the registry password"),
    ) else {
        return;
    };
    let ctx = context();
    init(&ctx, "demo");
    build(&ctx, &[], "demo", "v0.1.0");
    let prefix = format!("{registry}/t{}", std::process::id());

    let anonymous = run_with(&ctx, &[], &["publish", "demo", "--registry", &prefix]);
    assert_eq!(anonymous.code, 3, "{}", anonymous.transcript());
    assert!(
        anonymous.stderr.contains("docker login"),
        "{}",
        anonymous.stderr
    );

    let docker = ctx.root().join("docker-config");
    std::fs::create_dir_all(&docker).unwrap();
    let auth = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    };
    std::fs::write(
        docker.join("config.json"),
        format!(r#"{{"auths": {{"{registry}": {{"auth": "{auth}"}}}}}}"#),
    )
    .unwrap();
    let env = [("DOCKER_CONFIG", docker.to_str().unwrap())];
    let published = run_with(
        &ctx,
        &env,
        &["publish", "demo", "--registry", &prefix, "-o", "json"],
    );
    assert_eq!(published.code, 0, "{}", published.transcript());
    assert!(!published.stdout.contains(&password) && !published.stderr.contains(&password));
    let reference = format!("{prefix}/default/demo:v0.1.0");
    let pulled = run_with(&ctx, &env, &["pull", &reference, "-d", "restored"]);
    assert_eq!(pulled.code, 0, "{}", pulled.transcript());
}

/// The bearer-token flow of ghcr.io and Harbor: the registry answers a `WWW-Authenticate:
/// Bearer` challenge, dk gets a token from the realm with the user's credentials and retries.
#[test]
fn bearer_tokens_are_fetched_from_the_registrys_realm() {
    let (Some(registry), Some(user), Some(password)) = (
        service("DK_TEST_TOKEN_REGISTRY", "an OCI registry with token auth"),
        service("DK_TEST_REGISTRY_USER", "the registry user"),
        service("DK_TEST_REGISTRY_PASSWORD", "the registry password"),
    ) else {
        return;
    };
    let ctx = context();
    init(&ctx, "demo");
    let built = build(&ctx, &[], "demo", "v0.1.0");
    let prefix = format!("{registry}/t{}", std::process::id());
    let anonymous = run_with(&ctx, &[], &["publish", "demo", "--registry", &prefix]);
    assert_eq!(anonymous.code, 3, "{}", anonymous.transcript());
    let env = [
        ("DK_REGISTRY_USER", user.as_str()),
        ("DK_REGISTRY_PASSWORD", password.as_str()),
    ];
    let published = run_with(
        &ctx,
        &env,
        &["publish", "demo", "--registry", &prefix, "-o", "json"],
    );
    assert_eq!(published.code, 0, "{}", published.transcript());
    assert_eq!(published.json()["digest"], built["digest"]);
    assert!(!published.stdout.contains(&password) && !published.stderr.contains(&password));
    let reference = format!("{prefix}/default/demo:v0.1.0");
    let inspected = run_with(&ctx, &env, &["inspect", &reference, "-o", "json"]);
    assert_eq!(inspected.code, 0, "{}", inspected.transcript());
    assert_eq!(inspected.json()["digest"], built["digest"]);
}

/// After an edit, publishing the tag built before the edit is refused, naming what changed:
/// never "already published; nothing to do" while the change is not in it.
#[test]
fn publish_refuses_a_build_the_package_on_disk_has_moved_past() {
    let ctx = context();
    init(&ctx, "demo");
    build(&ctx, &[], "demo", "v0.1.0");
    let registry = service("DK_TEST_REGISTRY", "an OCI registry")
        .map(|registry| format!("{registry}/t{}-drift", std::process::id()));
    let mut publish = vec!["publish", "demo", "-o", "json"];
    if let Some(registry) = &registry {
        publish.extend(["--registry", registry.as_str()]);
    }
    let first = run_with(&ctx, &[], &publish);
    assert_eq!(first.code, 0, "{}", first.transcript());

    let main = ctx.read("demo/main.py");
    ctx.write("demo/main.py", format!("{main}\nprint('changed')\n"));
    ctx.write("demo/extra.py", "x = 1\n");
    std::fs::remove_file(ctx.work().join("demo/README.md")).ok();
    let refused = run_with(&ctx, &[], &publish);
    assert_eq!(refused.code, 1, "{}", refused.transcript());
    assert!(
        refused
            .stderr
            .contains("demo changed since default/demo:v0.1.0 was built: ")
            && refused.stderr.contains("extra.py (added)")
            && refused.stderr.contains("main.py (modified)")
            && refused.stderr.contains("bump metadata.version"),
        "{}",
        refused.stderr
    );
    assert!(!refused.stdout.contains("already"), "{}", refused.stdout);

    // The executable bit alone is a change too.
    std::fs::remove_file(ctx.work().join("demo/extra.py")).unwrap();
    ctx.write("demo/main.py", &main);
    std::fs::set_permissions(
        ctx.work().join("demo/main.py"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mode = run_with(&ctx, &[], &publish);
    assert_eq!(mode.code, 1, "{}", mode.transcript());
    assert!(
        mode.stderr.contains("main.py (mode changed)"),
        "{}",
        mode.stderr
    );
}

/// A registry that is down: publish, inspect and pull say it cannot be reached and why, with a
/// hint, not only "error sending request for url".
#[test]
fn an_unreachable_registry_is_said_plainly() {
    let ctx = context();
    init(&ctx, "demo");
    build(&ctx, &[], "demo", "v0.1.0");
    let registry = format!("127.0.0.1:{}", dk_test::sink::closed_port());
    let reference = format!("{registry}/default/demo:v0.1.0");
    for args in [
        vec!["publish", "demo", "--registry", registry.as_str()],
        vec!["inspect", reference.as_str()],
        vec!["pull", reference.as_str()],
    ] {
        let failed = run_with(&ctx, &[], &args);
        assert_eq!(failed.code, 3, "{}", failed.transcript());
        assert!(
            failed.stderr.starts_with(&format!(
                "error: cannot reach {registry} (connection refused)\nhint: check that the registry at {registry} runs"
            )) && !failed.stderr.contains("error sending request"),
            "{}",
            failed.stderr
        );
    }
}

/// Writes an OCI image layout at `dir` holding one manifest, tagged `v1`, with this
/// `artifactType` (none when `None`) and config media type, for skopeo to copy.
fn foreign_layout(dir: &Path, artifact_type: Option<&str>, config_type: &str) {
    use dk_test::registry::sha256;
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let digest = sha256(bytes);
        std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), bytes).unwrap();
        serde_json::json!({"digest": digest, "size": bytes.len()})
    };
    let config = put(b"{}");
    let layer = put(b"an SBOM, not a package");
    let mut manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": config_type, "digest": config["digest"], "size": config["size"]},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer["digest"], "size": layer["size"]}],
    });
    if let Some(artifact_type) = artifact_type {
        manifest["artifactType"] = artifact_type.into();
    }
    let manifest = put(&serde_json::to_vec(&manifest).unwrap());
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest["digest"],
            "size": manifest["size"],
            "annotations": {"org.opencontainers.image.ref.name": "v1"},
        }],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
}

/// Artifacts that are not dk packages (pushed by skopeo, an independent client), an OCI
/// artifact with an artifactType of its own and an image without one, are refused by
/// `dk inspect` and `dk pull` with their artifactType, and nothing is unpacked.
#[test]
fn inspect_and_pull_say_when_an_artifact_is_not_a_dk_package() {
    let (Some(registry), Some(_)) = (
        service("DK_TEST_REGISTRY", "an OCI registry"),
        service("DK_TEST_SKOPEO", "skopeo"),
    ) else {
        return;
    };
    let ctx = context();
    for (name, artifact_type, config_type, said) in [
        (
            "sbom",
            Some("application/vnd.example.sbom.v1"),
            "application/vnd.oci.empty.v1+json",
            "its artifactType is application/vnd.example.sbom.v1 (config application/vnd.oci.empty.v1+json)",
        ),
        (
            "image",
            None,
            "application/vnd.oci.image.config.v1+json",
            "its artifactType is not set (config application/vnd.oci.image.config.v1+json)",
        ),
    ] {
        let dir = ctx.root().join(format!("layout-{name}"));
        foreign_layout(&dir, artifact_type, config_type);
        let reference = format!("{registry}/t{}-foreign/{name}:v1", std::process::id());
        skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            &format!("oci:{}:v1", dir.display()),
            &format!("docker://{reference}"),
        ]);
        let out = ctx.root().join(format!("out-{name}"));
        for args in [
            vec!["inspect", reference.as_str()],
            vec!["pull", reference.as_str(), "-d", out.to_str().unwrap()],
        ] {
            let refused = run_with(&ctx, &[], &args);
            assert_eq!(refused.code, 2, "{}", refused.transcript());
            assert!(
                refused.stderr.starts_with(&format!(
                    "error: {reference} is not a dk package: {said}; a dk package's is application/vnd.infoblox.dk.package.v1\nhint: "
                )),
                "{}",
                refused.stderr
            );
            assert!(refused.stdout.is_empty(), "{}", refused.stdout);
        }
        assert!(!out.exists(), "nothing unpacked");
    }
}
