//! The command-line grammar.

use clap::{ArgAction, Args, Parser, Subcommand};

use crate::commands::{
    completions, config, connector, dataset, datasetgroup, deliver, dev, doctor, gitops,
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
    /// Output format: text for people, json or yaml for programs (some commands add views)
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value_t = OutputFormat::Text)]
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
