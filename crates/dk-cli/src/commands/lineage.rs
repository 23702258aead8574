//! `dk lineage`: the lineage recorded by runs (the local store), its events and their delivery.

use std::collections::HashMap;
use std::io::{self, Write};
use std::time::Duration;

use clap::{Args, Subcommand};
use serde::Serialize;
use tokio::sync::watch;
use uuid::Uuid;

use dk_config::env::{BROWSER, DK_LINEAGE_TOKEN, HOME, PGPASSFILE, PGPASSWORD};
use dk_lineage::backend::{self, Location};
use dk_lineage::background;
use dk_lineage::emit::{FlushReport, LineagePaths, Synced, flush, sync_store};
use dk_lineage::graph::{Direction, Neighbourhood, NodeKind};
use dk_lineage::migrate::Migrated;
use dk_lineage::pg::PgUrl;
use dk_lineage::server::{ServerConfig, serve_all};
use dk_lineage::spool::Quarantined;
use dk_lineage::store::{DeliveryState, LineageStore, StoredEvent};
use dk_manifest::suggest::did_you_mean;

use super::parse_timeout;
use super::runtime;
use crate::browser;
use crate::context::Context;
use crate::diagram::{Diagram, Shape};
use crate::error::{CliError, ExitStatus};
use crate::output::{OutputFormat, Render, Ui, plural, table, write_table};
use crate::runner::Runner;

