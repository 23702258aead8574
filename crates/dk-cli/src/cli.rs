//! The command-line grammar.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Arg, ArgAction, ArgMatches, Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::commands::{
    self, completions, config, connector, dataset, datasetgroup, deliver, dev, doctor, gitops,
    governance, init, lineage, lint, package, pipeline, promote, rollback, run, show, status,
    store, test, trust, version,
};
use crate::error::EXIT_CODES_HELP;
use crate::output::{ColorChoice, OutputFormat};

const ABOUT: &str =
    "DataKit: build, govern, publish and operate data pipelines as versioned data packages";

#[derive(Debug, Parser)]
#[command(
    name = "dk",
    version,
    about = ABOUT,
    after_help = EXIT_CODES_HELP,
    arg_required_else_help = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Output format: text for people, json or yaml for programs (some commands add views:
    /// each command's help lists its own)
    #[arg(short = 'o', long = "output", value_name = "FORMAT", global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// When to use colours (NO_COLOR is honoured with auto)
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Print only results and errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Log more detail to stderr (-v, -vv, -vvv)
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// Override a config value for this run (repeatable), e.g. --config registry=ghcr.io/my-org
    #[arg(long = "config", global = true, value_name = "KEY=VALUE")]
    pub config: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Init(init::InitArgs),
    Lint(lint::LintArgs),
    Show(show::ShowArgs),
    Run(run::RunArgs),
    Lineage(lineage::LineageArgs),
    Test(test::TestArgs),
    Build(package::BuildArgs),
    Publish(package::PublishArgs),
    Pull(package::PullArgs),
    Inspect(package::InspectArgs),
    Diff(package::DiffArgs),
    #[command(
        subcommand,
        after_help = "Examples:\n  dk gitops init\n  dk gitops init ./gitops && dk config set gitops.repo $(pwd)/gitops"
    )]
    Gitops(gitops::GitOpsCommand),
    Promote(promote::PromoteArgs),
    Rollback(rollback::RollbackArgs),
    Status(status::StatusArgs),
    #[command(
        subcommand,
        after_help = "Examples:\n  dk dev up\n  dk dev status\n  dk dev seed ./my-pipeline\n  dk dev down --volumes"
    )]
    Dev(dev::DevCommand),
    #[command(
        subcommand,
        after_help = "Examples:\n  dk config set registry ghcr.io/acme\n  dk config get lineage.endpoint\n  dk config list\n  dk config unset registry"
    )]
    Config(config::ConfigCommand),
    #[command(
        subcommand,
        after_help = "Examples:\n  dk governance report --filter pii=true\n  dk governance report -o json"
    )]
    Governance(governance::GovernanceCommand),
    #[command(
        subcommand,
        after_help = "Examples:\n  dk pipeline show\n  dk pipeline show -o mermaid"
    )]
    Pipeline(pipeline::PipelineCommand),
    #[command(
        subcommand,
        after_help = "Examples:\n  dk dataset create orders --store warehouse --table public.orders\n  dk dataset list\n  dk dataset show orders"
    )]
    Dataset(dataset::DataSetCommand),
    #[command(
        subcommand,
        after_help = "Examples:\n  dk store create warehouse --connector postgres --connection host=db --connection port=5432\n  dk store list\n  dk store show warehouse"
    )]
    Store(store::StoreCommand),
    #[command(
        subcommand,
        after_help = "Examples:\n  dk connector list\n  dk connector show postgres"
    )]
    Connector(connector::ConnectorCommand),
    Version(version::VersionArgs),
    Completions(completions::CompletionsArgs),
    Doctor(doctor::DoctorArgs),
    #[command(
        subcommand,
        after_help = "Examples:\n  dk datasetgroup create raw --store lake --dataset orders-raw --dataset customers-raw\n  dk datasetgroup list\n  dk datasetgroup show raw"
    )]
    Datasetgroup(datasetgroup::DataSetGroupCommand),
    #[command(
        subcommand,
        after_help = "Examples:\n  dk key generate release\n  DK_KEY_PASSWORD=... dk key generate ci --algorithm ed25519"
    )]
    Key(trust::KeyCommand),
    Sign(trust::SignArgs),
    Verify(trust::VerifyArgs),
    #[command(name = "__deliver", hide = true)]
    Deliver(deliver::DeliverArgs),
}

const OUTPUT_HELP: &str = "Output format: text for people, json or yaml for programs";

/// The grammar, with each command's `-o` taking only the formats that command has
/// ([`commands::formats`]): another is refused while the arguments are read, and the command's
/// help lists its own. A command's own `output` argument stands in for the global one, which
/// clap does not propagate where the id exists; the value still reaches [`GlobalArgs`].
pub fn command() -> clap::Command {
    narrow_output(Cli::command(), &mut Vec::new())
}

fn narrow_output(mut command: clap::Command, path: &mut Vec<String>) -> clap::Command {
    let names: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .filter(|name| name != "help")
        .collect();
    for name in names {
        path.push(name.clone());
        command = command.mut_subcommand(&name, |sub| {
            let sub = narrow_output(sub, path);
            // A group that needs a subcommand has no output of its own.
            if sub.is_subcommand_required_set() {
                return sub;
            }
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            sub.arg(output_arg(&commands::formats(&path)))
        });
        path.pop();
    }
    command
}

fn output_arg(formats: &[OutputFormat]) -> Arg {
    let values: Vec<PossibleValue> = formats
        .iter()
        .filter_map(ValueEnum::to_possible_value)
        .collect();
    let parser = PossibleValuesParser::new(values).map(|name| {
        OutputFormat::from_str(&name, false).expect("the parser admits only OutputFormat names")
    });
    Arg::new("output")
        .short('o')
        .long("output")
        .value_name("FORMAT")
        .help(OUTPUT_HELP)
        .default_value("text")
        .value_parser(parser)
}

/// The names of the command `matches` holds, below `dk`: `["governance", "report"]`.
pub fn path(matches: &ArgMatches) -> Vec<&str> {
    let mut path = Vec::new();
    let mut current = matches;
    while let Some((name, sub)) = current.subcommand() {
        path.push(name);
        current = sub;
    }
    path
}
