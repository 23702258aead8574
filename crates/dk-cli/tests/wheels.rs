//! A python package's dependencies travel with its artifact: `dk build` vendors wheels for
//! `requirements.txt` as a layer of their own, `dk publish` / `dk pull` carry them through a real
//! registry, and `dk run` of the pulled package installs them offline. No test reaches the
//! internet: a pure-python wheel is written here, pip finds it through `PIP_FIND_LINKS`, and the
//! index (`PIP_INDEX_URL`) is a closed loopback port.

mod common;

use std::path::{Path, PathBuf};

use common::{Run, context, run_ok, run_with, write_wheel};
use dk_test::sink::closed_port;
use dk_test::{TestContext, service};

/// Whether the python3 dk finds has pip and venv; a test without them is skipped.
fn python_with_pip() -> bool {
    let works = std::process::Command::new("python3")
        .args(["-c", "import pip, venv, ensurepip"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !works {
        use std::io::Write;
        assert!(
            std::env::var_os("DK_REQUIRE_SERVICES").is_none(),
            "python3 with pip and venv is required"
        );
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: python3 with pip and venv is not available"
        );
    }
    works
}

/// A generic-python package that needs `requirement` and prints `dkdemo.VALUE` when it can.
fn package(ctx: &TestContext, name: &str, requirement: &str) {
    run_ok(ctx, &["init", name, "--runtime", "generic-python"], 0);
    ctx.write(
        format!("{name}/requirements.txt"),
        format!("{requirement}\n"),
    );
    let main = ctx.read(format!("{name}/main.py"));
    ctx.write(
        format!("{name}/main.py"),
        format!(
            "import sys\nimport dkdemo\nprint('dkdemo', dkdemo.VALUE, file=sys.stderr)\n{main}"
        ),
    );
}

/// A test's package `demo` needing `requirement`, and the folder `links` holding the `dkdemo`
/// wheel; `None` (skipped) without python3, pip and venv.
fn setup(requirement: &str) -> Option<(TestContext, PathBuf)> {
    if !python_with_pip() {
        return None;
    }
    let ctx = context();
    let links = ctx.root().join("links");
    write_wheel(&links, 42);
    package(&ctx, "demo", requirement);
    Some((ctx, links))
}

/// pip's settings of a machine without PyPI: an index that refuses connections, no retries.
fn offline(links: &Path) -> Vec<(String, String)> {
    vec![
        (
            "PIP_INDEX_URL".into(),
            format!("http://127.0.0.1:{}/simple", closed_port()),
        ),
        ("PIP_RETRIES".into(), "0".into()),
        ("PIP_FIND_LINKS".into(), links.display().to_string()),
    ]
}

fn dk(ctx: &TestContext, env: &[(String, String)], args: &[&str]) -> Run {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    run_with(ctx, &env, args)
}

#[test]
fn wheels_travel_through_a_registry_and_install_offline_where_the_package_is_pulled() {
    let Some(registry) = service("DK_TEST_REGISTRY", "an OCI registry") else {
        return;
    };
    let Some((ctx, links)) = setup("dkdemo==1.0") else {
        return;
    };

    let built = dk(
        &ctx,
        &offline(&links),
        &["build", "demo", "--tag", "v1.0.0", "-o", "json"],
    );
    assert_eq!(built.code, 0, "{}", built.transcript());
    let report = built.json();
    assert_eq!(report["wheels"], 1, "{report:#}");
    let target = report["wheelTarget"].as_str().unwrap();
    assert!(target.starts_with("cp312 manylinux_2_36_"), "{target}");
    let inspected = run_ok(&ctx, &["inspect", "default/demo:v1.0.0", "-o", "json"], 0).json();
    let titles: Vec<&str> = inspected["manifest"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| {
            layer["annotations"]["org.opencontainers.image.title"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(
        titles,
        ["manifests.tar.gz", "content.tar.gz", "wheels.tar.gz"],
        "{inspected:#}"
    );
    // The same wheels give the same artifact.
    let again = dk(
        &ctx,
        &offline(&links),
        &["build", "demo", "--tag", "v1.0.0", "-o", "json"],
    );
    assert_eq!(again.json()["unchanged"], true, "{}", again.transcript());

    let prefix = format!("{registry}/w{}", std::process::id());
    let published = run_ok(
        &ctx,
        &["publish", "demo", "--registry", &prefix, "--tag", "v1.0.0"],
        0,
    );
    assert!(
        published.stdout.contains("Published"),
        "{}",
        published.transcript()
    );
    let pulled = ctx.root().join("pod/demo");
    run_ok(
        &ctx,
        &[
            "pull",
            &format!("{prefix}/default/demo:v1.0.0"),
            "--output-dir",
            pulled.to_str().unwrap(),
        ],
        0,
    );
    assert!(
        pulled
            .join(".dk-wheels/dkdemo-1.0-py3-none-any.whl")
            .is_file()
    );
    // A rebuild from the pulled folder vendors afresh rather than bundling the old wheels.
    let dry = run_ok(
        &ctx,
        &["build", pulled.to_str().unwrap(), "--dry-run", "-o", "json"],
        0,
    )
    .json();
    assert!(
        !dry["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|entry| entry.as_str().unwrap().starts_with(".dk-wheels")),
        "{dry:#}"
    );

    // No index and no other wheels: only the vendored ones can satisfy the requirement.
    std::fs::remove_dir_all(&links).unwrap();
    let nowhere = offline(&ctx.root().join("no-wheels-here"));
    let first = dk(
        &ctx,
        &nowhere,
        &["run", pulled.to_str().unwrap(), "-o", "json"],
    );
    assert_eq!(first.code, 0, "{}", first.transcript());
    // pip and venv say nothing on stdout: it is dk's JSON report.
    assert_eq!(
        first.json()["runs"][0]["status"],
        "succeeded",
        "{}",
        first.stdout
    );
    assert!(first.stderr.contains("dkdemo 42"), "{}", first.transcript());
    assert!(
        first.stderr.contains("from the wheels in"),
        "{}",
        first.transcript()
    );
    let venv = pulled.join(".venv");
    let marker = venv.join(".dk-requirements-sha256");
    let key = std::fs::read_to_string(&marker).unwrap();

    // The same wheel set reuses the virtualenv: what was put into it stays.
    std::fs::write(venv.join("sentinel"), "kept").unwrap();
    let second = dk(&ctx, &nowhere, &["run", pulled.to_str().unwrap()]);
    assert_eq!(second.code, 0, "{}", second.transcript());
    assert!(
        !second.stderr.contains("Creating a virtualenv"),
        "{}",
        second.transcript()
    );
    assert!(venv.join("sentinel").is_file());
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), key);

    // Another wheel set rebuilds it.
    write_wheel(&pulled.join(".dk-wheels"), 43);
    let third = dk(&ctx, &nowhere, &["run", pulled.to_str().unwrap()]);
    assert_eq!(third.code, 0, "{}", third.transcript());
    assert!(third.stderr.contains("dkdemo 43"), "{}", third.transcript());
    assert!(!venv.join("sentinel").exists());
    assert_ne!(std::fs::read_to_string(&marker).unwrap(), key);

    // Wheels for another interpreter than the one that runs the package are named as such.
    let wheels = pulled.join(".dk-wheels");
    std::fs::rename(
        wheels.join("dkdemo-1.0-py3-none-any.whl"),
        wheels.join("dkdemo-1.0-cp39-cp39-manylinux_2_17_s390x.whl"),
    )
    .unwrap();
    let foreign = dk(&ctx, &nowhere, &["run", pulled.to_str().unwrap()]);
    assert_eq!(foreign.code, 2, "{}", foreign.transcript());
    assert!(
        foreign
            .stderr
            .contains("the vendored wheels may be for another Python or platform"),
        "{}",
        foreign.transcript()
    );
}

#[test]
fn a_requirement_without_a_wheel_fails_the_build_with_a_hint_naming_it() {
    let Some((ctx, links)) = setup("nowheel==1.0") else {
        return;
    };
    // The index is off (not unreachable): pip looks at the folder only and finds no wheel.
    let env = [
        ("PIP_NO_INDEX".to_owned(), "1".to_owned()),
        ("PIP_FIND_LINKS".to_owned(), links.display().to_string()),
    ];
    let failed = dk(
        &ctx,
        &env,
        &["build", "demo", "--tag", "v1.0.0", "-o", "json"],
    );
    assert_eq!(failed.code, 1, "{}", failed.transcript());
    assert!(failed.stdout.is_empty(), "{}", failed.transcript());
    for expected in [
        "requirement `nowheel==1.0` has no wheel for cp312",
        "pin a version of `nowheel==1.0`",
        "pip wheel 'nowheel==1.0'",
        "PIP_INDEX_URL",
    ] {
        assert!(
            failed.stderr.contains(expected),
            "{expected}:\n{}",
            failed.transcript()
        );
    }
    run_ok(&ctx, &["inspect", "default/demo:v1.0.0"], 2);

    // An index that cannot be reached is an external failure: it may well have the wheel.
    let unreachable = dk(
        &ctx,
        &offline(&ctx.root().join("no-wheels-here")),
        &["build", "demo", "--tag", "v1.0.0"],
    );
    assert_eq!(unreachable.code, 3, "{}", unreachable.transcript());
    assert!(
        unreachable.stderr.contains("could not be reached"),
        "{}",
        unreachable.transcript()
    );
}

#[test]
fn a_working_directory_without_vendored_wheels_installs_as_pip_is_configured() {
    let Some((ctx, links)) = setup("dkdemo==1.0") else {
        return;
    };
    let result = dk(&ctx, &offline(&links), &["run", "./demo", "-o", "json"]);
    assert_eq!(result.code, 0, "{}", result.transcript());
    assert_eq!(result.json()["runs"][0]["status"], "succeeded");
    assert!(
        result.stderr.contains("dkdemo 42"),
        "{}",
        result.transcript()
    );
    assert!(
        !result.stderr.contains("from the wheels in"),
        "{}",
        result.transcript()
    );
}