/// Lineage recorded by runs: what a job or dataset reads and feeds; events and their delivery
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "\
Examples:
  dk lineage my-pipeline                      inputs and outputs, with the last run
  dk lineage orders --downstream --depth 10   everything fed by the orders dataset
  dk lineage my-pipeline -o mermaid > lineage.mmd
  dk lineage my-pipeline --open               the graph in the web UI (dk dev up serves it)
  dk lineage events --run 0193a8f0-...        the events of one run and their delivery
  dk lineage flush                            send what is still spooled to the backend"
)]
pub struct LineageArgs {
    #[command(subcommand)]
    pub command: Option<LineageCommand>,
    /// A job (package name) or dataset (DataSet name, OpenLineage name, or namespace/name)
    pub name: Option<String>,
    /// Only what NAME reads from, transitively
    #[arg(long, conflicts_with = "downstream")]
    pub upstream: bool,
    /// Only what NAME feeds, transitively
    #[arg(long)]
    pub downstream: bool,
    /// How many hops (dataset → job counts one) to follow
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub depth: usize,
    /// Open the web UI on NAME in the browser ($BROWSER; the URL is printed when none opens)
    #[arg(long)]
    pub open: bool,
    /// The web UI --open uses [default: the dev stack's, http://localhost:<dev.services.lineage.webPort>, 3000 unless set]
    #[arg(long, value_name = "URL", requires = "open")]
    pub ui: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum LineageCommand {
    Events(EventsArgs),
    Flush(FlushArgs),
    Serve(ServeArgs),
    Migrate(MigrateArgs),
}

/// Move a lineage store into another: the local SQLite store into the team's PostgreSQL
#[derive(Debug, Args)]
#[command(after_help = "\
Copies every event of the source into the target, which derives jobs, datasets, runs and tags
as its own ingestion does. Events keep their keys: re-running adds only what is missing (a
stopped migration resumes). The source is left as it was. Give the target's password with
PGPASSWORD or ~/.pgpass, never on the command line; with no --to, lineage.store (or
DK_LINEAGE_STORE) is the target.

Examples:
  dk lineage migrate --from sqlite --to postgresql://dk@db.internal:5432/lineage
  DK_LINEAGE_STORE=postgresql://dk@db:5432/lineage dk lineage migrate --from sqlite -o json")]
pub struct MigrateArgs {
    /// The source: `sqlite` (the local store) or a SQLite file
    #[arg(long, value_name = "STORE", default_value = "sqlite")]
    pub from: String,
    /// The target: a postgresql:// URL without a password (default: lineage.store)
    #[arg(long, value_name = "URL")]
    pub to: Option<String>,
}

/// Serve an OpenLineage endpoint over the local lineage store, with Marquez's read API
#[derive(Debug, Args)]
#[command(after_help = "\
Receives OpenLineage Run, Dataset and Job events at POST /api/v1/lineage (what Marquez receives;
gzip too) into the store `dk lineage` reads, and answers Marquez's read API in its shapes:
namespaces, jobs, runs, datasets and their versions, /events/lineage, /lineage, /column-lineage,
/search, /sources and /tags (docs/lineage.md lists them). The web UI is at / on the same port.
DK_LINEAGE_TOKEN, when set, is required as a bearer token on every API request (the UI asks for
it). On loopback, requests naming another host are refused (DNS rebinding). Events nested over 64 levels, with numbers out of range or an
eventTime not in RFC 3339 get 400; connections idle or slower than --timeout are closed. Ctrl-C
stops it.

Examples:
  dk lineage serve
  OPENLINEAGE_URL=http://127.0.0.1:5000 dk run ./my-pipeline
  curl -s localhost:5000/api/v1/namespaces
  dk lineage serve --port 0                   any free port (printed)
  dk lineage serve --web-port 3000            the UI on http://localhost:3000 too")]
pub struct ServeArgs {
    /// Port to listen on (0: any free port)
    #[arg(long, default_value_t = 5000)]
    pub port: u16,
    /// Address to listen on; anything but loopback exposes the store to the network
    #[arg(long, default_value = "127.0.0.1", value_name = "IP")]
    pub bind: std::net::IpAddr,
    /// Largest event accepted, in KiB, as sent and once decompressed (larger get 413)
    #[arg(long, default_value_t = 2048, value_name = "KIB")]
    pub max_body_kib: usize,
    /// Close connections idle this long, and answer 408 to requests not complete within it
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub timeout: String,
    /// Also serve the web UI (and the API) on this port: the dev stack's web port, 3000
    #[arg(long, value_name = "PORT")]
    pub web_port: Option<u16>,
}

/// Recorded OpenLineage events, oldest first, with their delivery state
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  dk lineage events
  dk lineage events --run 0193a8f0-0000-7000-8000-000000000000 -o json")]
pub struct EventsArgs {
    /// Only the events of this run id
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,
}

/// Send spooled events to the lineage backend (lineage.endpoint or OPENLINEAGE_URL)
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  dk lineage flush
  OPENLINEAGE_URL=http://localhost:5000 dk lineage flush --timeout 2m
  dk lineage flush --lineage-endpoint http://new-marquez:5000 --drop-pending")]
pub struct FlushArgs {
    /// Give up retrying after this long; what is left stays spooled
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub timeout: String,
    /// Send to this endpoint instead of the configured one
    #[arg(long, value_name = "URL")]
    pub lineage_endpoint: Option<String>,
    /// Give up what is pending for every other backend (one that is gone, or was wrong): marked
    /// rejected, its spool files removed; spooled events still go to this flush's backend
    #[arg(long)]
    pub drop_pending: bool,
}

/// The views of `dk lineage NAME` besides text, JSON and YAML.
pub const GRAPH_FORMATS: &[OutputFormat] = &[OutputFormat::Mermaid, OutputFormat::Dot];

pub fn run(args: LineageArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    match args.command {
        Some(LineageCommand::Events(events)) => run_events(events, ctx),
        Some(LineageCommand::Flush(flush)) => run_flush(flush, ctx),
        Some(LineageCommand::Serve(serve)) => run_serve(serve, ctx),
        Some(LineageCommand::Migrate(migrate)) => run_migrate(migrate, ctx),
        None => match &args.name {
            Some(name) => run_graph(name, &args, ctx),
            None => Err(CliError::usage("name a job or dataset")
                .hint("e.g. dk lineage my-pipeline; `dk lineage events` lists what was recorded")),
        },
    }
}

fn paths(ctx: &Context) -> Result<LineagePaths, CliError> {
    Ok(LineagePaths::under(&ctx.paths()?.dk_home))
}

fn store_error(err: impl std::fmt::Display) -> CliError {
    CliError::failure("cannot read the lineage store").cause(err)
}

/// The store, synced with the spool, after warning once of what the spool moved aside.
fn synced(ctx: &Context) -> Result<Synced, CliError> {
    let synced = sync_store(&paths(ctx)?).map_err(store_error)?;
    for warning in &synced.warnings {
        ctx.ui.warn(warning);
    }
    Ok(synced)
}

/// The neighbourhood of a job or dataset.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct LineageReport {
    #[serde(flatten)]
    neighbourhood: Neighbourhood,
    depth: usize,
}

