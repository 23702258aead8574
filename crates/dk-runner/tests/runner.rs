//! The runner through its API, as a frontend uses it: settings in, typed errors and reports
//! out; a run's owner record and the recovery of runs whose dk is gone.

use std::path::Path;

use dk_lineage::emit::{LineagePaths, Recorder};
use dk_lineage::event::{EventType, new_run_id};
use dk_lineage::store::LineageStore;
use dk_manifest::discover::{DiscoverOptions, Project, load_package_project};
use dk_manifest::overrides::Overrides;
use dk_runner::exec::{Executor, Purpose};
use dk_runner::recover::{Owner, recover};
use dk_runner::run::RunStatus;
use dk_runner::runner::{ErrorKind, Runner, RunnerError, RunnerSettings, parse_env, run_order};

fn write(root: &Path, relative: &str, text: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn load(dir: &Path) -> Project {
    load_package_project(dir, &Overrides::default(), &DiscoverOptions::default())
}

/// A project with one generic package running `command` (a shell script).
fn project(root: &Path, command: &str) -> Project {
    write(root, ".dk/.keep", "");
    write(
        root,
        "store/files.yaml",
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Store\nmetadata:\n  name: files\nspec:\n  connector: file\n  connection:\n    path: data\n",
    );
    for name in ["raw", "clean"] {
        write(
            root,
            &format!("dataset/{name}.yaml"),
            &format!(
                "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: DataSet\nmetadata:\n  name: {name}\nspec:\n  store: files\n  path: {name}.csv\n  format: csv\n  classification: internal\n  schema:\n    - name: id\n      type: integer\n"
            ),
        );
    }
    write(
        root,
        "demo/dk.yaml",
        &format!(
            "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Transform\nmetadata:\n  name: demo\nspec:\n  runtime: generic\n  command: [sh, -c, '{command}']\n  owner: data-team\n  inputs: [{{dataset: raw}}]\n  outputs: [{{dataset: clean}}]\n"
        ),
    );
    load(&root.join("demo"))
}

fn settings(dk_home: &Path, env: &[(&str, &str)]) -> RunnerSettings {
    RunnerSettings {
        dk_home: dk_home.to_owned(),
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .chain([("PATH".to_owned(), std::env::var("PATH").unwrap_or_default())])
            .collect(),
        ..RunnerSettings::default()
    }
}

#[test]
fn a_package_runs_to_its_end_with_lineage_and_leaves_no_private_files() {
    let dir = tempfile::tempdir().unwrap();
    let dk_home = dir.path().join("home");
    let project = project(dir.path(), "echo ran; exit 3");
    let order = run_order(std::slice::from_ref(&project)).unwrap();
    assert_eq!(order.len(), 1);
    let (_, package) = order[0];
    let runner = Runner::new(
        settings(&dk_home, &[("DK_NOW", "2026-01-01T00:00:00Z")]),
        Box::new(|_| {}),
    )
    .unwrap();
    let plan = runner.plan(&project, package, new_run_id(), None).unwrap();
    let prepared = runner
        .prepare(&plan, Executor::Local, Purpose::Run, &[])
        .unwrap();
    let lineage = runner.lineage(None).unwrap();
    assert!(lineage.deliverer.is_none(), "no backend configured");
    let config = runner.config(&plan, &[], Some(lineage));
    let mut log = Vec::new();
    let report = runner.execute(&plan, &prepared, &config, &mut log).unwrap();
    assert_eq!((report.status, report.exit_code), (RunStatus::Failed, 3));
    assert_eq!(report.lineage.as_ref().map(|l| l.events), Some(2));
    assert!(
        !runner.run_dir(&plan).exists(),
        "the private folder is removed"
    );
    let store = LineageStore::open(&LineagePaths::under(&dk_home).store).unwrap();
    let types: Vec<EventType> = store
        .run_events(plan.run_id)
        .unwrap()
        .iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(types, [EventType::Start, EventType::Fail]);
}

#[test]
fn settings_are_checked_with_typed_errors_and_hints() {
    let dir = tempfile::tempdir().unwrap();
    let err = Runner::new(
        settings(dir.path(), &[("DK_NOW", "yesterday")]),
        Box::new(|_| {}),
    )
    .unwrap_err();
    assert!(matches!(err, RunnerError::Time { .. }));
    assert_eq!(err.kind(), ErrorKind::Usage);
    assert!(
        err.to_string()
            .starts_with("DK_NOW=`yesterday` is not an RFC 3339 time")
    );
    assert_eq!(
        err.hint().as_deref(),
        Some("e.g. DK_NOW=2026-01-01T00:00:00Z, or unset it")
    );
    let err = Runner::new(
        settings(dir.path(), &[("DK_SCHEDULE", "every day")]),
        Box::new(|_| {}),
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("DK_SCHEDULE: "), "{err}");
    let err = Runner::new(
        settings(dir.path(), &[("OPENLINEAGE_PARENT_ID", "nope")]),
        Box::new(|_| {}),
    )
    .unwrap_err();
    assert!(matches!(err, RunnerError::Parent { .. }));
    assert_eq!(
        parse_env(&["A=1".into(), "B==2".into()]).unwrap()[1].1,
        "=2"
    );
    assert_eq!(parse_env(&["=x".into()]), Err("=x"));

    // A secret the environment lacks: named, with what to do.
    let project = project(dir.path(), "true");
    write(
        dir.path(),
        "store/warehouse.yaml",
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Store\nmetadata:\n  name: warehouse\nspec:\n  connector: postgres\n  connection:\n    host: 127.0.0.1\n    port: 5432\n    database: dk\n    user: dk\n  secrets:\n    password: ${DK_TEST_UNSET_PASSWORD}\n",
    );
    write(
        dir.path(),
        "dataset/raw.yaml",
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: DataSet\nmetadata:\n  name: raw\nspec:\n  store: warehouse\n  table: public.raw\n  classification: internal\n  schema:\n    - name: id\n      type: integer\n",
    );
    let project = load(&project.packages[0].dir);
    let runner = Runner::new(settings(dir.path(), &[]), Box::new(|_| {})).unwrap();
    let err = runner
        .plan(&project, &project.packages[0], new_run_id(), None)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage);
    assert!(
        err.hint()
            .is_some_and(|hint| hint.contains("export DK_TEST_UNSET_PASSWORD=")),
        "{err}: {:?}",
        err.hint()
    );
}

