//! The pipeline graph of a project: DataSets feed Transforms, which produce DataSets.
//!
//! DataSets are identified by name across the project (a name is what packages share), so two
//! packages meet where one writes a DataSet the other reads. The graph orders Transforms so that
//! each runs after the producers of its inputs, and refuses cycles, naming every step of one.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::discover::Project;
use crate::resolve::{Role, resolve_transform};
use crate::suggest::did_you_mean;

/// A Transform and the DataSet names it reads and writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Step {
    pub name: String,
    pub namespace: String,
    pub directory: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    New,
    OnPath,
    Done,
}

/// The graph of every package of some projects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Graph {
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// The path starts and ends at the same Transform: `t1 → b → t2 → a → t1`.
    #[error("the pipeline has a cycle: {}", path.join(" → "))]
    Cycle { path: Vec<String> },
    #[error("no transform reads or writes dataset `{name}`")]
    UnknownDataSet {
        name: String,
        suggestion: Option<String>,
    },
}

fn push_unique(list: &mut Vec<String>, name: &str) {
    if !list.iter().any(|existing| existing == name) {
        list.push(name.to_owned());
    }
}

impl Graph {
    /// Builds the graph from the resolved inputs and outputs of every package. A reference that
    /// does not resolve still appears under its written name (the linter reports it).
    pub fn build(projects: &[Project]) -> Graph {
        let mut steps = Vec::new();
        for project in projects {
            for package in &project.packages {
                let Some(transform) = &package.transform else {
                    continue;
                };
                let scope = project.scope(package);
                let resolution = resolve_transform(transform, scope);
                let mut step = Step {
                    name: transform.name().to_owned(),
                    namespace: transform.manifest.metadata.namespace.clone(),
                    directory: package.dir.display().to_string(),
                    inputs: Vec::new(),
                    outputs: Vec::new(),
                };
                for binding in &resolution.bindings {
                    let list = match binding.role {
                        Role::Input => &mut step.inputs,
                        Role::Output => &mut step.outputs,
                    };
                    push_unique(list, binding.dataset.name());
                }
                let spec = &transform.manifest.spec;
                for (role, refs) in [(Role::Input, &spec.inputs), (Role::Output, &spec.outputs)] {
                    // A group is its members, bound above; other names that did not resolve
                    // stay in the graph under their own name.
                    let names = refs.iter().filter_map(|r| r.dataset.as_deref());
                    for name in names.filter(|name| !scope.is_group(name)) {
                        let list = match role {
                            Role::Input => &mut step.inputs,
                            Role::Output => &mut step.outputs,
                        };
                        push_unique(list, name);
                    }
                }
                steps.push(step);
            }
        }
        steps.sort_by(|a, b| {
            (&a.namespace, &a.name, &a.directory).cmp(&(&b.namespace, &b.name, &b.directory))
        });
        Graph { steps }
    }

    /// Every DataSet name in the graph, sorted.
    pub fn datasets(&self) -> BTreeSet<&str> {
        self.steps
            .iter()
            .flat_map(|step| step.inputs.iter().chain(&step.outputs))
            .map(String::as_str)
            .collect()
    }

    /// The steps that write each DataSet.
    fn producers(&self) -> BTreeMap<&str, Vec<usize>> {
        let mut producers: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (index, step) in self.steps.iter().enumerate() {
            for output in &step.outputs {
                producers.entry(output).or_default().push(index);
            }
        }
        producers
    }

    /// Step indexes in an order where every step comes after the producers of its inputs; ties
    /// keep the graph's (name) order so the order is stable.
    pub fn order(&self) -> Result<Vec<usize>, GraphError> {
        let producers = self.producers();
        let mut state = vec![Mark::New; self.steps.len()];
        let mut order = Vec::with_capacity(self.steps.len());
        for start in 0..self.steps.len() {
            let mut path = vec![(start, String::new())];
            self.visit(start, &producers, &mut state, &mut order, &mut path)?;
        }
        Ok(order)
    }

