//! What every command gets: how to print, the captured environment, the working directory and
//! (loaded on first use) the layered configuration.

use std::path::PathBuf;
use std::sync::OnceLock;

use dk_config::env::Env;
use dk_config::{Config, Paths};
use dk_manifest::discover::DiscoverOptions;

use crate::error::CliError;
use crate::output::Ui;

#[derive(Debug)]
pub struct Context {
    pub ui: Ui,
    pub env: Env,
    pub cwd: PathBuf,
    config_flags: Vec<String>,
    config: OnceLock<Config>,
}

impl Context {
    pub fn new(ui: Ui, env: Env, config_flags: Vec<String>) -> Result<Context, CliError> {
        // `--config` typos must fail every command, not only those that read the config.
        for flag in &config_flags {
            dk_config::parse_flag(flag)?;
        }
        let cwd = std::env::current_dir()
            .map_err(|err| CliError::usage("cannot read the current directory").cause(err))?;
        Ok(Context {
            ui,
            env,
            cwd,
            config_flags,
            config: OnceLock::new(),
        })
    }

    pub fn paths(&self) -> Result<Paths, CliError> {
        Ok(Paths::discover(&self.env, &self.cwd)?)
    }

    /// The configuration as loaded, its unknown keys not warned about: `dk doctor` reports them.
    pub fn load_config(&self) -> Result<Config, dk_config::ConfigError> {
        Config::load(
            Paths::discover(&self.env, &self.cwd)?,
            &self.env,
            &self.config_flags,
        )
    }

    /// The configuration, loaded once; unknown keys in config files are warned about then.
    pub fn config(&self) -> Result<&Config, CliError> {
        if let Some(config) = self.config.get() {
            return Ok(config);
        }
        let config = self.load_config()?;
        for unknown in &config.unknown_keys {
            let suggestion = unknown
                .suggestion
                .as_deref()
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            self.ui.warn(format!(
                "{}: unknown config key `{}`{suggestion}",
                unknown.location, unknown.key
            ));
        }
        tracing::debug!(paths = ?config.paths, "configuration loaded");
        Ok(self.config.get_or_init(|| config))
    }

    pub fn discover_options(&self) -> DiscoverOptions {
        DiscoverOptions {
            dk_home: self.paths().ok().map(|paths| paths.dk_home),
        }
    }
}
