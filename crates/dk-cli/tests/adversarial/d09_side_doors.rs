//! Defect 9: secrets leave through side doors — a git remote's token in lineage and artifact
//! annotations, the run context's DSN left in `$DK_HOME/runs`, and escape sequences from
//! strangers written raw to the terminal.

use std::path::Path;

use dk_test::TestContext;

use crate::common::{
    context, git_repository, lineage_server, remote_postgres_output, run_ok, run_with,
    signal_when_ready, stop_server,
};

const PASSWORD: &str = "hunter2-side-door";

/// Every file below `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if kind.is_file() {
            let bytes = std::fs::read(&path).expect("read");
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

/// A package whose output is a PostgreSQL table, so that its context holds a DSN with
/// [`PASSWORD`]; `main.py` first records where the context is, and that it holds the DSN.
fn postgres_package(ctx: &TestContext, main_rest: &str) {
    run_ok(ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    remote_postgres_output(ctx, "demo");
    ctx.write(
        "demo/main.py",
        format!(
            "import os, pathlib, stat\n\
             context = pathlib.Path(os.environ['DK_CONTEXT'])\n\
             mode = stat.S_IMODE(context.stat().st_mode)\n\
             pathlib.Path(os.environ['SEEN']).write_text(\n\
             \x20   f'{{context}} {{oct(mode)}} {{\"{PASSWORD}\" in context.read_text()}}')\n\
             {main_rest}"
        ),
    );
}

/// What the pipeline saw: the context's path, its mode, and whether it held the password.
fn seen(ctx: &TestContext) -> String {
    std::fs::read_to_string(ctx.work().join("seen")).expect("the pipeline ran")
}

fn assert_no_secret_left(ctx: &TestContext, case: &str) {
    let seen = seen(ctx);
    let context = seen.split(' ').next().unwrap();
    assert!(seen.ends_with(" 0o600 True"), "{case}: {seen}");
    assert!(!Path::new(context).exists(), "{case}: {context} is left");
    let leaks = files_containing(&ctx.dk_home(), PASSWORD);
    assert!(
        leaks.is_empty(),
        "{case}: the password is left in {leaks:?}"
    );
}

#[test]
fn the_context_with_dsns_is_gone_when_the_run_ends_however_it_ends() {
    for (case, main_rest, args, code, said) in [
        ("success", "", &[][..], 0, "succeeded"),
        (
            "failure",
            "raise SystemExit(3)\n",
            &[][..],
            3,
            "exited with code 3",
        ),
        (
            "the spool failing at the end",
            "spool = context.parents[2] / 'lineage' / 'spool' / (os.environ['DK_RUN_ID'] + '.jsonl')\n\
             spool.unlink()\n\
             spool.mkdir()\n",
            &[][..],
            1,
            "cannot record lineage",
        ),
        (
            "timeout",
            "import time\ntime.sleep(60)\n",
            &["--timeout", "500ms"][..],
            124,
            "timed out",
        ),
    ] {
        let ctx = context();
        postgres_package(&ctx, main_rest);
        let seen_path = ctx.work().join("seen");
        let seen_env = format!("SEEN={}", seen_path.display());
        let mut all = vec!["run", "demo", "--env", seen_env.as_str()];
        all.extend_from_slice(args);
        let result = run_with(&ctx, &[("WAREHOUSE_PASSWORD", PASSWORD)], &all);
        assert_eq!(result.code, code, "{case}: {}", result.transcript());
        assert!(
            result.transcript().contains(said),
            "{case}: {}",
            result.transcript()
        );
        assert_no_secret_left(&ctx, case);
    }
}

#[test]
fn the_context_with_dsns_is_gone_after_a_signal() {
    let ctx = context();
    postgres_package(
        &ctx,
        "import signal, time\n\
         stopping = []\n\
         signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))\n\
         pathlib.Path(os.environ['READY']).write_text('up')\n\
         while not stopping:\n    time.sleep(0.05)\n",
    );
    let ready = ctx.work().join("ready");
    let mut command = ctx.dk_process();
    command
        .env("WAREHOUSE_PASSWORD", PASSWORD)
        .args(["run", "demo", "--env"])
        .arg(format!("READY={}", ready.display()))
        .arg("--env")
        .arg(format!("SEEN={}", ctx.work().join("seen").display()));
    let output = signal_when_ready(command, &ready, rustix::process::Signal::TERM);
    assert_eq!(
        output.status.code(),
        Some(143),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_no_secret_left(&ctx, "SIGTERM");
}

#[test]
fn a_token_in_the_git_remote_reaches_neither_lineage_nor_the_artifact() {
    let ctx = context();
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    git_repository(
        &ctx.work().join("demo"),
        "https://oauth2:SECRET-ONE@gitlab.example/acme/p.git?access_token=SECRET-TWO#SECRET-3",
    );
    let run = run_ok(&ctx, &["run", "demo", "-o", "json"], 0);
    assert!(!run.transcript().contains("SECRET"), "{}", run.transcript());
    let events = run_ok(&ctx, &["lineage", "events", "-o", "json"], 0).stdout;
    assert!(
        events.contains("\"https://gitlab.example/acme/p.git\""),
        "{events}"
    );
    let build = run_with(&ctx, &[], &["build", "demo"]);
    assert_eq!(build.code, 0, "{}", build.transcript());
    let leaks = files_containing(&ctx.dk_home(), "SECRET");
    assert!(leaks.is_empty(), "the token is in {leaks:?}");
}

/// Sends `body` to the server's lineage endpoint; the whole answer.
pub fn post_event(base: &str, body: &str, authorization: Option<&str>) -> String {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    let authorization = authorization
        .map(|value| format!("Authorization: {value}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "POST /api/v1/lineage HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         {authorization}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// Names carrying a screen clear, a cursor move over the previous line, a window title and a
/// clipboard write (OSC 52).
const JOB: &str = "job\u{1b}[2J\u{1b}[H";
const NAMESPACE: &str = "ns\u{1b}]0;pwned\u{7}";
const DATASET: &str = "in\r\u{1b}[1A\u{1b}]52;c;ZWNobyBwd25lZA==\u{7}put";

fn assert_terminal_safe(what: &str, text: &str) {
    let foreign = text
        .match_indices('\u{1b}')
        .filter(|(at, _)| {
            // dk's own colours (with --color always) are `ESC [ digits m`.
            let rest = &text[at + 1..];
            !(rest.starts_with('[')
                && rest[1..].find('m').is_some_and(|end| {
                    rest[1..1 + end]
                        .chars()
                        .all(|c| c.is_ascii_digit() || c == ';')
                }))
        })
        .count();
    assert_eq!(foreign, 0, "{what} printed escape sequences: {text:?}");
    assert!(
        !text.contains(['\u{7}', '\r', '\u{9b}']),
        "{what} printed control characters: {text:?}"
    );
}

#[test]
fn names_posted_by_strangers_reach_the_terminal_without_escape_sequences() {
    let ctx = context();
    let (server, base) = lineage_server(&ctx, &[], &[]);
    let event = serde_json::json!({
        "eventType": "COMPLETE",
        "eventTime": "2026-11-26T10:00:00Z",
        "run": {"runId": "01a22e4e-0000-7000-8000-000000000001"},
        "job": {"namespace": NAMESPACE, "name": JOB},
        "inputs": [{"namespace": NAMESPACE, "name": DATASET}],
        "outputs": [],
        "producer": "https://example.com/attacker",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    });
    let answer = post_event(&base, &event.to_string(), None);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(stop_server(server).success());

    let json = run_ok(&ctx, &["lineage", "events", "-o", "json"], 0);
    assert!(json.stdout.contains(r"job\u001b[2J"), "{}", json.stdout);
    for color in ["never", "always"] {
        let events = run_ok(&ctx, &["lineage", "events", "--color", color], 0);
        assert!(events.stdout.contains("ns/job "), "{}", events.stdout);
        assert_terminal_safe("dk lineage events", &events.transcript());
        let graph = run_with(&ctx, &[], &["lineage", JOB, "--color", color]);
        assert_eq!(graph.code, 0, "{}", graph.transcript());
        assert!(graph.stdout.contains("input"), "{}", graph.stdout);
        assert_terminal_safe("dk lineage NAME", &graph.transcript());
    }
    let unknown = run_with(
        &ctx,
        &[],
        &["lineage", "nope\u{1b}]0;x\u{7}", "--color", "always"],
    );
    assert_terminal_safe("an error naming the argument", &unknown.transcript());
}
