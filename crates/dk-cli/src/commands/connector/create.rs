use clap::Args;
use clap::builder::{PossibleValuesParser, TypedValueParser};

use dk_manifest::model::{Capability, ConnectorSpec, Kind, Manifest, Plugin};

use crate::commands::catalog::{self, TargetArgs};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};

/// Write a new Connector manifest into connector/ of a package (or the project root)
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  dk connector create readonly-pg --type postgres --capability source
  dk connector create hackernews --type hackernews --provider cloudquery --capability source \\
      --plugin-source cloudquery/hackernews --version v3.0.0 --project")]
pub struct CreateArgs {
    /// Connector name (a DNS label)
    pub name: String,
    /// The technology type
    #[arg(long = "type")]
    pub connector_type: String,
    /// source (it can be read) or destination (it can be written); repeatable
    #[arg(long = "capability", required = true,
          value_parser = PossibleValuesParser::new(Capability::NAMES).try_map(|s| s.parse::<Capability>()))]
    pub capabilities: Vec<Capability>,
    #[arg(long)]
    pub provider: Option<String>,
    /// Plugin (image) that reads from it
    #[arg(long)]
    pub plugin_source: Option<String>,
    /// Plugin (image) that writes to it
    #[arg(long)]
    pub plugin_destination: Option<String>,
    #[arg(long)]
    pub version: Option<String>,
    #[command(flatten)]
    pub target: TargetArgs,
}

pub fn run(args: CreateArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let mut capabilities = args.capabilities;
    capabilities.sort();
    capabilities.dedup();
    let plugin =
        (args.plugin_source.is_some() || args.plugin_destination.is_some()).then_some(Plugin {
            source: args.plugin_source,
            destination: args.plugin_destination,
        });
    let manifest = Manifest::new(
        Kind::Connector,
        args.name,
        ConnectorSpec {
            connector_type: args.connector_type,
            provider: args.provider,
            capabilities,
            plugin,
            version: args.version,
        },
    );
    catalog::create(&manifest, &args.target, ctx)
}
