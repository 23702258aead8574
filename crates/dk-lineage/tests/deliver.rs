//! Spool, store and delivery against a real loopback HTTP endpoint.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use dk_lineage::deliver::{Deliverer, Target};
use dk_lineage::emit::{LineagePaths, Recorder, flush};
use dk_lineage::event::{EventType, new_run_id};
use dk_lineage::naming::identity;
use dk_lineage::run::{DatasetInfo, JobInfo, RunInfo};
use dk_lineage::spool::Spool;
use dk_lineage::store::{DeliveryState, LineageStore};
use dk_test::openlineage::OpenLineageValidator;
use dk_test::sink::{HttpSink, closed_port};

fn run() -> RunInfo {
    let dataset = |name: &str| DatasetInfo {
        dk_name: name.into(),
        dk_namespace: "default".into(),
        identity: identity(
            "file",
            "local",
            json!({"path": "/data"}).as_object().unwrap(),
            name,
        ),
        store: "local".into(),
        store_uri: "file:///data".into(),
        fields: vec![],
        classification: Some("internal".into()),
        owner: None,
        tags: vec![],
    };
    RunInfo {
        run_id: new_run_id(),
        job: JobInfo {
            namespace: "default".into(),
            name: "demo".into(),
            description: None,
            owner: None,
            streaming: false,
            source_code: None,
            language: "python".into(),
        },
        inputs: vec![dataset("in.csv")],
        outputs: vec![dataset("out.csv")],
        parent: None,
        nominal_time: None,
    }
}

/// Records a START and a COMPLETE event of a new run.
fn record_run(paths: &LineagePaths) -> RunInfo {
    let run = run();
    let mut recorder = Recorder::open(paths);
    let start = Utc::now();
    assert_eq!(
        recorder
            .record(&run.event(EventType::Start, start, None))
            .unwrap(),
        None
    );
    assert_eq!(
        recorder
            .record(&run.event(
                EventType::Complete,
                start + chrono::Duration::milliseconds(5),
                None
            ))
            .unwrap(),
        None
    );
    run
}

/// The types of the events the sink received, in order.
fn received_types(sink: &HttpSink) -> Vec<serde_json::Value> {
    sink.received()
        .iter()
        .map(|r| r.json()["eventType"].clone())
        .collect()
}

fn deadline_in(duration: Duration) -> (watch::Sender<Instant>, watch::Receiver<Instant>) {
    watch::channel(Instant::now() + duration)
}

/// A flush while the run still goes (as `dk run` delivers in the background) must not release
/// its spool file: the terminal event is appended to it later.
#[tokio::test]
async fn a_running_runs_spool_is_kept_for_its_terminal_event() {
    let home = tempfile::tempdir().unwrap();
    let paths = LineagePaths::under(home.path());
    let sink = HttpSink::start();
    let deliverer = Deliverer::new(Target::new(None, &sink.url(), None).unwrap());
    let (_keep, deadline) = deadline_in(Duration::from_secs(10));
    let run = run();
    let mut recorder = Recorder::open(&paths);
    let start = Utc::now();
    recorder
        .record(&run.event(EventType::Start, start, None))
        .unwrap();
    let report = flush(&paths, Some(&deliverer), deadline.clone())
        .await
        .unwrap();
    assert_eq!((report.delivered, report.released), (1, 0));
    recorder
        .record(&run.event(
            EventType::Complete,
            start + chrono::Duration::milliseconds(5),
            None,
        ))
        .unwrap();
    let report = flush(&paths, Some(&deliverer), deadline).await.unwrap();
    assert_eq!((report.delivered, report.released), (1, 1));
    assert_eq!(received_types(&sink), ["START", "COMPLETE"]);
}

#[tokio::test]
async fn events_are_delivered_once_and_the_spool_released() {
    let home = tempfile::tempdir().unwrap();
    let paths = LineagePaths::under(home.path());
    let sink = HttpSink::start();
    let run = record_run(&paths);
    let deliverer = Deliverer::new(Target::new(None, &sink.url(), Some("s3cr3t".into())).unwrap());
    let (_keep, deadline) = deadline_in(Duration::from_secs(10));
    let report = flush(&paths, Some(&deliverer), deadline.clone())
        .await
        .unwrap();
    assert_eq!(
        (report.delivered, report.pending, report.released),
        (2, 0, 1)
    );
    let received = sink.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].path, "/api/v1/lineage");
    assert_eq!(received[0].header("authorization"), Some("Bearer s3cr3t"));
    let validator = OpenLineageValidator::new();
    for request in &received {
        validator.assert_valid(&request.json());
        assert_eq!(request.json()["run"]["runId"], run.run_id.to_string());
    }
    assert!(
        Spool::new(&paths.spool).scan().unwrap().runs.is_empty(),
        "the spool is empty once delivered"
    );
    // Nothing is delivered twice.
    let again = flush(&paths, Some(&deliverer), deadline).await.unwrap();
    assert_eq!(again.delivered, 0);
    assert_eq!(sink.received().len(), 2);
}

