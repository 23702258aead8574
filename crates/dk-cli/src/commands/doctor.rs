//! `dk doctor`: the FAQ's troubleshooting section as one command. Each system's checks live in
//! the library that owns it; this gathers their settings, runs them in parallel within a time
//! budget and shows the report.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use dk_config::doctor::{self as config_doctor, Level, Report};
use dk_config::env::PATH;
use dk_devstack::catalog::Ports;
use dk_devstack::stack::Runtime;
use dk_manifest::discover::Package;
use dk_runner::doctor::{self, Probe};
use dk_runner::exec::Tools;

use super::{credential_sources, parse_timeout};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::output::{Render, Ui, plural};

/// Check that dk can work here: tools, dev stack, ports, config, registry, GitOps, lineage, stores
#[derive(Debug, Args)]
#[command(after_help = "\
Checks, each problem with its fix: dk on PATH; Docker or Podman answering; the dev stack's ports
(9092, 9000, 9001, 5000, 3000, 5432) and who holds them; `dk dev status`; the config files, with
unknown keys; the registry and credentials for it (DK_REGISTRY_USER, Docker config, credential
helpers); the GitOps repository and its provider's token; the lineage endpoint; every Store of the
package in the current directory; the tools of the runtimes (python3 with venv, go, dbt,
cloudquery). Every check runs at once and none waits longer than --timeout.
Exits 1 when a check failed, 0 when only warnings remain.

Examples:
  dk doctor
  dk doctor -o json | jq '.checks[] | select(.level != \"ok\")'
  dk doctor --timeout 10s                     wait longer for slow endpoints")]
pub struct DoctorArgs {
    /// How long the whole check may take; an endpoint that has not answered by then fails
    #[arg(long, default_value = "3s", value_name = "DURATION")]
    pub timeout: String,
}

impl Render for Report {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let styles = ui.out_styles();
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for check in &self.checks {
            let mark = match check.level {
                Level::Ok => styles.success("ok  "),
                Level::Skip => styles.dim("--  "),
                Level::Warn => styles.warning("warn"),
                Level::Fail => styles.error("FAIL"),
            };
            writeln!(out, "{mark}  {:width$}  {}", check.name, check.detail)?;
            if let Some(fix) = &check.fix {
                writeln!(out, "      {:width$}  {} {fix}", "", styles.hint("fix:"))?;
            }
        }
        writeln!(out)?;
        let verdict = match (self.failures, self.warnings) {
            (0, 0) => "everything dk needs is in place".to_owned(),
            (0, warnings) => format!("{}; dk can work", plural(warnings, "warning")),
            (failures, warnings) => format!(
                "{}, {}",
                plural(failures, "problem"),
                plural(warnings, "warning")
            ),
        };
        writeln!(out, "{verdict}")
    }

    fn status(&self) -> ExitStatus {
        match self.failures {
            0 => ExitStatus::Success,
            _ => ExitStatus::Failure,
        }
    }
}

pub fn run(args: DoctorArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let budget = parse_timeout(Some(&args.timeout), "--timeout")?.unwrap_or_default();
    // Each endpoint gets most of the budget; what is left lets the report come in time.
    let each = budget.mul_f32(0.8);
    let loaded = ctx.load_config();
    let config = loaded.as_ref().ok();
    let setting = |key: &str| config.and_then(|config| config.string(key).ok().flatten());
    let ports = config
        .and_then(|config| Ports::configured(config).ok())
        .unwrap_or_default();
    let dk_home = ctx.paths().ok().map(|paths| paths.dk_home);
    let tools = Tools::new(ctx.env.get(PATH).map(str::to_owned));
    let project = Package::exists_in(&ctx.cwd).then(|| {
        dk_manifest::discover::load_package_project(
            &ctx.cwd,
            &Default::default(),
            &ctx.discover_options(),
        )
    });
    let needed: Vec<&'static str> = project
        .iter()
        .flat_map(|project| &project.packages)
        .filter_map(|package| package.transform.as_ref())
        .map(|transform| transform.manifest.spec.runtime.as_str())
        .collect();
    let stores = project
        .as_ref()
        .map(doctor::store_targets)
        .unwrap_or_default();

    let mut probes = Vec::new();
    let path_tools = tools.clone();
    probes.push(Probe::new("dk on PATH", move || {
        vec![doctor::dk_on_path(
            &path_tools,
            std::env::current_exe().ok(),
        )]
    }));
    let engine_tools = tools.clone();
    probes.push(Probe::new("container engine", move || {
        vec![doctor::container_engine(&engine_tools, each)]
    }));
    let dev_dir = dk_home.as_ref().map(|home| home.join("dev"));
    probes.push(Probe::new("dev stack", move || match dev_dir {
        Some(dev_dir) => dk_devstack::doctor::checks(&dev_dir, &ports),
        None => Vec::new(),
    }));
    let config_checks = config_doctor::config(&loaded);
    probes.push(Probe::new("config", move || config_checks));
    let registry = setting("registry");
    let sources = credential_sources(ctx);
    probes.push(Probe::new("registry", move || {
        dk_package::doctor::checks(registry.as_deref(), &sources, each)
    }));
    let gitops_repo = setting("gitops.repo");
    let provider = setting("gitops.provider").unwrap_or_else(|| "git".into());
    let default_repo = dk_home
        .as_ref()
        .map_or_else(PathBuf::new, |home| home.join("gitops"));
    let env = ctx.env.clone();
    probes.push(Probe::new("gitops", move || {
        dk_gitops::doctor::checks(gitops_repo.as_deref(), &default_repo, &provider, &env, each)
    }));
    let (backend, endpoint) = (setting("lineage.backend"), setting("lineage.endpoint"));
    let dev_stack = dk_home
        .as_ref()
        .and_then(|home| Runtime::recorded(&home.join("dev")))
        .map(|_| ports);
    probes.push(Probe::new("lineage endpoint", move || {
        vec![doctor::lineage_endpoint(
            backend.as_deref(),
            endpoint.as_deref(),
            dev_stack.as_ref(),
            each,
        )]
    }));
    probes.push(Probe::new("stores", move || {
        doctor::stores(&stores, &ports, each)
    }));
    probes.push(Probe::new("runtimes", move || {
        doctor::runtime_tools(&tools, &needed, each)
    }));
    let report = doctor::run(probes, budget.max(Duration::from_millis(100)));
    ctx.ui.emit(&report)
}