impl LineageReport {
    fn diagram(&self) -> Diagram {
        let mut diagram = Diagram::default();
        let ids: HashMap<String, usize> = self
            .neighbourhood
            .nodes
            .iter()
            .map(|(node, _)| {
                let shape = match node.kind {
                    NodeKind::Job => Shape::Job,
                    NodeKind::Dataset => Shape::Dataset,
                };
                (node.id(), diagram.node(node.label(), shape))
            })
            .collect();
        for edge in &self.neighbourhood.edges {
            if let (Some(&from), Some(&to)) = (ids.get(&edge.from), ids.get(&edge.to)) {
                diagram.edge(from, to);
            }
        }
        diagram
    }
}

impl Render for LineageReport {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let styles = ui.out_styles();
        let root = &self.neighbourhood.root;
        let kind = match root.kind {
            NodeKind::Job => "job",
            NodeKind::Dataset => "dataset",
        };
        writeln!(
            out,
            "{} ({kind} {}/{})",
            styles.bold(root.label()),
            root.namespace,
            root.name
        )?;
        let mut rows = table(&[
            "HOPS",
            "KIND",
            "NAME",
            "NAMESPACE",
            "OPENLINEAGE NAME",
            "LAST RUN",
        ]);
        for (node, distance) in &self.neighbourhood.nodes {
            let kind = match node.kind {
                NodeKind::Job => "job",
                NodeKind::Dataset => "dataset",
            };
            let last_run = match (&node.last_state, &node.last_time) {
                (Some(state), Some(time)) => format!("{state} {time}"),
                _ => String::new(),
            };
            rows.add_row(vec![
                format!("{distance:+}").replace("+0", "0"),
                kind.to_owned(),
                node.label().to_owned(),
                node.namespace.clone(),
                node.name.clone(),
                last_run,
            ]);
        }
        write_table(out, &rows)?;
        if self.neighbourhood.nodes.len() == 1 {
            writeln!(
                out,
                "No recorded inputs or outputs within {} hop(s).",
                self.depth
            )?;
        }
        Ok(())
    }

    fn render_extra(&self, format: OutputFormat, _ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        match format {
            OutputFormat::Dot => self.diagram().dot("lineage", out),
            _ => self.diagram().mermaid(out),
        }
    }
}

/// The neighbourhoods `name` names on the team server (`lineage.server`).
fn remote_graph(
    server: &str,
    name: &str,
    direction: Direction,
    depth: usize,
    ctx: &Context,
) -> Result<Vec<Neighbourhood>, CliError> {
    let token = ctx.env.get(DK_LINEAGE_TOKEN);
    runtime()?
        .block_on(dk_lineage::remote::neighbourhoods(
            server,
            token,
            name,
            direction,
            depth,
            Duration::from_secs(30),
        ))
        .map_err(|err| {
            CliError::new(ExitStatus::External, "cannot read lineage from the team server")
                .cause(err)
                .hint("check lineage.server (or DK_LINEAGE_SERVER) and DK_LINEAGE_TOKEN; unset lineage.server to read the local store")
        })
}

fn run_graph(name: &str, args: &LineageArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let direction = match (args.upstream, args.downstream) {
        (true, _) => Direction::Upstream,
        (_, true) => Direction::Downstream,
        _ => Direction::Both,
    };
    if let Some(server) = ctx.config()?.string("lineage.server")? {
        let found = remote_graph(&server, name, direction, args.depth, ctx)?;
        if found.is_empty() {
            return Err(CliError::failure(format!(
                "no job or dataset named `{name}` on the lineage server {server}"
            ))
            .hint(format!(
                "{server}/api/v1/search?q={name} searches by part of a name"
            )));
        }
        return show_graph(name, found, args, ctx);
    }
    let store = synced(ctx)?.store;
    let found = store
        .neighbourhood(name, direction, args.depth)
        .map_err(store_error)?;
    if found.is_empty() {
        let labels = store.labels().map_err(store_error)?;
        let hint = match did_you_mean(name, labels.iter().map(String::as_str)) {
            Some(suggestion) => format!("did you mean `{suggestion}`?"),
            None if labels.is_empty() => {
                "nothing is recorded yet: `dk run ./my-pipeline` records lineage".into()
            }
            None => "`dk lineage events` lists the recorded runs".into(),
        };
        return Err(
            CliError::failure(format!("no recorded job or dataset named `{name}`")).hint(hint),
        );
    }
    show_graph(name, found, args, ctx)
}