#[tokio::test]
async fn a_backend_that_is_down_leaves_events_spooled_until_it_is_back() {
    let home = tempfile::tempdir().unwrap();
    let paths = LineagePaths::under(home.path());
    let port = closed_port();
    let deliverer = Deliverer::new(
        Target::new(
            Some("http"),
            &format!("http://127.0.0.1:{port}/lineage"),
            None,
        )
        .unwrap(),
    );
    let run = record_run(&paths);
    let (_keep, deadline) = deadline_in(Duration::from_millis(300));
    let report = flush(&paths, Some(&deliverer), deadline).await.unwrap();
    assert_eq!(
        (report.delivered, report.pending, report.released),
        (0, 2, 0)
    );
    assert!(report.last_error.is_some());
    // The events are stored locally all the same.
    let store = LineageStore::open(&paths.store).unwrap();
    assert_eq!(store.run_events(run.run_id).unwrap().len(), 2);
    assert_eq!(
        store.events(None).unwrap()[0].deliveries[0].state,
        DeliveryState::Pending
    );
    drop(store);

    let sink = HttpSink::start_on(port);
    let (_keep, deadline) = deadline_in(Duration::from_secs(10));
    let report = flush(&paths, Some(&deliverer), deadline).await.unwrap();
    assert_eq!(
        (report.delivered, report.pending, report.released),
        (2, 0, 1)
    );
    let mut per_key: HashMap<(String, String), usize> = HashMap::new();
    for request in sink.received() {
        let event = request.json();
        *per_key
            .entry((
                event["eventType"].as_str().unwrap().to_owned(),
                event["eventTime"].as_str().unwrap().to_owned(),
            ))
            .or_default() += 1;
    }
    assert_eq!(per_key.len(), 2);
    assert!(
        per_key.values().all(|count| *count == 1),
        "exactly once per event: {per_key:?}"
    );
}

#[tokio::test]
async fn server_errors_are_retried_and_refusals_are_not() {
    let home = tempfile::tempdir().unwrap();
    let paths = LineagePaths::under(home.path());
    let sink = HttpSink::start();
    sink.respond_with(&[500, 201, 400]);
    record_run(&paths);
    let deliverer = Deliverer::new(Target::new(None, &sink.url(), None).unwrap());
    let (_keep, deadline) = deadline_in(Duration::from_secs(10));
    let report = flush(&paths, Some(&deliverer), deadline).await.unwrap();
    // START: 500 then 201 (retried); COMPLETE: 400 (refused, not retried).
    assert_eq!(
        (report.delivered, report.rejected, report.pending),
        (1, 1, 0)
    );
    assert_eq!(sink.received().len(), 3);
    assert!(report.last_error.unwrap().starts_with("400"));
    assert_eq!(
        report.released, 1,
        "a refused event is settled: retrying would not help"
    );
}

