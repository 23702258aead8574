//! `dk lineage serve` on PostgreSQL as a team runs it (issue 18): replicas of the real binary on
//! one database, one killed with SIGKILL while it ingests; `dk lineage NAME` reading from the
//! server (`lineage.server`); `dk lineage migrate` from a laptop's store. Each test on a database
//! of its own on the PostgreSQL of `scripts/test-services`, but the last (node ids), on SQLite.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    context, fresh_database, http_get, lineage_server, run_ok_with, run_with, stop_server,
};
use dk_test::service;

/// A database of its own, and its URL (without a password, which a URL must not carry).
fn database(name: &str) -> Option<String> {
    let base = service("DK_TEST_POSTGRES_URL", "PostgreSQL")?;
    let name = format!("{name}_{}", std::process::id());
    fresh_database(&base, &name);
    let (server, _) = base.rsplit_once('/').expect("a database in the URL");
    Some(format!("{server}/{name}"))
}

fn event(job: &str, event_type: &str, second: u32) -> String {
    serde_json::json!({
        "eventType": event_type,
        "eventTime": format!("2026-11-26T10:00:{second:02}Z"),
        "run": {"runId": format!("01a22e4e-0000-7000-8000-{:012}", job_number(job))},
        "job": {"namespace": "team", "name": job},
        "inputs": [{"namespace": "file", "name": "/data/in.csv"}],
        "outputs": [{"namespace": "file", "name": format!("/data/{job}.csv")}],
        "producer": "https://example.com/test",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    })
    .to_string()
}

fn job_number(job: &str) -> u64 {
    job.rsplit('-').next().unwrap().parse().unwrap()
}