/// One neighbourhood shown (or opened in the UI); several (never none) are ambiguous.
fn show_graph(
    name: &str,
    mut found: Vec<Neighbourhood>,
    args: &LineageArgs,
    ctx: &Context,
) -> Result<ExitStatus, CliError> {
    match found.len() {
        1 if args.open => {
            let root = &found[0].root;
            // The dev stack's web port as configured: a user who moved it was sent to :3000.
            let ui = match &args.ui {
                Some(ui) => ui.clone(),
                None => format!(
                    "http://localhost:{}",
                    dk_devstack::catalog::Ports::configured(ctx.config()?)?.lineage_web
                ),
            };
            let url = format!(
                "{}{}",
                ui.trim_end_matches('/'),
                dk_lineage::ui::node_path(root.kind, &root.namespace, &root.name)
            );
            let opened = browser::open(&url, ctx.env.get(BROWSER));
            ctx.ui.emit(&Opened { url, opened })
        }
        1 => ctx.ui.emit(&LineageReport {
            neighbourhood: found.remove(0),
            depth: args.depth,
        }),
        many => {
            let ids: Vec<String> = found.iter().map(|n| n.root.id()).collect();
            Err(
                CliError::usage(format!("`{name}` names {many} nodes: {}", ids.join(", ")))
                    .hint("pass one of these ids (or namespace/name) to pick one"),
            )
        }
    }
}

/// The UI address `--open` gave the browser, and whether one started.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct Opened {
    url: String,
    opened: bool,
}

