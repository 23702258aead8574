//! Issue 13, tests and numbers: dk killed with SIGKILL at random points of `dk run` and
//! `dk lineage flush`, against a real HTTP backend on loopback. After recovery (the next dk
//! command), every run has exactly one START and exactly one terminal event (COMPLETE, FAIL or
//! ABORT), in the store and at the backend; the backend received each event at least once and
//! a duplicate only for a dk killed while it had that event in flight; no pipeline outlives its
//! dk.
//!
//! 200 kills by default; `DK_TEST_CRASH_ITERATIONS` asks for more, `DK_TEST_CRASH_SEED` replays
//! a failure (the seed is printed with every failure).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use dk_test::TestContext;
use dk_test::sink::HttpSink;
use serde_json::Value;

use crate::common::{Run, context, run_ok};

const ITERATIONS: &str = "DK_TEST_CRASH_ITERATIONS";
const SEED: &str = "DK_TEST_CRASH_SEED";
const DEFAULT_ITERATIONS: usize = 200;
/// The longest any one dk may take before the harness calls it hung.
const HANG: Duration = Duration::from_secs(60);

/// splitmix64: a seeded generator, so that a failure replays with its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn duration_below(&mut self, limit: Duration) -> Duration {
        Duration::from_micros(self.below(limit.as_micros() as u64 + 1))
    }
}

/// The pipeline: records its pid and process group, then sleeps `NAP` seconds. A long nap
/// outlives any honest kill: were it orphaned, it would still run when the harness looks.
const PIPELINE: &str = "import os, time\n\
with open(os.environ['PIDS'], 'a') as f:\n    f.write(f'{os.getpid()} {os.getpgid(0)}\\n')\n\
time.sleep(float(os.environ['NAP']))\n";

/// The process group of a live process (a zombie is not live: it only waits to be reaped).
fn process_group(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.nth(1)?.parse().ok()
}

/// Live processes that are a recorded pipeline or in its process group.
fn survivors(pipelines: &BTreeSet<(i32, i32)>) -> Vec<i32> {
    let groups: BTreeSet<i32> = pipelines.iter().map(|(_, group)| *group).collect();
    let pids: BTreeSet<i32> = pipelines.iter().map(|(pid, _)| *pid).collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            process_group(*pid).is_some_and(|group| groups.contains(&group) || pids.contains(pid))
        })
        .collect()
}

/// Every path below `dir`, with the owner records' contents.
fn walkdir(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        found.push(format!(
            "{} {}",
            path.display(),
            std::fs::read_to_string(&path).unwrap_or_default()
        ));
        if path.is_dir() {
            found.extend(walkdir(&path));
        }
    }
    found
}

fn recorded_pipelines(ctx: &TestContext) -> BTreeSet<(i32, i32)> {
    std::fs::read_to_string(ctx.work().join("pids"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (pid, group) = line.split_once(' ')?;
            Some((pid.parse().ok()?, group.parse().ok()?))
        })
        .collect()
}

struct Harness<'a> {
    ctx: &'a TestContext,
    url: String,
    seed: u64,
    rng: Rng,
    /// dk processes killed while they ran: each may have had one event in flight.
    kills: usize,
}

impl Harness<'_> {
    /// dk with the backend's URL, its output piped (`output`) or discarded.
    fn spawn_with(&self, args: &[&str], output: fn() -> Stdio) -> Child {
        self.ctx
            .dk_process()
            .env("OPENLINEAGE_URL", &self.url)
            .args(args)
            .stdout(output())
            .stderr(output())
            .spawn()
            .expect("start dk")
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.spawn_with(args, Stdio::null)
    }

    /// Waits for dk, reading its output meanwhile (a full pipe would stall it).
    fn finish(&self, child: Child, what: &str) -> Run {
        let pid = child.id();
        let (done, wait) = std::sync::mpsc::channel();
        std::thread::spawn(move || done.send(child.wait_with_output()));
        match wait.recv_timeout(HANG) {
            Ok(output) => Run::from_output(output.unwrap()),
            Err(_) => {
                let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                panic!("seed {}: dk {what} hung", self.seed);
            }
        }
    }

    fn dk(&self, args: &[&str]) -> Run {
        self.finish(self.spawn_with(args, Stdio::piped), &args.join(" "))
    }

    /// Starts dk and kills it with SIGKILL after `delay`, unless it ended first.
    fn kill_after(&mut self, args: &[&str], delay: Duration) {
        let mut child = self.spawn(args);
        let until = Instant::now() + delay;
        while Instant::now() < until {
            if child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(1).min(until - Instant::now()));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            self.kills += 1;
        }
        child.wait().unwrap();
    }

    fn run_args(&self, nap: &str) -> Vec<String> {
        let pids = self.ctx.work().join("pids");
        vec![
            "run".into(),
            "demo".into(),
            "--env".into(),
            format!("PIDS={}", pids.display()),
            "--env".into(),
            format!("NAP={nap}"),
        ]
    }

    /// How long an unkilled command takes (the median of three), to spread kills over it.
    fn span(&self, args: &[&str]) -> Duration {
        let mut spans: Vec<Duration> = (0..3)
            .map(|_| {
                let started = Instant::now();
                self.dk(args);
                started.elapsed()
            })
            .collect();
        spans.sort();
        spans[1]
    }
}

fn iterations() -> usize {
    std::env::var(ITERATIONS)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_ITERATIONS)
}