/// What a dk killed while its run was under way leaves: its START recorded (unless `started`
/// is false), its owner record with a pid that is gone, and the context with a DSN.
fn killed_run(
    dk_home: &Path,
    root: &Path,
    started: bool,
) -> (Runner, uuid::Uuid, std::path::PathBuf) {
    let project = project(root, "true");
    let runner = Runner::new(settings(dk_home, &[]), Box::new(|_| {})).unwrap();
    let plan = runner
        .plan(&project, &project.packages[0], new_run_id(), None)
        .unwrap();
    let run_dir = runner.run_dir(&plan);
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    let abort = plan.lineage.event(
        EventType::Abort,
        chrono::Utc::now(),
        Some(&Owner::abort_message(pid)),
    );
    let owner = Owner {
        dk_pid: pid,
        dk_start: None,
        abort: Some(abort),
    };
    owner.write(&run_dir).unwrap();
    std::fs::write(run_dir.join("context.json"), "{\"dsn\": \"secret\"}").unwrap();
    if started {
        let start = plan
            .lineage
            .event(EventType::Start, chrono::Utc::now(), None);
        Recorder::open(&LineagePaths::under(dk_home))
            .record(&start)
            .unwrap();
    }
    (runner, plan.run_id, run_dir)
}

fn event_types(dk_home: &Path, run: uuid::Uuid) -> Vec<EventType> {
    let store = LineageStore::open(&LineagePaths::under(dk_home).store).unwrap();
    store
        .run_events(run)
        .unwrap()
        .iter()
        .map(|e| e.event_type)
        .collect()
}

