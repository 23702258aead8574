//! One run of a package, start to end, with its lineage.
//!
//! START is recorded (spool, then store) before anything runs and sent to the backend in the
//! background; the terminal event (COMPLETE, FAIL with `errorMessage`, or ABORT) follows the
//! process. Delivery is in line within a short budget, then handed to the background deliverer
//! (or, without a handoff, waited for at most `wait`): a backend that is down never fails a run
//! nor slows it beyond that bound.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use dk_lineage::background::{Delivered, Handoff, InlineDelivery, Started};
use dk_lineage::deliver::Deliverer;
use dk_lineage::emit::{LineagePaths, Recorder};
use dk_lineage::event::EventType;

use crate::dbt_lineage;
use crate::exec::{self, ExecError, Prepared, Reported};
use crate::plan::RunPlan;
use crate::process::{Exit, Foreground, Stop, supervise, supervised};
use crate::recover::Owner;

/// Lineage for a run.
#[derive(Debug, Clone)]
pub struct LineageSetup {
    pub paths: LineagePaths,
    pub deliverer: Option<Deliverer>,
    /// The longest a run waits for delivery after the pipeline ends, without a handoff.
    pub wait: Duration,
    /// Delivery in line within a budget, then by the background deliverer; `None`: within
    /// `wait` (in a pod, or `lineage.delivery: sync`).
    pub handoff: Option<Handoff>,
}

/// How a run is carried out.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Where the run's private files go (the context holds DSNs); removed afterwards.
    pub run_dir: PathBuf,
    /// Extra variables for the pipeline (`--env`).
    pub env: Vec<(String, String)>,
    /// How long a stopped pipeline gets to exit before it is killed.
    pub grace: Duration,
    pub lineage: Option<LineageSetup>,
    /// Sends the pipeline's standard output to dk's standard error, keeping stdout for the
    /// report (`-o json`).
    pub stdout_to_stderr: bool,
    /// A fixed time for every event (`DK_NOW`, for tests); otherwise the system clock.
    pub pinned_time: Option<DateTime<Utc>>,
    /// dk's own executable, through which the pipeline starts so that it dies with dk
    /// ([`crate::process::SUPERVISE`]); none: started directly.
    pub supervisor: Option<PathBuf>,
    /// The command's watch for SIGINT/SIGTERM; none: the run listens for itself.
    pub stop: Option<Stop>,
    /// dk's standard input is a terminal the pipeline may read: it gets the terminal's
    /// foreground while it runs (when dk has it, and has a `supervisor` to keep it).
    pub lend_terminal: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum RunStatus {
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

/// What lineage did for the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LineageOutcome {
    pub events: usize,
    pub delivered: usize,
    /// Still spooled for a later flush.
    pub pending: usize,
    pub rejected: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The pid of the background deliverer that has the pending events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub run_id: String,
    pub package: String,
    pub status: RunStatus,
    /// The pipeline's exit code, which dk exits with.
    pub exit_code: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why the run's end is missing from its lineage, though the pipeline ran (with
    /// `exit_code`): dk exits 3.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lineage_error: Option<String>,
    pub duration_ms: u64,
    pub lineage: Option<LineageOutcome>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("cannot record lineage: {0}")]
    Spool(#[from] dk_lineage::spool::SpoolError),
    #[error("cannot start {program}: {source}")]
    Start {
        program: String,
        source: std::io::Error,
    },
}

/// A run's private folder: removed when dropped, so that no way out of a run (success,
/// failure, timeout, SIGINT/SIGTERM forwarded to the pipeline, an error of dk's own) leaves the
/// context and generated profiles, which hold DSNs, behind.
#[derive(Debug)]
pub struct PrivateDir {
    path: PathBuf,
}

impl PrivateDir {
    /// Takes charge of `path` (which may not exist yet).
    pub fn new(path: &Path) -> PrivateDir {
        PrivateDir {
            path: path.to_owned(),
        }
    }

    /// Removes all but the owner record.
    fn scrub(&self) {
        let _ = crate::recover::scrub(&self.path);
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = crate::recover::remove(&self.path);
    }
}

/// Records an event and counts it; a spool failure stops the run (an event could be lost).
fn record(
    recorder: &mut Option<Recorder>,
    outcome: &mut LineageOutcome,
    event: &dk_lineage::event::RunEvent,
) -> Result<(), RunError> {
    if let Some(recorder) = recorder {
        if let Some(warning) = recorder.record(event)? {
            outcome.warn(warning);
        }
        outcome.events += 1;
    }
    Ok(())
}

