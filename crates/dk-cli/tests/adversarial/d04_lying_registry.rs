//! Defect 4: a registry that declares a 100-byte layer and streams gigabytes drove dk to
//! gigabytes of memory. dk now never reads past a declared size, caps manifests and configs,
//! streams layers to disk and caps decompression (`pull.maxExpansion`, `pull.maxBytes`).

use dk_test::registry::{
    Body, Crafted, LyingRegistry, config_json, gzip_bomb, layer, manifest_json, sha256,
};

use std::io::Write;

use crate::common::{context, run_ok};

/// Three GiB: what the registry would send if dk kept reading.
const ENDLESS: u64 = 3 << 30;

fn reference(registry: &LyingRegistry, repository: &str) -> String {
    format!("{}/{repository}:v1.0.0", registry.host())
}

#[test]
fn a_layer_longer_than_declared_is_cut_off() {
    let ctx = context();
    let registry = LyingRegistry::start();
    let config = config_json("big");
    let config_digest = registry.blob(&config);
    let honest = layer(&[Crafted::File("a.csv".into(), b"x\n".to_vec())]);
    let digest = sha256(&honest);
    registry.blob_as(&digest, Body::Endless { len: ENDLESS });
    let manifest = manifest_json((&config_digest, config.len()), &[(digest, 100)]);
    registry.manifest("team/default/big", "v1.0.0", &manifest);
    let result = run_ok(
        &ctx,
        &["pull", &reference(&registry, "team/default/big")],
        3,
    );
    assert!(
        result
            .stderr
            .contains("declared as 100 bytes and the registry sent more"),
        "{}",
        result.transcript()
    );
    let blobs = ctx.dk_home().join("registry/blobs/sha256");
    let kept: u64 = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(kept < 1 << 20, "{kept} bytes kept in the layout");
}

#[test]
fn endless_manifests_and_configs_are_capped() {
    let ctx = context();
    let registry = LyingRegistry::start();
    registry.manifest_as("team/default/m", "v1.0.0", Body::Endless { len: ENDLESS });
    let result = run_ok(
        &ctx,
        &["inspect", &reference(&registry, "team/default/m")],
        3,
    );
    assert!(
        result.stderr.contains("larger than 4194304 bytes"),
        "{}",
        result.transcript()
    );

    let config_digest = sha256(b"{}");
    registry.blob_as(&config_digest, Body::Endless { len: ENDLESS });
    let manifest = manifest_json((&config_digest, 2), &[]);
    registry.manifest("team/default/c", "v1.0.0", &manifest);
    run_ok(
        &ctx,
        &["inspect", &reference(&registry, "team/default/c")],
        3,
    );
    let huge = manifest_json((&config_digest, 1 << 30), &[]);
    registry.manifest("team/default/h", "v1.0.0", &huge);
    let result = run_ok(
        &ctx,
        &["inspect", &reference(&registry, "team/default/h")],
        3,
    );
    assert!(
        result.stderr.contains("more than the 4194304 allowed"),
        "{}",
        result.transcript()
    );
}

#[test]
fn blobs_under_a_false_digest_are_not_kept() {
    let ctx = context();
    let registry = LyingRegistry::start();
    let config = config_json("liar");
    let config_digest = registry.blob(&config);
    let real = layer(&[Crafted::File("a.csv".into(), b"x\n".to_vec())]);
    let forged = layer(&[Crafted::File("a.csv".into(), b"evil\n".to_vec())]);
    let digest = sha256(&real);
    let mut same_size = forged.clone();
    same_size.resize(real.len(), 0);
    registry.blob_as(&digest, Body::Bytes(same_size));
    let manifest = manifest_json(
        (&config_digest, config.len()),
        &[(digest.clone(), real.len())],
    );
    registry.manifest("team/default/liar", "v1.0.0", &manifest);
    let result = run_ok(
        &ctx,
        &[
            "pull",
            &reference(&registry, "team/default/liar"),
            "--to",
            "out",
        ],
        3,
    );
    assert!(result.stderr.contains("digest"), "{}", result.transcript());
    assert!(!ctx.work().join("out").exists());
    let hex = digest.trim_start_matches("sha256:");
    assert!(
        !ctx.dk_home()
            .join("registry/blobs/sha256")
            .join(hex)
            .exists()
    );
}

