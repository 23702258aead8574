use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use dk_manifest::graph::{Graph, GraphError, Step};

use crate::commands::{OverrideArgs, load_projects};
use crate::context::Context;
use crate::diagram::{Diagram, Shape};
use crate::error::{CliError, ExitStatus};
use crate::output::{OutputFormat, Render, Ui, plural};

/// The dependency graph of a project (dataset → transform → dataset) in run order
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  dk pipeline show                          run order of every package below .
  dk pipeline show --destination report     only what `report` depends on
  dk pipeline show -o mermaid > pipeline.mmd
  dk pipeline show -o dot | dot -Tsvg > pipeline.svg")]
pub struct ShowArgs {
    /// A package directory, or a project directory to graph every package below it
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Graph every package below DIR (repeatable)
    #[arg(long = "scan-dir", value_name = "DIR")]
    pub scan_dirs: Vec<PathBuf>,
    /// Keep only the transforms and datasets that DATASET depends on
    #[arg(long, value_name = "DATASET")]
    pub destination: Option<String>,
}

/// `-o mermaid` and `-o dot` besides text, JSON and YAML.
pub const FORMATS: &[OutputFormat] = &[OutputFormat::Mermaid, OutputFormat::Dot];

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct PipelineReport {
    /// Transforms in run order: each after the producers of its inputs.
    steps: Vec<Step>,
    datasets: Vec<String>,
    /// DataSets no Transform writes: where the pipeline starts.
    sources: Vec<String>,
}

impl PipelineReport {
    fn new(graph: &Graph, order: &[usize]) -> PipelineReport {
        let steps: Vec<Step> = order
            .iter()
            .map(|index| graph.steps[*index].clone())
            .collect();
        let written: Vec<&String> = steps.iter().flat_map(|step| &step.outputs).collect();
        let datasets: Vec<String> = graph.datasets().into_iter().map(str::to_owned).collect();
        let sources = datasets
            .iter()
            .filter(|d| !written.contains(d))
            .cloned()
            .collect();
        PipelineReport {
            steps,
            datasets,
            sources,
        }
    }

    fn diagram(&self) -> Diagram {
        let mut diagram = Diagram::default();
        let datasets: BTreeMap<&str, usize> = self
            .datasets
            .iter()
            .map(|name| (name.as_str(), diagram.node(name, Shape::Dataset)))
            .collect();
        for step in &self.steps {
            let node = diagram.node(&step.name, Shape::Job);
            for input in &step.inputs {
                diagram.edge(datasets[input.as_str()], node);
            }
            for output in &step.outputs {
                diagram.edge(node, datasets[output.as_str()]);
            }
        }
        diagram
    }
}

impl Render for PipelineReport {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let styles = ui.out_styles();
        writeln!(
            out,
            "Run order ({}, {}):",
            plural(self.steps.len(), "transform"),
            plural(self.datasets.len(), "dataset")
        )?;
        let width = self
            .steps
            .iter()
            .map(|step| step.name.len())
            .max()
            .unwrap_or(0);
        for (index, step) in self.steps.iter().enumerate() {
            writeln!(
                out,
                "  {:>2}. {}  {} → {}",
                index + 1,
                styles.bold(&format!("{:<width$}", step.name)),
                step.inputs.join(", "),
                step.outputs.join(", ")
            )?;
        }
        if !self.sources.is_empty() {
            writeln!(
                out,
                "Sources (written by no transform): {}",
                self.sources.join(", ")
            )?;
        }
        Ok(())
    }

    fn render_extra(&self, format: OutputFormat, _ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        match format {
            OutputFormat::Dot => self.diagram().dot("pipeline", out),
            _ => self.diagram().mermaid(out),
        }
    }
}

pub fn run(args: ShowArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let projects = load_projects(ctx, &args.dir, &args.scan_dirs, &OverrideArgs::default())?;
    let mut graph = Graph::build(&projects);
    if let Some(destination) = &args.destination {
        graph = graph.ancestors_of(destination).map_err(|err| {
            let hint = match &err {
                GraphError::UnknownDataSet {
                    suggestion: Some(name),
                    ..
                } => format!("did you mean `{name}`?"),
                _ => "`dk pipeline show` lists the datasets of the project".to_owned(),
            };
            CliError::usage(err.to_string()).hint(hint)
        })?;
    }
    let order = graph.order().map_err(|err| {
        CliError::failure(err.to_string()).hint(
            "a transform cannot depend on its own output, even through others; break the loop",
        )
    })?;
    ctx.ui.emit(&PipelineReport::new(&graph, &order))
}