fn absorb(outcome: &mut LineageOutcome, delivered: Delivered) {
    if delivered.passes.is_empty() && delivered.handoff.is_some() {
        // Handed off at once (the backend was found down just before): all of the run's
        // events wait for the background deliverer.
        outcome.pending = outcome.events;
    }
    for pass in delivered.passes {
        let report = match pass {
            Ok(report) => report,
            Err(err) => {
                outcome.warn(err);
                continue;
            }
        };
        outcome.delivered += report.delivered;
        outcome.rejected += report.rejected;
        outcome.pending = report.pending;
        for warning in report.warnings {
            outcome.warn(warning);
        }
        if let Some(error) = report.last_error {
            outcome.warn(format!("lineage delivery: {error}"));
        }
    }
    match delivered.handoff {
        Some(Ok(Started::Spawned(pid) | Started::Running(Some(pid)))) => {
            outcome.background = Some(pid);
        }
        Some(Ok(Started::Running(None))) | None => {}
        Some(Err(err)) => outcome.warn(format!("cannot start the background deliverer: {err}")),
    }
}

impl LineageOutcome {
    /// Adds a warning once: both delivery passes may meet the same failure.
    fn warn(&mut self, warning: String) {
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }
}

/// Records a run that failed before its pipeline started (its virtualenv, seeding, a store):
/// its START and its FAIL with the error, delivered as a run's events are. A run that could not
/// start is still a run the lineage backend hears of. Returns warnings.
pub async fn fail_before_start(plan: &RunPlan, config: &RunConfig, error: &str) -> Vec<String> {
    let Some(lineage) = &config.lineage else {
        return Vec::new();
    };
    let mut recorder = Some(Recorder::open(&lineage.paths));
    let mut outcome = LineageOutcome::default();
    for (kind, error) in [(EventType::Start, None), (EventType::Fail, Some(error))] {
        let event = plan
            .lineage
            .event(kind, config.pinned_time.unwrap_or_else(Utc::now), error);
        if let Err(err) = record(&mut recorder, &mut outcome, &event) {
            outcome.warn(err.to_string());
            return outcome.warnings;
        }
    }
    let delivery = InlineDelivery::start(
        &lineage.paths,
        lineage.deliverer.as_ref(),
        lineage.wait,
        lineage.handoff.clone(),
    );
    absorb(&mut outcome, delivery.finish().await);
    outcome.warnings
}

/// Runs the prepared pipeline of `plan` (its steps already carried out with [`exec::prepare`])
/// and reports how it ended.
pub async fn execute(
    plan: &RunPlan,
    prepared: &Prepared,
    config: &RunConfig,
) -> Result<RunReport, RunError> {
    let started = Instant::now();
    // Second precision: dbt's `generated_at` of this run may be stamped within the second.
    let since = Utc::now() - chrono::Duration::seconds(1);
    let private = PrivateDir::new(&config.run_dir);
    let mut outcome = LineageOutcome {
        target: config
            .lineage
            .as_ref()
            .and_then(|l| l.deliverer.as_ref())
            .map(|d| d.target().id()),
        ..LineageOutcome::default()
    };
    let mut recorder = config
        .lineage
        .as_ref()
        .map(|lineage| Recorder::open(&lineage.paths));
    // The owner record (with the ABORT that ends the run if dk cannot) comes before START: a
    // dk killed between them leaves a START that a later command ends.
    let dk_pid = std::process::id();
    let abort = recorder.as_ref().map(|_| {
        plan.lineage.event(
            EventType::Abort,
            config.pinned_time.unwrap_or_else(Utc::now),
            Some(&Owner::abort_message(dk_pid)),
        )
    });
    Owner::current(abort).write(&config.run_dir)?;
    record(
        &mut recorder,
        &mut outcome,
        &plan.lineage.event(
            EventType::Start,
            config.pinned_time.unwrap_or_else(Utc::now),
            None,
        ),
    )?;
    // Delivery runs alongside the pipeline; it is finished after the terminal event.
    let delivery = config
        .lineage
        .as_ref()
        .map(|l| InlineDelivery::start(&l.paths, l.deliverer.as_ref(), l.wait, l.handoff.clone()));

    let result = run_process(plan, prepared, config).await;
    // Before the folder they are in is scrubbed; whatever the pipeline's outcome, what it
    // reported happened.
    match &prepared.reported {
        Some(Reported::Events(events)) if recorder.is_some() => {
            if let Some(recorder) = &mut recorder {
                let ingested = recorder.record_file(events)?;
                outcome.events += ingested.events;
                for warning in ingested.warnings {
                    outcome.warn(warning);
                }
            }
        }
        Some(Reported::DbtResults(target)) if recorder.is_some() => {
            let built = exec::output_store(plan)
                .ok_or_else(|| "dbt wrote to no output store".to_owned())
                .and_then(|store| {
                    dbt_lineage::model_events(
                        target,
                        store,
                        &plan.lineage,
                        since,
                        config.pinned_time,
                    )
                });
            match built {
                Ok(events) => {
                    for event in &events {
                        record(&mut recorder, &mut outcome, event)?;
                    }
                }
                Err(err) => outcome.warn(format!(
                    "the models dbt built are not in the lineage: {err}"
                )),
            }
        }
        _ => {}
    }
    // The DSNs go at once; the owner record stays until the terminal event is recorded, so
    // that a dk killed before that still gets its ABORT from the next command.
    private.scrub();
    let (status, exit_code, error) = match &result {
        Ok(Exit::Succeeded) => (RunStatus::Succeeded, 0, None),
        // Docker and Podman exit with 125 when they, not the container, failed: an external
        // system's failure (3), not the pipeline's exit code.
        Ok(Exit::Failed {
            code: Some(ENGINE_FAILED),
        }) if prepared.executor == exec::Executor::Docker => (
            RunStatus::Failed,
            EXTERNAL_FAILURE,
            Some(format!(
                "the container engine could not run the container (its exit code {ENGINE_FAILED}); its message is above"
            )),
        ),
        Ok(exit @ Exit::Failed { code }) => (
            RunStatus::Failed,
            exit.code(),
            Some(match code {
                Some(code) => format!("the pipeline exited with code {code}"),
                None => "the pipeline was killed by a signal".to_owned(),
            }),
        ),
        Ok(Exit::TimedOut) => (
            RunStatus::TimedOut,
            Exit::TimedOut.code(),
            Some(format!(
                "the pipeline ran past its timeout of {}s and was stopped",
                plan.timeout.unwrap_or_default().as_secs()
            )),
        ),
        Ok(exit @ Exit::Interrupted { signal }) => (
            RunStatus::Aborted,
            exit.code(),
            Some(format!("interrupted by {signal}")),
        ),
        Err(err) => (RunStatus::Failed, 1, Some(err.to_string())),
    };
    let terminal = match status {
        RunStatus::Succeeded => EventType::Complete,
        RunStatus::Aborted => EventType::Abort,
        RunStatus::Failed | RunStatus::TimedOut => EventType::Fail,
    };
    // The pipeline ran: a full disk now loses its lineage, not the truth about the run.
    let lineage_error = match record(
        &mut recorder,
        &mut outcome,
        &plan.lineage.event(
            terminal,
            config.pinned_time.unwrap_or_else(Utc::now),
            error.as_deref(),
        ),
    ) {
        Err(RunError::Spool(err)) if err.is_disk_full() => Some(format!(
            "ran (exit {exit_code}); lineage could not be recorded (disk full)"
        )),
        other => {
            other?;
            None
        }
    };

    drop(private);
    if let Some(delivery) = delivery {
        absorb(&mut outcome, delivery.finish().await);
    }
    Ok(RunReport {
        run_id: plan.run_id.to_string(),
        package: plan.name().to_owned(),
        status,
        exit_code,
        error,
        lineage_error,
        duration_ms: started.elapsed().as_millis() as u64,
        lineage: config.lineage.as_ref().map(|_| outcome),
    })
}

