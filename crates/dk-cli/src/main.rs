//! `dk`, the DataKit command line.
//!
//! The flow of every command: parse (clap) → resolve settings (arguments, config) → call the
//! libraries → render the report as text, JSON or YAML.

mod browser;
mod cli;
mod commands;
mod context;
mod contract;
mod delivery;
mod diagram;
mod error;
mod findings;
mod output;
mod promotion;
mod runner;
#[cfg(test)]
mod schemas;

use std::process::ExitCode;

use clap::FromArgMatches;
use dk_config::env::{Env, NO_COLOR};

use crate::cli::Cli;
use crate::context::Context;
use crate::output::Ui;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn init_tracing(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => tracing::Level::ERROR,
        (false, 0) => tracing::Level::WARN,
        (false, 1) => tracing::Level::INFO,
        (false, 2) => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .without_time()
        .with_ansi(console::Term::stderr().is_term())
        .init();
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // The supervisor of a pipeline (dk_runner::process): no clap, no config, nothing printed
    // but why it could not start the pipeline.
    if args
        .get(1)
        .is_some_and(|arg| arg == dk_runner::process::SUPERVISE)
    {
        let err = dk_runner::process::supervise_exec(&args[2..]);
        let ui = Ui::new(
            output::OutputFormat::Text,
            false,
            output::ColorChoice::Never,
            true,
        );
        ui.error(&error::CliError::new(
            error::ExitStatus::Failure,
            err.to_string(),
        ));
        return ExitCode::from(err.code());
    }
    if args
        .get(1)
        .is_some_and(|arg| arg == dk_runner::process::KEEP_TERMINAL)
    {
        return ExitCode::from(dk_runner::process::keep_terminal(&args[2..]));
    }
    let matches = cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    init_tracing(cli.global.verbose, cli.global.quiet);
    let env = Env::capture(|name| std::env::var(name).ok());
    let ui = Ui::new(
        cli.global.output,
        cli.global.quiet,
        cli.global.color,
        env.get(NO_COLOR).is_some(),
    );
    let result = commands::check_format(&cli::path(&matches), cli.global.output)
        .and_then(|()| Context::new(ui.clone(), env, cli.global.config))
        .and_then(|ctx| commands::run(cli.command, &ctx));
    match result.map_err(error::CliError::disk_full) {
        Ok(status) => status.into(),
        Err(err) => {
            if !err.silent {
                ui.error(&err);
            }
            err.status.into()
        }
    }
}