#[test]
fn runs_whose_dk_is_gone_get_their_abort_and_lose_their_files() {
    let dir = tempfile::tempdir().unwrap();
    let dk_home = dir.path().join("home");
    let (_runner, run, run_dir) = killed_run(&dk_home, dir.path(), true);
    // A run of a live dk (this process).
    let live = dk_home.join("runs/live");
    Owner::current(None).write(&live).unwrap();

    let recovery = recover(&dk_home, chrono::Utc::now());
    assert_eq!(recovery.recovered.len(), 1, "{recovery:?}");
    assert!(recovery.recovered[0].aborted);
    assert!(!run_dir.exists());
    assert!(live.exists(), "a live dk's run is left alone");
    assert_eq!(
        event_types(&dk_home, run),
        [EventType::Start, EventType::Abort]
    );
    assert!(
        recover(&dk_home, chrono::Utc::now()).recovered.is_empty(),
        "once"
    );
}

/// Found by the crash harness: a recovery killed after recording the ABORT, before removing
/// the folder, was done again by the next command with a new time: a second ABORT.
#[test]
fn a_recovery_done_twice_records_one_abort() {
    let dir = tempfile::tempdir().unwrap();
    let dk_home = dir.path().join("home");
    let (_runner, run, run_dir) = killed_run(&dk_home, dir.path(), true);
    let owner = std::fs::read(run_dir.join("owner.json")).unwrap();
    assert!(recover(&dk_home, chrono::Utc::now()).recovered[0].aborted);
    // The folder as a recovery killed after recording the ABORT leaves it.
    std::fs::create_dir_all(&run_dir).unwrap();
    std::fs::write(run_dir.join("owner.json"), owner).unwrap();
    let later = chrono::Utc::now() + chrono::Duration::seconds(5);
    assert!(!recover(&dk_home, later).recovered[0].aborted);
    assert_eq!(
        event_types(&dk_home, run),
        [EventType::Start, EventType::Abort]
    );
}

/// A dk killed before its START was recorded has no run to end: its folder goes, no ABORT.
#[test]
fn a_run_killed_before_its_start_gets_no_abort() {
    let dir = tempfile::tempdir().unwrap();
    let dk_home = dir.path().join("home");
    let (_runner, run, run_dir) = killed_run(&dk_home, dir.path(), false);
    let recovery = recover(&dk_home, chrono::Utc::now());
    assert!(!recovery.recovered[0].aborted, "{recovery:?}");
    assert!(!run_dir.exists());
    assert!(event_types(&dk_home, run).is_empty());
}

/// Found by the crash harness: a dk killed after its terminal event was spooled, before the
/// store had it and before its folder was removed, got an ABORT too: two terminal events.
#[test]
fn a_run_whose_terminal_event_is_spooled_gets_no_abort() {
    let dir = tempfile::tempdir().unwrap();
    let dk_home = dir.path().join("home");
    let (runner, run, run_dir) = killed_run(&dk_home, dir.path(), true);
    let project = project(dir.path(), "true");
    let plan = runner
        .plan(&project, &project.packages[0], run, None)
        .unwrap();
    let complete = plan
        .lineage
        .event(EventType::Complete, chrono::Utc::now(), None);
    // Spooled only: the store never saw it.
    dk_lineage::spool::Spool::new(&LineagePaths::under(&dk_home).spool)
        .append(&complete)
        .unwrap();
    let recovery = recover(&dk_home, chrono::Utc::now());
    assert!(!recovery.recovered[0].aborted, "{recovery:?}");
    assert!(!run_dir.exists());
    assert_eq!(
        event_types(&dk_home, run),
        [EventType::Start, EventType::Complete]
    );
}