    /// Depth-first over producers. `path` holds the steps being visited, each with the DataSet
    /// through which the previous step on the path needs it; meeting a step of the path again
    /// closes a cycle.
    fn visit(
        &self,
        step: usize,
        producers: &BTreeMap<&str, Vec<usize>>,
        state: &mut [Mark],
        order: &mut Vec<usize>,
        path: &mut Vec<(usize, String)>,
    ) -> Result<(), GraphError> {
        match state[step] {
            Mark::Done => return Ok(()),
            Mark::OnPath => return Err(self.cycle(path)),
            Mark::New => {}
        }
        state[step] = Mark::OnPath;
        for input in &self.steps[step].inputs {
            for &producer in producers.get(input.as_str()).into_iter().flatten() {
                path.push((producer, input.clone()));
                self.visit(producer, producers, state, order, path)?;
                path.pop();
            }
        }
        state[step] = Mark::Done;
        order.push(step);
        Ok(())
    }

    /// The cycle closed by the last step of `path`, in the direction data flows:
    /// `one → b → two → c → three → a → one`.
    fn cycle(&self, path: &[(usize, String)]) -> GraphError {
        let (closing, _) = path[path.len() - 1];
        let from = path
            .iter()
            .position(|(step, _)| *step == closing)
            .unwrap_or_default();
        let items = &path[from..];
        let mut cycle = vec![self.steps[closing].name.clone()];
        for index in (0..items.len() - 1).rev() {
            cycle.push(items[index + 1].1.clone());
            cycle.push(self.steps[items[index].0].name.clone());
        }
        GraphError::Cycle { path: cycle }
    }

    /// The part of the graph that `dataset` depends on: its producers and theirs, transitively.
    pub fn ancestors_of(&self, dataset: &str) -> Result<Graph, GraphError> {
        if !self.datasets().contains(dataset) {
            return Err(GraphError::UnknownDataSet {
                name: dataset.to_owned(),
                suggestion: did_you_mean(dataset, self.datasets()).map(str::to_owned),
            });
        }
        let producers = self.producers();
        let mut keep = BTreeSet::new();
        let mut pending = vec![dataset.to_owned()];
        let mut seen = BTreeSet::new();
        while let Some(name) = pending.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            for &step in producers.get(name.as_str()).into_iter().flatten() {
                if keep.insert(step) {
                    pending.extend(self.steps[step].inputs.iter().cloned());
                }
            }
        }
        Ok(Graph {
            steps: keep
                .into_iter()
                .map(|index| self.steps[index].clone())
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, inputs: &[&str], outputs: &[&str]) -> Step {
        Step {
            name: name.into(),
            namespace: "default".into(),
            directory: name.into(),
            inputs: inputs.iter().map(|s| (*s).to_owned()).collect(),
            outputs: outputs.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn names(graph: &Graph, order: &[usize]) -> Vec<String> {
        order.iter().map(|i| graph.steps[*i].name.clone()).collect()
    }

    #[test]
    fn orders_producers_first() {
        let graph = Graph {
            steps: vec![
                step("a-report", &["enriched"], &["report"]),
                step("b-enrich", &["events", "countries"], &["enriched"]),
                step("c-ingest", &["raw"], &["events"]),
            ],
        };
        let order = graph.order().unwrap();
        assert_eq!(names(&graph, &order), ["c-ingest", "b-enrich", "a-report"]);
        let upstream = graph.ancestors_of("enriched").unwrap();
        assert_eq!(upstream.steps.len(), 2);
        assert!(matches!(
            graph.ancestors_of("enrichd"),
            Err(GraphError::UnknownDataSet { suggestion: Some(s), .. }) if s == "enriched"
        ));
    }

    #[test]
    fn cycles_are_errors_that_name_every_step() {
        let graph = Graph {
            steps: vec![
                step("one", &["a"], &["b"]),
                step("two", &["b"], &["c"]),
                step("three", &["c"], &["a"]),
            ],
        };
        let err = graph.order().unwrap_err();
        let self_loop = Graph {
            steps: vec![step("loop", &["x"], &["x"])],
        };
        assert_eq!(
            self_loop.order().unwrap_err().to_string(),
            "the pipeline has a cycle: loop → x → loop"
        );
        assert_eq!(
            err.to_string(),
            "the pipeline has a cycle: one → b → two → c → three → a → one"
        );
    }
}
