//! `dk __deliver` (hidden): the background deliverer a command starts when a lineage backend did
//! not take its events in line. Its standard streams are `lineage/deliver.log`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use dk_config::env::{OPENLINEAGE_API_KEY, OPENLINEAGE_URL};
use dk_lineage::background::{self, Rounds, Served};
use dk_lineage::deliver::{Deliverer, Target};
use dk_lineage::emit::LineagePaths;

use crate::context::Context;
use crate::error::{CliError, ExitStatus};

#[derive(Debug, Args)]
pub struct DeliverArgs {
    /// The dk home whose events are delivered
    #[arg(long)]
    pub home: PathBuf,
    #[arg(long)]
    pub backend: String,
    /// Bounds each round (`lineage.timeout`)
    #[arg(long)]
    pub timeout_ms: u64,
}

pub fn run(args: DeliverArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    background::detach();
    let api_key = ctx.env.get(OPENLINEAGE_API_KEY).map(str::to_owned);
    let endpoint = ctx
        .env
        .get(OPENLINEAGE_URL)
        .ok_or_else(|| CliError::usage(format!("{OPENLINEAGE_URL} is not set")))?;
    let target = Target::new(Some(&args.backend), endpoint, api_key)
        .map_err(|err| CliError::usage(err.to_string()))?;
    let deliverer = Deliverer::new(target);
    let paths = LineagePaths::under(&args.home);
    let rounds = Rounds::new(Duration::from_millis(args.timeout_ms));
    let pid = std::process::id();
    // Its standard error is the log file.
    let log = |line: String| {
        let _ = writeln!(
            std::io::stderr(),
            "{} deliverer {pid}: {line}",
            chrono::Utc::now().to_rfc3339()
        );
    };
    log(format!("started for {}", deliverer.target().id()));
    let served = super::runtime()?.block_on(background::serve(&paths, &deliverer, rounds, log));
    log(match served {
        Served::Done => "nothing pending; exiting".to_owned(),
        Served::GaveUp { pending } => format!(
            "{pending} events still pending after {} rounds; the next run, test, dev or lineage command starts another deliverer",
            rounds.max_rounds
        ),
        Served::AlreadyRunning => "another deliverer is running; exiting".to_owned(),
        Served::Failed(err) => format!("stopped: {err}"),
    });
    Ok(ExitStatus::Success)
}