#[tokio::test]
async fn a_deadline_moved_mid_flight_bounds_the_wait() {
    let home = tempfile::tempdir().unwrap();
    let paths = LineagePaths::under(home.path());
    record_run(&paths);
    // A backend failing with 503 is retried until the deadline (a refused connection is not).
    let sink = HttpSink::start();
    sink.respond_with(&[503; 1000]);
    let deliverer = Deliverer::new(Target::new(None, &sink.url(), None).unwrap());
    let (move_deadline, deadline) = deadline_in(Duration::from_secs(3600));
    let flushing = tokio::spawn({
        let paths = paths.clone();
        async move { flush(&paths, Some(&deliverer), deadline).await }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    move_deadline
        .send(Instant::now() + Duration::from_millis(100))
        .unwrap();
    let report = tokio::time::timeout(Duration::from_secs(30), flushing)
        .await
        .expect("the flush ends once the deadline passes")
        .unwrap()
        .unwrap();
    assert_eq!(report.pending, 2);
}

/// A spool file truncated, emptied or replaced after its events were stored: the store still
/// holds them as pending, and the flush delivers them from there, and says what is pending.
#[tokio::test]
async fn events_of_a_truncated_emptied_or_replaced_spool_file_are_still_delivered() {
    for damage in [
        Some(&b""[..]),
        Some(&b"{\"eventType\": \"START\"}\n"[..]),
        None,
    ] {
        let home = tempfile::tempdir().unwrap();
        let paths = LineagePaths::under(home.path());
        let port = closed_port();
        let deliverer =
            Deliverer::new(Target::new(None, &format!("http://127.0.0.1:{port}"), None).unwrap());
        let run = record_run(&paths);
        let (_keep, deadline) = deadline_in(Duration::from_millis(200));
        let report = flush(&paths, Some(&deliverer), deadline).await.unwrap();
        assert_eq!((report.delivered, report.pending), (0, 2));
        let file = paths.spool.join(format!("{}.jsonl", run.run_id));
        match damage {
            Some(bytes) => std::fs::write(&file, bytes).unwrap(),
            // Truncated in the middle of its second event.
            None => {
                let len = std::fs::metadata(&file).unwrap().len();
                std::fs::File::options()
                    .write(true)
                    .open(&file)
                    .unwrap()
                    .set_len(len - 40)
                    .unwrap();
            }
        }

        // Still down: nothing delivered, and the flush says both are pending.
        let (_keep, deadline) = deadline_in(Duration::from_millis(200));
        let report = flush(&paths, Some(&deliverer), deadline).await.unwrap();
        assert_eq!((report.delivered, report.pending), (0, 2), "{damage:?}");
        assert_eq!(report.quarantined, usize::from(damage != Some(b"")));

        let sink = HttpSink::start_on(port);
        let (_keep, deadline) = deadline_in(Duration::from_secs(10));
        let report = flush(&paths, Some(&deliverer), deadline).await.unwrap();
        assert_eq!((report.delivered, report.pending), (2, 0), "{damage:?}");
        assert_eq!(received_types(&sink), ["START", "COMPLETE"]);
        assert!(
            Spool::new(&paths.spool).scan().unwrap().runs.is_empty(),
            "the spool is released once its run's events are delivered"
        );
    }
}

/// The delivery is marked as being sent, in the store, before the request goes out: a flush
/// killed while it waits for the answer re-sends that event, and only that one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_is_marked_sending_before_its_request_goes_out() {
    let home = tempfile::tempdir().unwrap();
    let paths = LineagePaths::under(home.path());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let deliverer = Deliverer::new(
        Target::new(
            None,
            &format!("http://{}", listener.local_addr().unwrap()),
            None,
        )
        .unwrap(),
    );
    record_run(&paths);
    let (_keep, deadline) = deadline_in(Duration::from_millis(1500));
    let flushing = tokio::spawn({
        let paths = paths.clone();
        async move { flush(&paths, Some(&deliverer), deadline).await }
    });
    let store = paths.store.clone();
    let states = tokio::task::spawn_blocking(move || {
        // The request is in flight and not answered.
        let (connection, _) = listener.accept().unwrap();
        let states: Vec<DeliveryState> = LineageStore::open(&store)
            .unwrap()
            .events(None)
            .unwrap()
            .iter()
            .map(|event| event.deliveries[0].state)
            .collect();
        drop(connection);
        states
    })
    .await
    .unwrap();
    assert_eq!(states, [DeliveryState::Sending, DeliveryState::Pending]);
    let report = flushing.await.unwrap().unwrap();
    assert_eq!(report.pending, 2);
}

/// One flush delivers at a time: while another holds `flush.lock`, a flush sends nothing (it
/// would send the same events at once) and says why; once the lock is free, it delivers.
#[tokio::test]
async fn a_flush_waits_for_the_one_under_way() {
    let home = tempfile::tempdir().unwrap();
    let paths = LineagePaths::under(home.path());
    let sink = HttpSink::start();
    let deliverer = Deliverer::new(Target::new(None, &sink.url(), None).unwrap());
    record_run(&paths);
    let lock = std::fs::File::create(paths.store.with_file_name("flush.lock")).unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
    let (_keep, deadline) = deadline_in(Duration::from_millis(200));
    let report = flush(&paths, Some(&deliverer), deadline).await.unwrap();
    assert_eq!((report.delivered, report.pending), (0, 2));
    assert_eq!(
        report.last_error.as_deref(),
        Some("another dk was delivering lineage until the deadline")
    );
    assert!(sink.received().is_empty());
    drop(lock);
    let (_keep, deadline) = deadline_in(Duration::from_secs(10));
    let report = flush(&paths, Some(&deliverer), deadline).await.unwrap();
    assert_eq!((report.delivered, report.pending), (2, 0));
}

/// `scripts/bench run` with a backlog: every run with a backend that was down reread and retried
/// the whole backlog in line (43 to 49 ms over the pipeline with 60 events pending). A flush
/// that finds the backend down remembers it; the next run hands off at once, sending and
/// reading nothing in line; a flush that delivers forgets it.
#[tokio::test]
async fn a_backend_found_down_is_handed_off_at_once_until_a_delivery_succeeds() {
    use dk_lineage::background::{Handoff, InlineDelivery, Launcher, found_down};
    let home = tempfile::tempdir().unwrap();
    let paths = LineagePaths::under(home.path());
    let sink = HttpSink::start();
    let deliverer = Deliverer::new(Target::new(Some("http"), &sink.url(), None).unwrap());
    let target = deliverer.target().id();
    let handoff = Handoff {
        budget: Duration::from_millis(250),
        // Stands for the background deliverer: starts and ends at once.
        launcher: Launcher {
            program: "true".into(),
            args: vec![],
            env: vec![],
        },
    };
    sink.respond_with(&[503]);
    record_run(&paths);
    let (_keep, deadline) = deadline_in(Duration::from_secs(10));
    let report = flush(&paths, Some(&deliverer.in_line()), deadline)
        .await
        .unwrap();
    assert_eq!(report.pending, 2);
    assert!(found_down(&paths, &target), "the 503 is remembered");
    assert!(
        !found_down(&paths, "http://elsewhere/"),
        "for its target only"
    );
    let before = sink.received().len();

    record_run(&paths);
    let delivery = InlineDelivery::start(
        &paths,
        Some(&deliverer),
        Duration::from_secs(2),
        Some(handoff.clone()),
    );
    let delivered = delivery.finish().await;
    assert!(delivered.passes.is_empty(), "{:?}", delivered.passes);
    assert!(matches!(delivered.handoff, Some(Ok(_))));
    assert_eq!(sink.received().len(), before, "nothing sent in line");

    let (_keep, deadline) = deadline_in(Duration::from_secs(10));
    let report = flush(&paths, Some(&deliverer), deadline).await.unwrap();
    assert_eq!((report.delivered, report.pending), (4, 0));
    assert!(!found_down(&paths, &target), "a delivery forgets it");
    let delivery = InlineDelivery::start(
        &paths,
        Some(&deliverer),
        Duration::from_secs(2),
        Some(handoff),
    );
    assert!(!delivery.finish().await.passes.is_empty(), "in line again");
}

/// A run that outlasts the in-line budget (a streaming one runs for ever) handed what the budget
/// could not send to the background deliverer only once its pipeline ended: a streaming
/// Deployment's START reached the backend when the pod stopped, if at all. It is handed off as
/// soon as the budget is spent, while the pipeline still runs.
#[tokio::test]
async fn what_the_budget_could_not_send_is_handed_off_while_the_pipeline_runs() {
    use dk_lineage::background::{Handoff, InlineDelivery, Launcher};
    let home = tempfile::tempdir().unwrap();
    let paths = LineagePaths::under(home.path());
    let sink = HttpSink::start();
    sink.respond_with(&[503]);
    let deliverer = Deliverer::new(Target::new(Some("http"), &sink.url(), None).unwrap());
    let started = home.path().join("deliverer-started");
    let handoff = Handoff {
        budget: Duration::from_millis(250),
        // Stands for the background deliverer: leaves a mark that it was started.
        launcher: Launcher {
            program: "touch".into(),
            args: vec![started.clone().into()],
            env: vec![],
        },
    };
    record_run(&paths);
    let delivery = InlineDelivery::start(
        &paths,
        Some(&deliverer),
        Duration::from_secs(2),
        Some(handoff),
    );
    // The pipeline is still running: `finish` has not been called.
    let until = Instant::now() + Duration::from_secs(20);
    while !started.exists() && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(started.exists(), "no deliverer while the pipeline runs");
    assert!(matches!(delivery.finish().await.handoff, Some(Ok(_))));
}

/// Attacker review: the lineage folder, the store and the spool were readable by every local
/// user (0755 folders, 0644 files), with events naming datasets, SQL and error messages.
#[test]
fn lineage_is_private_to_its_user_and_loose_modes_are_tightened() {
    use std::os::unix::fs::PermissionsExt;
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let home = tempfile::tempdir().unwrap();
    let paths = LineagePaths::under(home.path());
    record_run(&paths);
    let lineage = paths.store.parent().unwrap();
    let spooled = std::fs::read_dir(&paths.spool)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(mode(lineage), 0o700);
    assert_eq!(mode(&paths.spool), 0o700);
    assert_eq!(mode(&paths.store), 0o600);
    assert_eq!(mode(&spooled), 0o600);

    // What an older dk left.
    for (path, loose) in [
        (lineage, 0o755),
        (paths.spool.as_path(), 0o755),
        (paths.store.as_path(), 0o644),
        (spooled.as_path(), 0o644),
    ] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(loose)).unwrap();
    }
    drop(LineageStore::open(&paths.store).unwrap());
    Spool::new(&paths.spool).scan().unwrap();
    let run = run();
    let mut recorder = Recorder::open(&paths);
    recorder
        .record(&run.event(EventType::Start, Utc::now(), None))
        .unwrap();
    assert_eq!(mode(lineage), 0o700);
    assert_eq!(mode(&paths.spool), 0o700);
    assert_eq!(mode(&paths.store), 0o600);
    assert_eq!(mode(&spooled), 0o600);
}
