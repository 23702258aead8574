//! `dk config`: read and write the layered configuration.

pub(crate) mod get;
pub(crate) mod list;
pub(crate) mod path;
pub(crate) mod set;
pub(crate) mod unset;

use clap::{Subcommand, ValueEnum};
use dk_config::Scope;

use crate::context::Context;
use crate::error::{CliError, ExitStatus};

/// Read and write dk's configuration (built-in < system < user < repo < environment < flags)
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    Get(get::GetArgs),
    Set(set::SetArgs),
    Unset(unset::UnsetArgs),
    List(list::ListArgs),
    Path(path::PathArgs),
}

pub fn run(command: ConfigCommand, ctx: &Context) -> Result<ExitStatus, CliError> {
    match command {
        ConfigCommand::Get(args) => get::run(args, ctx),
        ConfigCommand::Set(args) => set::run(args, ctx),
        ConfigCommand::Unset(args) => unset::run(args, ctx),
        ConfigCommand::List(args) => list::run(args, ctx),
        ConfigCommand::Path(args) => path::run(args, ctx),
    }
}

/// A config file scope, as a command-line value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScopeArg {
    /// /etc/dk/config.yaml (or $DK_SYSTEM_CONFIG)
    System,
    /// $DK_HOME/config.yaml (~/.dk/config.yaml)
    User,
    /// <git root>/.dk/config.yaml
    Repo,
}

impl From<ScopeArg> for Scope {
    fn from(scope: ScopeArg) -> Scope {
        match scope {
            ScopeArg::System => Scope::System,
            ScopeArg::User => Scope::User,
            ScopeArg::Repo => Scope::Repo,
        }
    }
}

/// A value on one line for tables and messages: strings as they are, the rest as YAML flow.
pub fn inline_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => dk_manifest::yaml::render_flow(other),
    }
}