/// The status of a POST of `body`, or `None` when the server is gone.
fn post(base: &str, body: &str) -> Option<u16> {
    let host = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    write!(
        stream,
        "POST /api/v1/lineage HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}

fn job_names(base: &str) -> HashSet<String> {
    let mut names = HashSet::new();
    let mut offset = 0;
    loop {
        let answer = http_get(&format!(
            "{base}/api/v1/namespaces/team/jobs?limit=1000&offset={offset}"
        ));
        let body = answer.split_once("\r\n\r\n").expect("a body").1;
        let page: serde_json::Value = serde_json::from_str(body).expect("JSON");
        let jobs = page["jobs"].as_array().expect("jobs");
        names.extend(jobs.iter().map(|j| j["name"].as_str().unwrap().to_owned()));
        offset += jobs.len();
        if jobs.is_empty() || offset >= page["totalCount"].as_u64().unwrap() as usize {
            return names;
        }
    }
}

/// Clients post to a replica until it is killed (SIGKILL, no chance to finish its batch):
/// every event it acknowledged is in the database, as another replica reads it.
#[test]
fn a_replica_killed_mid_batch_loses_nothing_it_acknowledged() {
    let Some(url) = database("dk_lineage_kill") else {
        return;
    };
    let ctx = context();
    let env = [("DK_LINEAGE_STORE", url.as_str())];
    let (victim, base) = lineage_server(&ctx, &env, &[]);
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let gone = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..6)
        .map(|client| {
            let (base, acknowledged, gone) = (base.clone(), acknowledged.clone(), gone.clone());
            std::thread::spawn(move || {
                // Bounded: a client stops at 2,000 events even if the kill never came.
                for index in 0..2000 {
                    let job = format!("job-{}", client * 10_000 + index);
                    match post(&base, &event(&job, "COMPLETE", 1)) {
                        Some(201) => acknowledged.lock().unwrap().push(job),
                        Some(status) if !gone.load(Ordering::SeqCst) => {
                            panic!("{job}: {status}")
                        }
                        _ => return,
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().len() < 300 {
        assert!(Instant::now() < deadline, "the replica never got going");
        std::thread::sleep(Duration::from_millis(5));
    }
    gone.store(true, Ordering::SeqCst);
    let pid = rustix::process::Pid::from_raw(victim.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
    let mut victim = victim;
    victim.wait().unwrap();
    for client in clients {
        client.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    let (survivor, base) = lineage_server(&ctx, &env, &[]);
    let stored = job_names(&base);
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|job| !stored.contains(*job))
        .collect();
    assert!(lost.is_empty(), "acknowledged and lost: {lost:?}");
    assert!(stop_server(survivor).success());
}

/// The team reads one graph: `dk lineage NAME` on a laptop with an empty store answers from
/// the server; the password of `lineage.store` is never printed.
#[test]
fn dk_lineage_reads_the_team_server() {
    let Some(url) = database("dk_lineage_team") else {
        return;
    };
    let ctx = context();
    let with_password = url.replacen("://postgres@", "://postgres:hunter2@", 1);
    let mut server = ctx
        .dk_process()
        .env("DK_LINEAGE_STORE", &with_password)
        .args(["lineage", "serve", "--port", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(!first.contains("hunter2"), "{first}");
    assert!(first.contains("store postgresql://postgres@"), "{first}");
    let base = first
        .split_whitespace()
        .find(|word| word.ends_with("/api/v1/lineage"))
        .unwrap()
        .trim_end_matches("/api/v1/lineage")
        .to_owned();
    for (job, second) in [("job-1", 1), ("job-2", 2)] {
        assert_eq!(post(&base, &event(job, "COMPLETE", second)), Some(201));
    }
    let laptop = context();
    let server_env = [("DK_LINEAGE_SERVER", base.as_str())];
    let graph = run_ok_with(&laptop, &server_env, &["lineage", "job-1", "-o", "json"], 0).json();
    assert_eq!(graph["root"]["name"], "job-1");
    let ids: Vec<&str> = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| pair[0]["name"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"/data/in.csv") && ids.contains(&"/data/job-1.csv"),
        "{ids:?}"
    );
    let missing = run_with(&laptop, &server_env, &["lineage", "nope"]);
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("on the lineage server"),
        "{}",
        missing.stderr
    );
    let pid = rustix::process::Pid::from_raw(server.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let output = server.wait_with_output().unwrap();
    assert!(!String::from_utf8_lossy(&output.stderr).contains("hunter2"));
}

/// A laptop's store moves to the team's database; re-running the migration adds nothing.
#[test]
fn migrate_moves_the_local_store_and_a_re_run_adds_nothing() {
    let Some(url) = database("dk_lineage_migrate") else {
        return;
    };
    let ctx = context();
    let (local, base) = lineage_server(&ctx, &[], &[]);
    for index in 0..12 {
        let job = format!("job-{index}");
        assert_eq!(post(&base, &event(&job, "START", 1)), Some(201));
        assert_eq!(post(&base, &event(&job, "COMPLETE", 2)), Some(201));
    }
    assert!(stop_server(local).success());
    let env = [("DK_LINEAGE_STORE", url.as_str())];
    let first = run_ok_with(
        &ctx,
        &env,
        &["lineage", "migrate", "--from", "sqlite", "-o", "json"],
        0,
    )
    .json();
    assert_eq!(
        (first["events"].as_u64(), first["new"].as_u64()),
        (Some(24), Some(24))
    );
    let again = run_ok_with(&ctx, &env, &["lineage", "migrate", "-o", "json"], 0).json();
    let secret = url.replacen("://postgres@", "://postgres:hunter2@", 1);
    let refused = run_with(&ctx, &[], &["lineage", "migrate", "--to", &secret]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(!refused.stderr.contains("hunter2"), "{}", refused.stderr);
    assert_eq!(
        (again["new"].as_u64(), again["duplicate"].as_u64()),
        (Some(0), Some(24))
    );
    let (team, base) = lineage_server(&ctx, &env, &[]);
    assert_eq!(job_names(&base).len(), 12);
    assert!(stop_server(team).success());
}

/// `hr` + `etl/load` and `hr/etl` + `load` (on the server's default SQLite store): `dk lineage
/// hr/etl/load` names both and lists their ids; each id names one, locally and through
/// `lineage.server`.
#[test]
fn dk_lineage_tells_apart_nodes_whose_names_join_alike() {
    let ctx = context();
    let (server, base) = lineage_server(&ctx, &[], &[]);
    let pair = [("hr", "etl/load", 1), ("hr/etl", "load", 2)];
    for (namespace, name, n) in pair {
        let body = serde_json::json!({
            "eventType": "COMPLETE",
            "eventTime": "2026-11-26T10:00:00.000Z",
            "producer": "https://example.com/test",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": format!("0190a1b2-0000-7000-8000-00000000000{n}")},
            "job": {"namespace": namespace, "name": name},
            "outputs": [{"namespace": "file", "name": format!("/out/{n}.csv")}],
        });
        assert_eq!(post(&base, &body.to_string()), Some(201));
    }
    let laptop = context();
    for env in [&[("DK_LINEAGE_SERVER", base.as_str())][..], &[]] {
        let (who, ctx) = if env.is_empty() {
            ("local", &ctx)
        } else {
            ("remote", &laptop)
        };
        let both = run_with(ctx, env, &["lineage", "hr/etl/load"]);
        assert_eq!(both.code, 2, "{who}: {}", both.stderr);
        for id in ["job:hr:etl/load", "job:hr/etl:load"] {
            assert!(both.stderr.contains(id), "{who}: {}", both.stderr);
            let one = run_ok_with(ctx, env, &["lineage", id, "-o", "json"], 0).json();
            let (namespace, name) = id["job:".len()..].rsplit_once(':').unwrap();
            assert_eq!(one["root"]["namespace"], namespace, "{who}");
            assert_eq!(one["root"]["name"], name, "{who}");
            assert_eq!(one["nodes"].as_array().unwrap().len(), 2, "{who}: {one}");
        }
    }
    stop_server(server);
}