/// Found by the crash harness: a dk killed while writing the owner record of a new run left a
/// folder without one, which no later command could tell from a live run's and removed. A run
/// folder now appears with its owner record; what a killed dk was making is swept.
#[test]
fn a_run_folder_never_lacks_its_owner_and_a_half_made_one_is_swept() {
    let dir = tempfile::tempdir().unwrap();
    let dk_home = dir.path().join("home");
    let run_dir = dk_home.join("runs/0190a000-0000-7000-8000-000000000003");
    Owner::current(None).write(&run_dir).unwrap();
    let names: Vec<_> = std::fs::read_dir(dk_home.join("runs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        names,
        [run_dir.file_name().unwrap()],
        "no staging folder left"
    );
    assert!(run_dir.join("owner.json").is_file());

    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    let half_made = dk_home.join(format!(
        "runs/.0190a000-0000-7000-8000-000000000004.{pid}.0.tmp"
    ));
    std::fs::create_dir_all(&half_made).unwrap();
    std::fs::write(half_made.join(format!(".owner.json.{pid}.0.tmp")), "{").unwrap();
    // And what a removal killed midway leaves (found by the harness too: an empty folder).
    let half_removed = dk_home.join(format!(
        "runs/.0190a000-0000-7000-8000-000000000005.{pid}.1.tmp"
    ));
    std::fs::create_dir_all(&half_removed).unwrap();
    std::fs::write(half_removed.join("context.json"), "{\"dsn\": \"secret\"}").unwrap();
    recover(&dk_home, chrono::Utc::now());
    assert!(
        !half_removed.exists(),
        "the killed dk's half-removed folder is swept"
    );
    assert!(
        !half_made.exists(),
        "the killed dk's half-made folder is swept"
    );
    assert!(run_dir.exists(), "a live run's folder stays");
}

/// Attacker review: recovery followed links. With `runs` (or a run folder, or its owner record)
/// a link, or an owner record copied from another run's folder, a later dk recorded an ABORT
/// for a run that was not there and removed whatever the link pointed at.
#[test]
fn recovery_follows_no_link_and_trusts_no_borrowed_owner_record() {
    let dir = tempfile::tempdir().unwrap();
    let dk_home = dir.path().join("home");
    let (_runner, run, run_dir) = killed_run(&dk_home, dir.path(), true);
    let runs = dk_home.join("runs");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::rename(&runs, &elsewhere).unwrap();
    let name = run_dir.file_name().unwrap();

    // `runs` itself a link.
    std::os::unix::fs::symlink(&elsewhere, &runs).unwrap();
    recover(&dk_home, chrono::Utc::now());
    assert!(elsewhere.join(name).join("context.json").exists());
    std::fs::remove_file(&runs).unwrap();

    // A run folder that is a link.
    std::fs::create_dir(&runs).unwrap();
    std::os::unix::fs::symlink(elsewhere.join(name), runs.join(name)).unwrap();
    recover(&dk_home, chrono::Utc::now());
    assert!(elsewhere.join(name).join("context.json").exists());
    std::fs::remove_file(runs.join(name)).unwrap();

    // An owner record that is a link.
    std::fs::create_dir(runs.join(name)).unwrap();
    std::os::unix::fs::symlink(
        elsewhere.join(name).join("owner.json"),
        runs.join(name).join("owner.json"),
    )
    .unwrap();
    recover(&dk_home, chrono::Utc::now());
    assert!(runs.join(name).exists());
    std::fs::remove_dir_all(runs.join(name)).unwrap();

    // An owner record copied into a folder of another name.
    let other = runs.join("0190a000-0000-7000-8000-000000000009");
    std::fs::create_dir(&other).unwrap();
    std::fs::copy(
        elsewhere.join(name).join("owner.json"),
        other.join("owner.json"),
    )
    .unwrap();
    recover(&dk_home, chrono::Utc::now());
    assert!(other.join("owner.json").exists(), "not removed");
    std::fs::remove_dir_all(&other).unwrap();

    // Another user's folder (where this test may hand one over: as root).
    std::fs::rename(elsewhere.join(name), runs.join(name)).unwrap();
    let chowned = std::process::Command::new("chown")
        .args(["-R", "65534"])
        .arg(runs.join(name))
        .status()
        .is_ok_and(|status| status.success());
    if chowned {
        recover(&dk_home, chrono::Utc::now());
        assert!(
            runs.join(name).exists(),
            "another user's folder is left alone"
        );
    }

    assert_eq!(event_types(&dk_home, run), [EventType::Start], "no ABORT");
}