/// The exit code of `docker run` and `podman run` when the engine itself failed.
const ENGINE_FAILED: i32 = 125;
/// dk's exit code when an external system failed.
const EXTERNAL_FAILURE: i32 = 3;

async fn run_process(
    plan: &RunPlan,
    prepared: &Prepared,
    config: &RunConfig,
) -> Result<Exit, RunError> {
    let context = config.run_dir.join("context.json");
    exec::write_private(
        &context,
        &serde_json::to_string_pretty(&plan.context()).unwrap_or_default(),
    )?;
    let invocation = &prepared.invocation;
    let mut command = match &config.supervisor {
        Some(supervisor) => supervised(supervisor, &invocation.program),
        None => tokio::process::Command::new(&invocation.program),
    };
    command
        .args(&invocation.args)
        .current_dir(&invocation.cwd)
        .envs(plan.contract_env(&context))
        .envs(invocation.env.iter().cloned())
        .envs(config.env.iter().cloned());
    if config.stdout_to_stderr {
        let stderr = std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|source| RunError::Start {
                program: invocation.program.clone(),
                source,
            })?;
        command.stdout(std::process::Stdio::from(stderr));
    }
    let stop = match &config.stop {
        Some(stop) => stop.clone(),
        None => Stop::listen().map_err(|source| RunError::Start {
            program: invocation.program.clone(),
            source,
        })?,
    };
    let stdin = std::io::stdin();
    let foreground = match (&config.supervisor, config.lend_terminal) {
        (Some(keeper), true) => Foreground::of(stdin.as_fd(), keeper),
        _ => None,
    };
    let exit = supervise(command, plan.timeout, config.grace, &stop, foreground)
        .await
        .map_err(|source| RunError::Start {
            program: invocation.program.clone(),
            source,
        })?;
    if let (Exit::TimedOut | Exit::Interrupted { .. }, Some(cleanup)) = (exit, &prepared.cleanup) {
        // The engine's CLI may have been killed before it stopped the container; nothing to
        // remove is the usual case, so the outcome does not matter.
        let _ = tokio::process::Command::new(&cleanup.program)
            .args(&cleanup.args)
            .current_dir(&cleanup.cwd)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await;
    }
    Ok(exit)
}
