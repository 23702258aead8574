use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{ArgGroup, Args};

use dk_manifest::model::{Classification, DataSetSpec, Field, Format, Kind, Manifest, Retention};

use crate::commands::catalog::{self, TargetArgs};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};

/// Write a new DataSet manifest into dataset/ of a package (or the project root)
#[derive(Debug, Args)]
#[command(
    group(ArgGroup::new("locator").required(true).args(["table", "prefix", "topic", "path"])),
    after_help = "\
Examples:
  dk dataset create customers --store warehouse --table public.customers \\
      --classification confidential --retention-days 365 \\
      --field id:integer --field email:string:pii
  dk dataset create events --store lake --prefix events/ --format parquet --project")]
pub struct CreateArgs {
    /// DataSet name (a DNS label)
    pub name: String,
    /// The Store the data lives in
    #[arg(long)]
    pub store: String,
    /// Table, for databases
    #[arg(long)]
    pub table: Option<String>,
    /// Object prefix, for object stores
    #[arg(long)]
    pub prefix: Option<String>,
    /// Topic, for Kafka
    #[arg(long)]
    pub topic: Option<String>,
    /// File path relative to the store, for file stores
    #[arg(long)]
    pub path: Option<String>,
    #[arg(long, value_parser = PossibleValuesParser::new(Format::NAMES).try_map(|s| s.parse::<Format>()))]
    pub format: Option<Format>,
    #[arg(long, value_parser = PossibleValuesParser::new(Classification::NAMES).try_map(|s| s.parse::<Classification>()))]
    pub classification: Option<Classification>,
    #[arg(long)]
    pub owner: Option<String>,
    /// How many days the data is kept
    #[arg(long, value_name = "DAYS")]
    pub retention_days: Option<u32>,
    /// A schema field as NAME:TYPE, or NAME:TYPE:pii (repeatable, in order)
    #[arg(long = "field", value_name = "NAME:TYPE[:pii]")]
    pub fields: Vec<String>,
    /// A tag (repeatable)
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    #[command(flatten)]
    pub target: TargetArgs,
}

fn field(text: &str) -> Result<Field, CliError> {
    let invalid = || {
        CliError::usage(format!(
            "--field `{text}` is not NAME:TYPE or NAME:TYPE:pii"
        ))
        .hint("e.g. --field email:string:pii")
    };
    let mut parts = text.split(':');
    let (Some(name), Some(field_type)) = (parts.next(), parts.next()) else {
        return Err(invalid());
    };
    let pii = match parts.next() {
        None => false,
        Some("pii") => true,
        Some(_) => return Err(invalid()),
    };
    if name.is_empty() || field_type.is_empty() || parts.next().is_some() {
        return Err(invalid());
    }
    Ok(Field {
        name: name.to_owned(),
        field_type: field_type.to_owned(),
        pii,
        description: None,
        from: None,
        masking: None,
        nullable: None,
    })
}

pub fn run(args: CreateArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let schema = args
        .fields
        .iter()
        .map(|text| field(text))
        .collect::<Result<Vec<_>, _>>()?;
    let manifest = Manifest::new(
        Kind::DataSet,
        args.name,
        DataSetSpec {
            store: args.store,
            table: args.table,
            prefix: args.prefix,
            topic: args.topic,
            path: args.path,
            format: args.format,
            owner: args.owner,
            classification: args.classification,
            retention: args.retention_days.map(|days| Retention { days }),
            tags: args.tags,
            schema,
            dev: None,
        },
    );
    catalog::create(&manifest, &args.target, ctx)
}
