//! How this dk delivers lineage: in line then in the background (the default), or synchronously
//! in a pod or with `lineage.delivery: sync`; and the background deliverer started when a command
//! finds events pending (recovery).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dk_config::env::{KUBERNETES_SERVICE_HOST, OPENLINEAGE_API_KEY, OPENLINEAGE_URL};
use dk_lineage::background::{self, Handoff, Launcher, Started};
use dk_lineage::deliver::{Deliverer, Target};
use dk_lineage::emit::LineagePaths;
use dk_runner::runner::LINEAGE_WAIT;

use crate::context::Context;
use crate::error::CliError;

/// The hidden subcommand the background deliverer runs.
pub const SUBCOMMAND: &str = "__deliver";

/// The budget of in-line delivery when `lineage.inlineBudget` is not set.
const INLINE_BUDGET: Duration = Duration::from_millis(250);

/// How this dk delivers lineage, read once from the configuration and environment.
pub struct Delivery {
    /// Synchronous, within `lineage.timeout`: no deliverer outlives the command.
    sync: bool,
    budget: Duration,
    timeout: Duration,
    program: PathBuf,
}

impl Delivery {
    pub fn of(ctx: &Context) -> Result<Delivery, CliError> {
        let config = ctx.config()?;
        let sync = match config.string("lineage.delivery")?.as_deref() {
            Some(mode) => mode == "sync",
            // Nothing outlives a pod: its emptyDir spool goes with it.
            None => ctx.env.get(KUBERNETES_SERVICE_HOST).is_some(),
        };
        Ok(Delivery {
            sync,
            budget: config
                .duration("lineage.inlineBudget")?
                .unwrap_or(INLINE_BUDGET),
            timeout: config.duration("lineage.timeout")?.unwrap_or(LINEAGE_WAIT),
            program: std::env::current_exe()
                .map_err(|err| CliError::failure("cannot find the dk executable").cause(err))?,
        })
    }

    /// The handoff to the background deliverer, or `None` when delivery is synchronous.
    pub fn handoff(&self, dk_home: &Path, deliverer: Option<&Deliverer>) -> Option<Handoff> {
        let deliverer = deliverer.filter(|_| !self.sync)?;
        Some(Handoff {
            budget: self.budget,
            launcher: self.launcher(dk_home, deliverer.target()),
        })
    }

    /// dk itself, running the background deliverer for `target`: its endpoint (which may hold
    /// `user:password@`) and API key in its environment, never in its command line, which any
    /// local user can read.
    fn launcher(&self, dk_home: &Path, target: &Target) -> Launcher {
        let (backend, endpoint, api_key) = match target {
            Target::Http { url, api_key } => ("http", OsString::from(url), api_key.clone()),
            Target::File(path) => ("file", path.clone().into_os_string(), None),
        };
        let args = [
            SUBCOMMAND.into(),
            "--home".into(),
            dk_home.as_os_str().to_owned(),
            "--backend".into(),
            backend.into(),
            "--timeout-ms".into(),
            self.timeout.as_millis().to_string().into(),
        ];
        Launcher {
            program: self.program.clone(),
            args: args.into(),
            env: std::iter::once((
                OPENLINEAGE_URL.to_owned(),
                endpoint.to_string_lossy().into_owned(),
            ))
            .chain(api_key.map(|key| (OPENLINEAGE_API_KEY.to_owned(), key)))
            .collect(),
        }
    }
}

/// Starts the background deliverer when events wait for the configured backend: what `run`,
/// `test`, `lineage` and `dev` do first. Never fails the command: a warning says why not.
pub fn recover(ctx: &Context) {
    let started = (|| -> Result<Option<Started>, CliError> {
        let config = ctx.config()?;
        let Some(endpoint) = config.string("lineage.endpoint")? else {
            return Ok(None);
        };
        let backend = config.string("lineage.backend")?;
        let api_key = ctx.env.get(OPENLINEAGE_API_KEY).map(str::to_owned);
        let Ok(target) = Target::new(backend.as_deref(), &endpoint, api_key) else {
            return Ok(None);
        };
        let dk_home = ctx.paths()?.dk_home;
        let Some(handoff) =
            Delivery::of(ctx)?.handoff(&dk_home, Some(&Deliverer::new(target.clone())))
        else {
            return Ok(None);
        };
        background::recover(
            &LineagePaths::under(&dk_home),
            &target.id(),
            &handoff.launcher,
        )
        .map_err(CliError::failure)
    })();
    match started {
        Ok(Some(Started::Spawned(pid))) => ctx.ui.note(format!(
            "lineage: events are pending; a background deliverer (pid {pid}) sends them"
        )),
        Ok(_) => {}
        Err(err) => tracing::debug!("lineage recovery: {}", err.message),
    }
}