#[test]
fn a_gzip_bomb_is_refused_by_its_expansion() {
    let ctx = context();
    let registry = LyingRegistry::start();
    // 16 MiB of zeros compress to about 16 KiB: an expansion of about 1000.
    let bomb = gzip_bomb(16 << 20);
    registry.artifact("team/default/bomb", "v1.0.0", &[bomb]);
    let result = run_ok(
        &ctx,
        &[
            "pull",
            &reference(&registry, "team/default/bomb"),
            "--to",
            "out",
        ],
        1,
    );
    assert!(
        result.stderr.contains("decompression bomb"),
        "{}",
        result.transcript()
    );
    assert!(!ctx.work().join("out").exists(), "nothing unpacked");

    // The limits are the user's: an honest small artifact over a tiny total is refused too.
    let honest = layer(&[Crafted::File("a.csv".into(), vec![b'x'; 4096])]);
    registry.artifact("team/default/small", "v1.0.0", &[honest]);
    let small = reference(&registry, "team/default/small");
    let args = [
        "pull",
        small.as_str(),
        "--to",
        "small",
        "--config",
        "pull.maxBytes=1000",
    ];
    let result = run_ok(&ctx, &args, 1);
    assert!(
        result.stderr.contains("pull.maxBytes 1000"),
        "{}",
        result.transcript()
    );
    run_ok(&ctx, &["pull", &small, "--to", "small"], 0);
}

/// Peak memory of `dk pull` (kilobytes, from `/usr/bin/time -v`).
fn peak_memory_kib(ctx: &dk_test::TestContext, time: &str, args: &[&str]) -> (i32, u64) {
    let dk = ctx.dk_process();
    let mut command = std::process::Command::new(time);
    command
        .env_clear()
        .arg("-v")
        .arg(dk.get_program())
        .args(args);
    for (key, value) in dk.get_envs() {
        if let Some(value) = value {
            command.env(key, value);
        }
    }
    command.current_dir(ctx.work());
    let output = command.output().expect("run /usr/bin/time");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let kib = stderr
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no peak memory in:\n{stderr}"));
    (output.status.code().unwrap_or(-1), kib)
}

#[test]
fn pulling_from_a_lying_registry_stays_small_in_memory() {
    // GNU time is where Debian puts it, or what scripts/test-services found.
    let Some(time) = Some("/usr/bin/time".to_owned())
        .filter(|path| std::path::Path::new(path).exists())
        .or_else(|| dk_test::service("DK_TEST_TIME", "GNU time"))
    else {
        return;
    };
    let ctx = context();
    let registry = LyingRegistry::start();
    let config = config_json("lies");
    let config_digest = registry.blob(&config);
    // Declared as 64 MiB, streamed endlessly: dk writes at most the declared size, to disk.
    let digest = sha256(b"whatever");
    registry.blob_as(&digest, Body::Endless { len: ENDLESS });
    let manifest = manifest_json((&config_digest, config.len()), &[(digest, 64 << 20)]);
    registry.manifest("team/default/lies", "v1.0.0", &manifest);
    let (code, streamed) = peak_memory_kib(
        &ctx,
        &time,
        &["pull", &reference(&registry, "team/default/lies")],
    );
    assert_eq!(code, 3);
    registry.artifact("team/default/bomb", "v1.0.0", &[gzip_bomb(16 << 20)]);
    let args = [
        "pull",
        &reference(&registry, "team/default/bomb"),
        "--to",
        "bomb",
    ];
    let (code, bomb) = peak_memory_kib(&ctx, &time, &args);
    assert_eq!(code, 1);
    let _ = writeln!(
        std::io::stderr(),
        "peak memory of dk pull: {streamed} KiB (endless layer), {bomb} KiB (gzip bomb)"
    );
    assert!(
        streamed < 100 << 10 && bomb < 100 << 10,
        "{streamed} KiB, {bomb} KiB"
    );
}