impl Render for Opened {
    fn render_text(&self, _ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        if self.opened {
            writeln!(out, "Opened {}", self.url)
        } else {
            writeln!(
                out,
                "No browser could be opened (set BROWSER); open {}",
                self.url
            )
        }
    }
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct EventEntry {
    #[serde(flatten)]
    event: StoredEvent,
    /// Still in the spool: not yet settled with the backend, or the spool not yet released.
    spooled: bool,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct EventsReport {
    events: Vec<EventEntry>,
    /// What the spool moved to `spool/bad/`, and why: never delivered.
    quarantined: Vec<Quarantined>,
    /// The background deliverer sending what is pending, when one runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    deliverer: Option<Running>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
struct Running {
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    log: std::path::PathBuf,
}

fn delivery_text(entry: &EventEntry) -> String {
    if entry.event.deliveries.is_empty() {
        return if entry.spooled { "spooled" } else { "local" }.to_owned();
    }
    entry
        .event
        .deliveries
        .iter()
        .map(|d| {
            let state = match d.state {
                DeliveryState::Pending => "pending",
                DeliveryState::Sending => "sending",
                DeliveryState::Delivered => "delivered",
                DeliveryState::Rejected => "rejected",
            };
            // Why it is still pending (or was rejected): the last answer or error.
            let why = match (d.state, &d.last_error) {
                (DeliveryState::Delivered, _) | (_, None) => String::new(),
                (_, Some(error)) => format!(": {error}"),
            };
            format!(
                "{state} ({}, {}{why})",
                d.target,
                plural(d.attempts as usize, "attempt")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl Render for EventsReport {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        self.render_events(out)?;
        if !self.quarantined.is_empty() {
            writeln!(
                out,
                "{} Moved out of the spool (never delivered; inspect, then delete):",
                ui.out_styles().warning("!")
            )?;
            for item in &self.quarantined {
                writeln!(out, "  {}: {}", item.path.display(), item.reason)?;
            }
        }
        if let Some(running) = &self.deliverer {
            let pid = running
                .pid
                .map(|pid| format!(" (pid {pid})"))
                .unwrap_or_default();
            writeln!(
                out,
                "A background deliverer{pid} is sending what is pending; its log: {}",
                running.log.display()
            )?;
        }
        Ok(())
    }
}

impl EventsReport {
    fn render_events(&self, out: &mut dyn Write) -> io::Result<()> {
        if self.events.is_empty() {
            return writeln!(out, "No lineage events recorded.");
        }
        let mut rows = table(&["TIME", "EVENT", "JOB", "RUN", "DELIVERY"]);
        for entry in &self.events {
            let event = &entry.event;
            rows.add_row(vec![
                event.event_time.clone(),
                event.event_type.clone(),
                event.job.clone(),
                event.run_id.clone(),
                delivery_text(entry),
            ]);
        }
        write_table(out, &rows)
    }
}

fn run_events(args: EventsArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let run = match &args.run {
        Some(text) => Some(Uuid::parse_str(text).map_err(|err| {
            CliError::usage(format!("--run `{text}` is not a run id: {err}"))
                .hint("run ids are UUIDs; `dk lineage events` lists them")
        })?),
        None => None,
    };
    let Synced {
        store,
        spooled,
        quarantine,
        ..
    } = synced(ctx)?;
    let events = store
        .events(run)
        .map_err(store_error)?
        .into_iter()
        .map(|event| EventEntry {
            spooled: spooled.contains(&event.key),
            event,
        })
        .collect();
    let paths = paths(ctx)?;
    let deliverer = background::running(&paths).map(|pid| Running {
        pid,
        log: background::log_path(&paths),
    });
    ctx.ui.emit(&EventsReport {
        events,
        quarantined: quarantine,
        deliverer,
    })
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FlushOutcome {
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    /// Events given up for other backends (`--drop-pending`).
    dropped: usize,
    #[serde(flatten)]
    report: FlushReport,
}

impl Render for FlushOutcome {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let styles = ui.out_styles();
        let report = &self.report;
        let quarantined = match report.quarantined {
            0 => String::new(),
            n => format!("; {n} moved to the spool's bad/ folder (`dk lineage events` says why)"),
        };
        if self.dropped > 0 {
            writeln!(
                out,
                "Dropped {} pending for other backends",
                plural(self.dropped, "event")
            )?;
        }
        match &self.target {
            None => writeln!(
                out,
                "No lineage backend configured (lineage.endpoint or OPENLINEAGE_URL); {} kept in the local store{quarantined}.",
                plural(report.events, "spooled event")
            ),
            Some(target)
                if report.pending == 0 && report.rejected == 0 && report.quarantined == 0 =>
            {
                writeln!(
                    out,
                    "{} Delivered {} to {target}; nothing pending",
                    styles.success("✓"),
                    plural(report.delivered, "event")
                )
            }
            Some(target) => {
                writeln!(
                    out,
                    "{} Delivered {} to {target}; {} pending, {} rejected{quarantined}",
                    styles.warning("!"),
                    plural(report.delivered, "event"),
                    report.pending,
                    report.rejected
                )?;
                if let Some(error) = report.last_error.as_ref().filter(|_| report.pending > 0) {
                    writeln!(out, "  last error: {error}")?;
                }
                Ok(())
            }
        }
    }

    fn status(&self) -> ExitStatus {
        if self.report.pending > 0 {
            ExitStatus::External
        } else {
            ExitStatus::Success
        }
    }
}

fn run_flush(args: FlushArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let timeout = parse_timeout(Some(&args.timeout), "--timeout")?.unwrap_or(Duration::ZERO);
    let runner = Runner::new(ctx)?;
    let setup = runner.lineage(args.lineage_endpoint.as_deref())?;
    let target = setup.deliverer.as_ref().map(|d| d.target().id());
    let dropped = match args.drop_pending {
        true => LineageStore::open(&setup.paths.store)
            .and_then(|mut store| {
                store.drop_pending(
                    target.as_deref(),
                    "dropped by `dk lineage flush --drop-pending`",
                )
            })
            .map_err(store_error)?,
        false => 0,
    };
    let report = runtime()?
        .block_on(async {
            let (_deadline, watch) = watch::channel(tokio::time::Instant::now() + timeout);
            flush(&setup.paths, setup.deliverer.as_ref(), watch).await
        })
        .map_err(store_error)?;
    for warning in &report.warnings {
        ctx.ui.warn(warning);
    }
    ctx.ui.emit_message(&FlushOutcome {
        target,
        dropped,
        report,
    })
}

fn run_serve(args: ServeArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let token = ctx.env.get(DK_LINEAGE_TOKEN).map(str::to_owned);
    if !args.bind.is_loopback() && token.is_none() {
        ctx.ui.warn(format!(
            "listening on {} without {DK_LINEAGE_TOKEN}: anyone who can reach it can read and write lineage",
            args.bind
        ));
    }
    let config = ServerConfig {
        store: store_location(ctx)?,
        token,
        max_body: args.max_body_kib.saturating_mul(1024),
        timeout: parse_timeout(Some(&args.timeout), "--timeout")?
            .filter(|timeout| !timeout.is_zero())
            .ok_or_else(|| {
                CliError::usage("--timeout 0 would close every connection at once")
                    .hint("e.g. --timeout 30s")
            })?,
    };
    let runtime = dk_lineage::server::runtime()
        .map_err(|err| CliError::failure("cannot start the async runtime").cause(err))?;
    runtime.block_on(async {
        let bind = |port: u16| async move {
            let address = std::net::SocketAddr::new(args.bind, port);
            tokio::net::TcpListener::bind(address).await.map_err(|err| {
                CliError::usage(format!("cannot listen on {address}: {err}")).hint(
                    "another process has the port (`ss -ltnp` shows which); pick one with --port or --web-port",
                )
            })
        };
        let mut listeners = vec![bind(args.port).await?];
        if let Some(port) = args.web_port {
            listeners.push(bind(port).await?);
        }
        let local = listeners[0].local_addr()?;
        let web = match listeners.get(1) {
            Some(listener) => listener.local_addr()?,
            None => local,
        };
        // Ignored on purpose: a caller that read the address and closed the pipe (a test, a
        // script, `| head -1`) must not stop the server.
        let _ = ctx.ui.emit_message(&Serving {
            url: format!("http://{local}"),
            endpoint: format!("http://{local}/api/v1/lineage"),
            ui: format!("http://{web}"),
            store: config.store.to_string(),
        });
        let stop = async {
            let mut terminate =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async {
                    match terminate.as_mut() {
                        Some(signal) => { signal.recv().await; }
                        None => std::future::pending::<()>().await,
                    }
                } => {}
            }
        };
        serve_all(listeners, config, stop).await.map_err(|err| {
            CliError::new(ExitStatus::External, "the lineage server failed").cause(err)
        })
    })?;
    Ok(ExitStatus::Success)
}

/// Where the server listens, printed once it does.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct Serving {
    url: String,
    endpoint: String,
    /// The web UI.
    ui: String,
    store: String,
}

impl Render for Serving {
    fn render_text(&self, _ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "Serving OpenLineage at {} (Marquez API under {}/api/v1), store {}",
            self.endpoint, self.url, self.store
        )?;
        writeln!(
            out,
            "Send events with OPENLINEAGE_URL={}; lineage UI at {}; Ctrl-C stops.",
            self.url, self.ui
        )
    }
}

/// `lineage.store` (or DK_LINEAGE_STORE): a PostgreSQL URL, with its password from PGPASSWORD or
/// the .pgpass file when it has none; else a SQLite file; unset, the local store.
fn store_location(ctx: &Context) -> Result<Location, CliError> {
    let Some(store) = ctx.config()?.string("lineage.store")? else {
        return Ok(Location::Sqlite(paths(ctx)?.store));
    };
    parse_location(&store, ctx)
}

fn parse_location(store: &str, ctx: &Context) -> Result<Location, CliError> {
    if !PgUrl::is_postgres(store) {
        return Ok(Location::Sqlite(store.into()));
    }
    let url = PgUrl::parse(store).map_err(|err| {
        CliError::usage(format!("lineage.store: {err}"))
            .hint("e.g. postgresql://dk@db.internal:5432/lineage, with PGPASSWORD or ~/.pgpass")
    })?;
    if url.has_password() {
        return Ok(Location::Postgres(Box::new(url)));
    }
    if let Some(password) = ctx.env.get(PGPASSWORD) {
        return Ok(Location::Postgres(Box::new(url.with_password(password))));
    }
    let pgpass = match (ctx.env.get(PGPASSFILE), ctx.env.get(HOME)) {
        (Some(file), _) => std::path::PathBuf::from(file),
        (None, Some(home)) => std::path::Path::new(home).join(".pgpass"),
        (None, None) => return Ok(Location::Postgres(Box::new(url))),
    };
    use std::os::unix::fs::PermissionsExt;
    let Ok(metadata) = std::fs::metadata(&pgpass) else {
        return Ok(Location::Postgres(Box::new(url)));
    };
    // libpq's rule: a password file others can read is ignored.
    if metadata.permissions().mode() & 0o077 != 0 {
        ctx.ui.warn(format!(
            "{} is readable by others and is ignored: chmod 600 it",
            pgpass.display()
        ));
        return Ok(Location::Postgres(Box::new(url)));
    }
    let text = dk_fs::read_to_string(&pgpass, 1 << 20)
        .map_err(|err| CliError::usage(format!("cannot read {}", pgpass.display())).cause(err))?;
    Ok(Location::Postgres(Box::new(
        match url.pgpass_password(&text) {
            Some(password) => url.with_password(&password),
            None => url,
        },
    )))
}

/// What `dk lineage migrate` moved, and where.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct MigrateReport {
    from: String,
    to: String,
    #[serde(flatten)]
    migrated: Migrated,
}

impl Render for MigrateReport {
    fn render_text(&self, _ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "Moved {} from {} to {}: {} new, {} already there{}.",
            plural(self.migrated.events, "event"),
            self.from,
            self.to,
            self.migrated.new,
            self.migrated.duplicate,
            match self.migrated.unreadable {
                0 => String::new(),
                n => format!(", {n} unreadable (left in the source)"),
            }
        )
    }
}

fn run_migrate(args: MigrateArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let source = match args.from.as_str() {
        "sqlite" => paths(ctx)?.store,
        path if PgUrl::is_postgres(path) => {
            return Err(CliError::usage("--from is a SQLite store")
                .hint("--from sqlite (the local store) or the path of a lineage.db"));
        }
        path => path.into(),
    };
    if !source.is_file() {
        return Err(
            CliError::usage(format!("no lineage store at {}", source.display()))
                .hint("runs record lineage there; pass --from PATH for another lineage.db"),
        );
    }
    let target = match &args.to {
        // The shell history, `ps` and CI logs keep a command line.
        Some(to) if PgUrl::parse(to).is_ok_and(|url| url.has_password()) => {
            return Err(CliError::usage("--to must not hold a password")
                .hint("drop it from the URL and give it with PGPASSWORD or ~/.pgpass (or set lineage.store in config)"));
        }
        Some(to) => parse_location(to, ctx)?,
        None => store_location(ctx)?,
    };
    if matches!(&target, Location::Sqlite(path) if *path == source) {
        return Err(
            CliError::usage("the source and the target are the same store")
                .hint("--to postgresql://USER@HOST:PORT/DATABASE, or set lineage.store"),
        );
    }
    let from = LineageStore::open(&source).map_err(store_error)?;
    let total = from.count_events().map_err(store_error)?;
    let mut to = backend::open(&target).map_err(|err| {
        CliError::new(ExitStatus::External, format!("cannot open {target}")).cause(err)
    })?;
    let bar = ctx
        .ui
        .progress(format!("Moving {total} events to {target}"), None);
    let migrated = dk_lineage::migrate::migrate(&from, to.as_mut(), |done| {
        bar.set_message(format!("Moved {}/{total} events to {target}", done.events));
    })
    .map_err(|err| CliError::new(ExitStatus::External, "the migration stopped").cause(err))?;
    bar.finish_and_clear();
    ctx.ui.emit(&MigrateReport {
        from: source.display().to_string(),
        to: target.to_string(),
        migrated,
    })
}
