//! Signed provenance: `dk build` records SLSA v1 provenance beside the artifact, `dk sign`
//! signs it and the artifact as DSSE envelopes, `dk publish`/`dk pull` carry them under the OCI
//! referrers tag schema, and `dk verify` (and independent Python verifiers) check them.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{context, git_repository, run_ok, run_ok_with, run_with};
use dk_package::layout::{Descriptor, Layout};
use dk_test::{TestContext, service};
use dk_trust::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use dk_trust::provenance::Statement;
use dk_trust::{Attachments, Kind, attach};
use serde_json::Value;

const REF: &str = "default/demo:v1.0.0";
const PROVENANCE: &str = "https://slsa.dev/provenance/v1";
const SIGNATURE: &str = "https://datakit.dev/signature/v1";

/// demo, in a git repository, built as v1.0.0. Its digest.
fn built(ctx: &TestContext) -> String {
    run_ok(ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    git_repository(&ctx.work().join("demo"), "https://git.example/org/demo.git");
    build(ctx, &[], "v1.0.0")
}

fn build(ctx: &TestContext, env: &[(&str, &str)], tag: &str) -> String {
    let report = run_ok_with(ctx, env, &["build", "demo", "--tag", tag, "-o", "json"], 0);
    report.json()["digest"].as_str().unwrap().to_owned()
}

/// `dk key generate NAME` in the working directory: NAME.key and NAME.pub.
fn key(ctx: &TestContext, name: &str, env: &[(&str, &str)], args: &[&str]) -> (PathBuf, PathBuf) {
    let mut all = vec!["key", "generate", name, "-q"];
    all.extend_from_slice(args);
    run_ok_with(ctx, env, &all, 0);
    (
        ctx.work().join(format!("{name}.key")),
        ctx.work().join(format!("{name}.pub")),
    )
}

fn verify(ctx: &TestContext, reference: &str, keys: &[&Path], extra: &[&str]) -> common::Run {
    let mut args = vec!["verify".to_owned(), reference.to_owned()];
    for key in keys {
        args.extend(["--key".to_owned(), key.display().to_string()]);
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args.extend(["-o".to_owned(), "json".to_owned()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_with(ctx, &[], &args)
}

/// The problems `dk verify` listed, asserting it refused (exit 1).
fn refused(run: &common::Run) -> String {
    assert_eq!(run.code, 1, "{}", run.transcript());
    let report = run.json();
    assert_eq!(report["verified"], false);
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

fn layout(ctx: &TestContext) -> Layout {
    Layout::open(&ctx.dk_home().join("registry")).unwrap()
}

fn descriptor(ctx: &TestContext, reference: &str) -> Descriptor {
    layout(ctx).find(reference).unwrap().expect("in the layout")
}

fn attachments(ctx: &TestContext, digest: &str) -> Attachments {
    Attachments::from_layout(&layout(ctx), "default/demo", digest).unwrap()
}

fn statement(envelope: &Envelope) -> Value {
    serde_json::from_slice(&envelope.payload().unwrap()).unwrap()
}

fn git(dir: &Path, args: &[&str]) -> String {
    common::succeed(
        std::process::Command::new("git")
            .args(args)
            .current_dir(dir),
    )
    .trim()
    .to_owned()
}

#[test]
fn build_records_reproducible_slsa_v1_provenance_of_the_git_source() {
    let ctx = context();
    let digest = built(&ctx);
    let attestation = attachments(&ctx, &digest)
        .attestation
        .expect("a provenance");
    assert_eq!(attestation.payload_type, IN_TOTO_PAYLOAD_TYPE);
    assert!(attestation.signatures.is_empty(), "unsigned until dk sign");
    let statement = statement(&attestation);
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(statement["predicateType"], PROVENANCE);
    assert_eq!(statement["subject"][0]["name"], "default/demo");
    assert_eq!(
        statement["subject"][0]["digest"]["sha256"],
        digest.trim_start_matches("sha256:")
    );
    let predicate = &statement["predicate"];
    let definition = &predicate["buildDefinition"];
    assert_eq!(
        definition["buildType"],
        "https://datakit.dev/build/package/v1"
    );
    assert_eq!(definition["externalParameters"]["tag"], "v1.0.0");
    let repo = ctx.work().join("demo");
    let source = &definition["resolvedDependencies"][0];
    assert_eq!(
        source["digest"]["gitCommit"],
        git(&repo, &["rev-parse", "HEAD"])
    );
    assert_eq!(
        source["digest"]["gitTree"],
        git(&repo, &["rev-parse", "HEAD^{tree}"])
    );
    assert_eq!(source["annotations"]["dirty"], false);
    assert!(
        source["uri"]
            .as_str()
            .unwrap()
            .starts_with("git+https://git.example/org/demo.git@"),
        "{source}"
    );
    let inputs = &definition["resolvedDependencies"][1];
    assert_eq!(inputs["name"], "inputs");
    assert_eq!(inputs["digest"]["sha256"].as_str().unwrap().len(), 64);
    let run = &predicate["runDetails"];
    assert_eq!(run["builder"]["id"], "local");
    assert_eq!(run["builder"]["version"]["dk"], env!("CARGO_PKG_VERSION"));
    // No wall clock: only SOURCE_DATE_EPOCH may give the provenance a time.
    assert_eq!(run["metadata"], serde_json::json!({}));

    // The same source builds the same provenance, byte for byte, in another home.
    let again = context();
    dk_test::copy_tree(&ctx.work().join("demo"), &again.work().join("demo"), &[]);
    let digest_again = build(&again, &[], "v1.0.0");
    assert_eq!(digest_again, digest);
    assert_eq!(
        attachments(&again, &digest).attestation.unwrap().payload,
        attestation.payload
    );

    // A dirty tree says so; the builder id comes from DK_BUILDER_ID; SOURCE_DATE_EPOCH is the
    // only time stated.
    ctx.write("demo/notes.md", "uncommitted\n");
    let env = [
        ("DK_BUILDER_ID", "https://ci.example/dk-builder"),
        ("SOURCE_DATE_EPOCH", "1700000000"),
    ];
    let dirty = build(&ctx, &env, "v1.0.1");
    let statement = self::statement(&attachments(&ctx, &dirty).attestation.unwrap());
    let predicate = &statement["predicate"];
    assert_eq!(
        predicate["buildDefinition"]["resolvedDependencies"][0]["annotations"]["dirty"],
        true
    );
    assert_eq!(
        predicate["runDetails"]["builder"]["id"],
        "https://ci.example/dk-builder"
    );
    assert_eq!(
        predicate["runDetails"]["metadata"]["startedOn"],
        "2023-11-14T22:13:20Z"
    );
}

#[test]
fn keys_are_written_once_with_private_modes_and_encrypted_with_a_password() {
    let ctx = context();
    let (private, public) = key(&ctx, "release", &[], &[]);
    let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&private).unwrap();
    assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"), "{text}");
    assert!(
        std::fs::read_to_string(&public)
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
    // Never overwritten, and nothing printed of the key.
    let again = run_ok(&ctx, &["key", "generate", "release"], 1);
    assert!(
        again.stderr.contains("release.key exists"),
        "{}",
        again.stderr
    );
    assert_eq!(std::fs::read_to_string(&private).unwrap(), text);

    let secret = [("DK_KEY_PASSWORD", "correct horse")];
    let generated = run_ok_with(
        &ctx,
        &secret,
        &[
            "key",
            "generate",
            "ci",
            "--algorithm",
            "ed25519",
            "-o",
            "json",
        ],
        0,
    );
    let report = generated.json();
    assert_eq!(report["algorithm"], "ed25519");
    assert_eq!(report["encrypted"], true);
    assert_eq!(report["keyId"].as_str().unwrap().len(), 64);
    let encrypted = std::fs::read_to_string(ctx.work().join("ci.key")).unwrap();
    assert!(encrypted.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    assert!(
        !generated.stdout.contains("PRIVATE"),
        "{}",
        generated.stdout
    );
}

#[test]
fn sign_then_verify_with_either_algorithm_and_refuse_wrong_keys_and_passwords() {
    let ctx = context();
    let digest = built(&ctx);
    let (ecdsa, ecdsa_pub) = key(&ctx, "release", &[], &[]);
    let secret = [("DK_KEY_PASSWORD", "correct horse")];
    let (ed25519, ed25519_pub) = key(&ctx, "ci", &secret, &["--algorithm", "ed25519"]);
    let (_, other_pub) = key(&ctx, "other", &[], &[]);

    let unsigned = refused(&verify(&ctx, REF, &[&ecdsa_pub], &[]));
    assert!(unsigned.contains("no signature"), "{unsigned}");
    assert!(
        unsigned.contains("provenance attestation is not signed"),
        "{unsigned}"
    );

    let ecdsa = ecdsa.display().to_string();
    let signed = run_ok(&ctx, &["sign", REF, "--key", &ecdsa, "-o", "json"], 0).json();
    assert_eq!(signed["subject"], digest.as_str());
    assert_eq!(signed["algorithm"], "ecdsa-p256");
    let ok = verify(&ctx, REF, &[&ecdsa_pub], &[]);
    assert_eq!(ok.code, 0, "{}", ok.transcript());
    let report = &ok.json()["report"];
    assert_eq!(report["subject"], digest.as_str());
    assert_eq!(report["builder"], "local");
    assert_eq!(report["signatureKeys"], report["provenanceKeys"]);

    // An encrypted key: without its password, or with a wrong one, a usage error (2).
    let ed25519 = ed25519.display().to_string();
    let no_password = run_ok(&ctx, &["sign", REF, "--key", &ed25519], 2);
    assert!(
        no_password.stderr.contains("no password"),
        "{}",
        no_password.stderr
    );
    let wrong = [("DK_KEY_PASSWORD", "wrong horse")];
    let wrong = run_ok_with(&ctx, &wrong, &["sign", REF, "--key", &ed25519], 2);
    assert!(wrong.stderr.contains("wrong password"), "{}", wrong.stderr);
    assert!(!wrong.stderr.contains("horse"), "{}", wrong.stderr);
    run_ok_with(&ctx, &secret, &["sign", REF, "--key", &ed25519, "-q"], 0);

    // Either trusted key suffices; both signed both envelopes.
    let both = verify(&ctx, REF, &[&ed25519_pub, &ecdsa_pub], &[]);
    assert_eq!(both.code, 0, "{}", both.transcript());
    assert_eq!(
        both.json()["report"]["signatureKeys"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let found = attachments(&ctx, &digest);
    assert_eq!(found.signature.unwrap().signatures.len(), 2);

    // A key that signed nothing is refused for both envelopes.
    let wrong_key = refused(&verify(&ctx, REF, &[&other_pub], &[]));
    assert!(
        wrong_key.contains("the signature is signed by none of the given keys"),
        "{wrong_key}"
    );
    assert!(
        wrong_key.contains("the provenance attestation is signed by none of the given keys"),
        "{wrong_key}"
    );
    // A required builder the provenance does not name.
    let builder = refused(&verify(
        &ctx,
        REF,
        &[&ecdsa_pub],
        &["--builder", "https://ci"],
    ));
    assert!(
        builder.contains("names builder `local`, not the required `https://ci`"),
        "{builder}"
    );
    // A private key is not a public key.
    let private = verify(&ctx, REF, &[Path::new(&ecdsa)], &[]);
    assert_eq!(private.code, 2, "{}", private.transcript());
}

#[test]
fn forged_swapped_missing_and_oversized_attachments_are_refused() {
    let ctx = context();
    let digest = built(&ctx);
    let (private, public) = key(&ctx, "release", &[], &[]);
    let private = private.display().to_string();
    run_ok(&ctx, &["sign", REF, "--key", &private, "-q"], 0);
    let layout = layout(&ctx);
    let subject = descriptor(&ctx, REF);
    let genuine = attachments(&ctx, &digest);

    // Tampered payload: the provenance's builder rewritten, its signature kept.
    let mut forged = genuine.attestation.clone().unwrap();
    let mut statement: Statement = Statement::from_slice(&forged.payload().unwrap()).unwrap();
    statement.predicate["runDetails"]["builder"]["id"] = "https://ci.example/trusted".into();
    forged.payload = Envelope::new(IN_TOTO_PAYLOAD_TYPE, &statement.to_vec()).payload;
    attach::store(
        &layout,
        "default/demo",
        &subject,
        Kind::Attestation,
        &forged,
    )
    .unwrap();
    let tampered = refused(&verify(&ctx, REF, &[&public], &[]));
    assert!(
        tampered.contains("the provenance attestation is signed by none of the given keys"),
        "{tampered}"
    );
    attach::store(
        &layout,
        "default/demo",
        &subject,
        Kind::Attestation,
        genuine.attestation.as_ref().unwrap(),
    )
    .unwrap();

    // An envelope for another artifact: v1.0.1's genuine signature put beside v1.0.0.
    ctx.write("demo/notes.md", "another version\n");
    let other = build(&ctx, &[], "v1.0.1");
    run_ok(&ctx, &["sign", "demo:v1.0.1", "--key", &private, "-q"], 0);
    let theirs = attachments(&ctx, &other).signature.unwrap();
    attach::store(&layout, "default/demo", &subject, Kind::Signature, &theirs).unwrap();
    let swapped = refused(&verify(&ctx, REF, &[&public], &[]));
    assert!(
        swapped.contains(&format!(
            "the signature is for another artifact: its subject is {other}, this artifact is {digest}"
        )),
        "{swapped}"
    );

    // A rebuilt (tampered) artifact under the signed tag: nothing signs its digest.
    run_ok(
        &ctx,
        &["build", "demo", "--tag", "v1.0.0", "--force", "-q"],
        0,
    );
    let rebuilt = refused(&verify(&ctx, REF, &[&public], &[]));
    assert!(rebuilt.contains("no signature"), "{rebuilt}");
    assert!(rebuilt.contains("is not signed"), "{rebuilt}");

    // A missing attestation.
    let subject = descriptor(&ctx, "default/demo:v1.0.1");
    let mut index: Value =
        serde_json::from_slice(&std::fs::read(ctx.dk_home().join("registry/index.json")).unwrap())
            .unwrap();
    let att = attach::tag_of(&other, Kind::Attestation).unwrap();
    index["manifests"]
        .as_array_mut()
        .unwrap()
        .retain(|m| !m.to_string().contains(&att));
    std::fs::write(
        ctx.dk_home().join("registry/index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    let missing = refused(&verify(&ctx, "demo:v1.0.1", &[&public], &[]));
    assert!(missing.contains("no provenance attestation"), "{missing}");
    let unsignable = run_ok(&ctx, &["sign", "demo:v1.0.1", "--key", &private], 1);
    assert!(
        unsignable.stderr.contains("has no provenance"),
        "{}",
        unsignable.stderr
    );

    // A huge envelope is refused before it is parsed.
    let mut huge = Envelope::new(IN_TOTO_PAYLOAD_TYPE, &vec![b' '; 2 << 20]);
    huge.signatures.clear();
    attach::store(&layout, "default/demo", &subject, Kind::Attestation, &huge).unwrap();
    let oversized = verify(&ctx, "demo:v1.0.1", &[&public], &[]);
    assert_eq!(oversized.code, 1, "{}", oversized.transcript());
    assert!(
        oversized.stderr.contains("more than the 1048576 allowed"),
        "{}",
        oversized.stderr
    );
}

#[test]
fn a_symlinked_or_loose_private_key_is_refused() {
    let ctx = context();
    built(&ctx);
    let (private, _) = key(&ctx, "release", &[], &[]);
    let link = ctx.work().join("link.key");
    std::os::unix::fs::symlink(&private, &link).unwrap();
    let linked = run_ok(&ctx, &["sign", REF, "--key", "link.key"], 2);
    assert!(
        linked.stderr.contains("is a symbolic link"),
        "{}",
        linked.stderr
    );
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o644)).unwrap();
    let loose = run_ok(&ctx, &["sign", REF, "--key", "release.key"], 2);
    assert!(
        loose.stderr.contains("readable by others (mode 0644)"),
        "{}",
        loose.stderr
    );
    assert!(loose.stderr.contains("chmod 600"), "{}", loose.stderr);
}

/// The tools venv's python, when it has the in-toto and securesystemslib libraries.
fn independent_python() -> Option<PathBuf> {
    let tools = service(
        "DK_TEST_TOOLS_BIN",
        "the in-toto and securesystemslib libraries",
    )?;
    let python = Path::new(&tools).join("python");
    let ok = std::process::Command::new(&python)
        .args(["-c", "import in_toto, securesystemslib, cryptography"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("DK_REQUIRE_SERVICES").is_none(),
            "{} lacks in-toto/securesystemslib: run scripts/test-services start",
            python.display()
        );
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: in-toto and securesystemslib are not in {tools}"
        );
        return None;
    }
    Some(python)
}

fn python_verifies(python: &Path, args: &[&str]) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/verify_dsse.py");
    let output = std::process::Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn independent_python_verifiers_accept_what_dk_signs_and_refuse_a_tampered_envelope() {
    let Some(python) = independent_python() else {
        return;
    };
    let ctx = context();
    let digest = built(&ctx);
    let secret = [("DK_KEY_PASSWORD", "correct horse")];
    for (name, algorithm) in [("p256", "ecdsa-p256"), ("ed", "ed25519")] {
        let (private, public) = key(&ctx, name, &secret, &["--algorithm", algorithm]);
        let private = private.display().to_string();
        // cryptography opens dk's encrypted PKCS#8.
        let (ok, err) = python_verifies(&python, &["private-key", &private, "correct horse"]);
        assert!(ok, "{algorithm}: {err}");
        run_ok_with(&ctx, &secret, &["sign", REF, "--key", &private, "-q"], 0);
        let found = attachments(&ctx, &digest);
        let public = public.display().to_string();
        for (envelope, predicate) in [
            (found.signature.unwrap(), SIGNATURE),
            (found.attestation.unwrap(), PROVENANCE),
        ] {
            let file = ctx.write(format!("{name}-envelope.json"), envelope.to_vec());
            let file = file.display().to_string();
            let (ok, err) =
                python_verifies(&python, &["envelope", &file, &public, &digest, predicate]);
            assert!(ok, "{algorithm} {predicate}: {err}");
            let mut tampered = envelope.clone();
            let payload = String::from_utf8(tampered.payload().unwrap()).unwrap();
            let payload = payload.replace("\"local\"", "\"https://ci.example\"");
            tampered.payload = Envelope::new(IN_TOTO_PAYLOAD_TYPE, payload.as_bytes()).payload;
            if predicate == SIGNATURE {
                tampered.payload_type = "application/json".into();
            }
            std::fs::write(&file, tampered.to_vec()).unwrap();
            let (ok, err) =
                python_verifies(&python, &["envelope", &file, &public, &digest, predicate]);
            assert!(!ok, "{algorithm} {predicate}: a tampered envelope verified");
            assert!(err.contains("refused"), "{err}");
        }
    }
}

#[test]
fn sign_publish_and_verify_from_a_real_registry() {
    let Some(registry) = service("DK_TEST_REGISTRY", "an OCI registry") else {
        return;
    };
    let ctx = context();
    let digest = built(&ctx);
    let (private, public) = key(&ctx, "release", &[], &[]);
    let private = private.display().to_string();
    let prefix = format!("{registry}/{}", ctx.unique_name());
    let remote = format!("{prefix}/default/demo:v1.0.0");

    // Published unsigned, the registry copy is refused; signing and publishing again pushes
    // the signature beside the artifact already there.
    let publish = [
        "publish",
        "demo",
        "--tag",
        "v1.0.0",
        "--registry",
        &prefix,
        "-o",
        "json",
    ];
    let first = run_ok(&ctx, &publish, 0).json();
    assert_eq!(
        first["attachments"],
        serde_json::json!([attach::tag_of(&digest, Kind::Attestation).unwrap()])
    );
    let unsigned = refused(&verify(&ctx, &remote, &[&public], &[]));
    assert!(unsigned.contains("no signature"), "{unsigned}");
    run_ok(&ctx, &["sign", REF, "--key", &private, "-q"], 0);
    let second = run_ok(&ctx, &publish, 0).json();
    assert_eq!(second["outcome"], "already-published");
    assert_eq!(second["attachments"].as_array().unwrap().len(), 2);

    // Verified from the registry alone.
    std::fs::remove_dir_all(ctx.dk_home().join("registry")).unwrap();
    let ok = verify(&ctx, &remote, &[&public], &[]);
    assert_eq!(ok.code, 0, "{}", ok.transcript());
    assert_eq!(ok.json()["report"]["subject"], digest.as_str());
    // By digest too: the same repository's referrers tags.
    let by_digest = format!("{prefix}/default/demo@{digest}");
    let ok = verify(&ctx, &by_digest, &[&public], &[]);
    assert_eq!(ok.code, 0, "{}", ok.transcript());

    // dk pull brings the signature and provenance into the local registry.
    let pulled = run_ok(&ctx, &["pull", &remote, "-d", "pulled", "-o", "json"], 0).json();
    assert_eq!(pulled["attachments"].as_array().unwrap().len(), 2);
    let found = attachments(&ctx, &digest);
    assert!(found.signature.is_some() && found.attestation.is_some());

    // An unreachable registry is exit 3, not a refusal.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = verify(
        &ctx,
        &format!("127.0.0.1:{port}/x/default/demo:v1.0.0"),
        &[&public],
        &[],
    );
    assert_eq!(down.code, 3, "{}", down.transcript());
}