fn seed() -> u64 {
    std::env::var(SEED)
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

#[test]
fn dk_killed_at_random_points_of_run_and_flush_loses_and_duplicates_nothing_but_in_flight() {
    let seed = seed();
    // Shown with the test's output when it fails.
    let _ = writeln!(
        std::io::stderr(),
        "crash harness: seed {seed} (replay with {SEED}={seed})"
    );
    let ctx = context();
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    ctx.write("demo/main.py", PIPELINE);
    let sink = HttpSink::start();
    let mut h = Harness {
        ctx: &ctx,
        url: sink.url(),
        seed,
        rng: Rng(seed),
        kills: 0,
    };
    let short = h.run_args("0.05");
    let short: Vec<&str> = short.iter().map(String::as_str).collect();
    let long = h.run_args("30");
    let long: Vec<&str> = long.iter().map(String::as_str).collect();
    let run_span = h.span(&short);
    // A backlog for the flushes to send: runs that hand everything to the background deliverer
    // at once.
    let mut backlog = short.clone();
    backlog.extend(["--config", "lineage.inlineBudget=0ms"]);

    let mut started = 0;
    for _ in 0..iterations() {
        match h.rng.below(10) {
            // Anywhere in a run, start to end.
            0..=4 => {
                let delay = h.rng.duration_below(run_span + run_span / 4);
                h.kill_after(&short, delay);
            }
            // While the pipeline runs: it must die with dk.
            5 => {
                let before = recorded_pipelines(&ctx).len();
                let mut child = h.spawn(&long);
                let deadline = Instant::now() + HANG;
                while recorded_pipelines(&ctx).len() == before {
                    assert!(
                        Instant::now() < deadline,
                        "seed {seed}: the pipeline never started"
                    );
                    std::thread::sleep(Duration::from_millis(5));
                }
                std::thread::sleep(h.rng.duration_below(Duration::from_millis(50)));
                child.kill().unwrap();
                child.wait().unwrap();
                h.kills += 1;
            }
            6..=7 => {
                let delay = h.rng.duration_below(run_span);
                h.kill_after(&backlog, delay);
            }
            _ => {
                let delay = h.rng.duration_below(run_span);
                h.kill_after(&["lineage", "flush", "--timeout", "30s"], delay);
            }
        }
        started += 1;
    }

    // Recovery: the next command ends what the kills left and delivers everything.
    let mut flushed = h.dk(&["lineage", "flush", "--timeout", "60s", "-o", "json"]);
    for _ in 0..3 {
        if flushed.code == 0 {
            break;
        }
        flushed = h.dk(&["lineage", "flush", "--timeout", "60s", "-o", "json"]);
    }
    assert_eq!(
        flushed.code,
        0,
        "seed {seed}: events stay pending after recovery\n{}",
        flushed.transcript()
    );

    // No pipeline outlives its dk (a killed dk's pipeline gets a moment to receive its signal).
    let pipelines = recorded_pipelines(&ctx);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = survivors(&pipelines);
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "seed {seed}: pipelines outlived their dk: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<String> = walkdir(&ctx.dk_home().join("runs"));
    assert!(
        left.is_empty(),
        "seed {seed}: run folders (with their contexts) left behind: {left:?}"
    );

    // The store: one START and one terminal event per run, every event delivered.
    let listed = h.dk(&["lineage", "events", "-o", "json"]);
    assert_eq!(listed.code, 0, "{}", listed.transcript());
    let target = format!("{}/api/v1/lineage", h.url);
    let mut stored: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut keys = BTreeSet::new();
    for event in listed.json()["events"].as_array().unwrap() {
        let run = event["runId"].as_str().unwrap().to_owned();
        let kind = event["eventType"].as_str().unwrap().to_owned();
        stored.entry(run).or_default().push(kind);
        keys.insert(event["key"].as_str().unwrap().to_owned());
        let delivered = event["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["target"] == target.as_str() && d["state"] == "delivered");
        assert!(
            delivered,
            "seed {seed}: not delivered after recovery: {}",
            event["key"]
        );
    }
    let one_start_one_end = |kinds: &[String]| {
        kinds.iter().filter(|k| *k == "START").count() == 1
            && kinds
                .iter()
                .filter(|k| matches!(k.as_str(), "COMPLETE" | "FAIL" | "ABORT"))
                .count()
                == 1
            && kinds.len() == 2
    };
    for (run, kinds) in &stored {
        assert!(
            one_start_one_end(kinds),
            "seed {seed}: run {run} has {kinds:?} in the store"
        );
    }

    // The backend: the same events, each at least once; copies only of what was in flight.
    let mut received: HashMap<String, usize> = HashMap::new();
    let mut at_sink: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for request in sink.received() {
        let event: Value = request.json();
        let run = event["run"]["runId"].as_str().unwrap().to_owned();
        let kind = event["eventType"].as_str().unwrap().to_owned();
        let time = event["eventTime"].as_str().unwrap().to_owned();
        *received.entry(format!("{run}:{kind}:{time}")).or_default() += 1;
        at_sink.entry(run).or_default().insert(kind);
    }
    let sent: BTreeSet<String> = received.keys().cloned().collect();
    assert_eq!(
        sent, keys,
        "seed {seed}: the backend and the store disagree on the events"
    );
    for (run, kinds) in &at_sink {
        let kinds: Vec<String> = kinds.iter().cloned().collect();
        assert!(
            one_start_one_end(&kinds),
            "seed {seed}: run {run} has {kinds:?} at the backend"
        );
    }
    let duplicates: usize = received.values().map(|n| n - 1).sum();
    assert!(
        duplicates <= h.kills,
        "seed {seed}: {duplicates} duplicates at the backend for {} kills: {:?}",
        h.kills,
        received.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
    let _ = writeln!(
        std::io::stderr(),
        "crash harness: {started} commands, {} kills, {} runs, {} events, {duplicates} duplicates",
        h.kills,
        stored.len(),
        keys.len()
    );
}
