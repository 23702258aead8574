use std::collections::BTreeMap;

use clap::Args;

use dk_manifest::model::{Kind, Manifest, StoreSpec};
use dk_manifest::yaml::{self, Origin, Source};

use crate::commands::catalog::{self, TargetArgs};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};

/// Write a new Store manifest into store/ of a package (or the project root)
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  dk store create warehouse --connector postgres \\
      --connection host=db.internal --connection port=5432 --connection database=analytics \\
      --secret password=WAREHOUSE_PASSWORD
  dk store create lake --connector s3 --connection bucket=events --project")]
pub struct CreateArgs {
    /// Store name (a DNS label)
    pub name: String,
    /// The Connector: built-in postgres, s3, kafka, file, sqlite, duckdb, or one in connector/
    #[arg(long)]
    pub connector: String,
    /// A connection detail KEY=VALUE (repeatable); VALUE is YAML, so 5432 is a number
    #[arg(long = "connection", value_name = "KEY=VALUE")]
    pub connection: Vec<String>,
    /// A secret KEY=ENV_VAR, read from that environment variable at run time (repeatable)
    #[arg(long = "secret", value_name = "KEY=ENV_VAR")]
    pub secrets: Vec<String>,
    #[command(flatten)]
    pub target: TargetArgs,
}

fn pair<'a>(flag: &str, text: &'a str) -> Result<(&'a str, &'a str), CliError> {
    text.split_once('=')
        .filter(|(key, _)| !key.is_empty())
        .ok_or_else(|| CliError::usage(format!("--{flag} `{text}` is not KEY=VALUE")))
}

pub fn run(args: CreateArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let mut connection = serde_json::Map::new();
    for text in &args.connection {
        let (key, value) = pair("connection", text)?;
        let source = Source::new(Origin::Flag(format!("--connection {text}")), value);
        let value = match yaml::parse_document(&source) {
            Ok(Some(node)) => node.to_json(),
            Ok(None) => serde_json::Value::String(String::new()),
            Err(err) => {
                return Err(CliError::usage(format!(
                    "--connection {text}: {}",
                    err.message
                )));
            }
        };
        connection.insert(key.to_owned(), value);
    }
    let mut secrets = BTreeMap::new();
    for text in &args.secrets {
        let (key, variable) = pair("secret", text)?;
        let variable = variable.trim_start_matches("${").trim_end_matches('}');
        secrets.insert(key.to_owned(), format!("${{{variable}}}"));
    }
    let manifest = Manifest::new(
        Kind::Store,
        args.name,
        StoreSpec {
            connector: args.connector,
            dev: None,
            connection,
            secrets,
        },
    );
    catalog::create(&manifest, &args.target, ctx)
}
