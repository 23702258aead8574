//! Mermaid and Graphviz views of a dataset → job → dataset graph, shared by `dk pipeline show`
//! and `dk lineage`.

use std::io::{self, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A transform or job.
    Job,
    /// A dataset, drawn as a cylinder.
    Dataset,
}

/// A graph to draw. Node ids are generated (`n0`, `n1`, …) so that any name is safe.
#[derive(Debug, Default)]
pub struct Diagram {
    nodes: Vec<(String, Shape)>,
    edges: Vec<(usize, usize)>,
}

impl Diagram {
    /// Adds a node and returns its index for [`Diagram::edge`].
    pub fn node(&mut self, label: &str, shape: Shape) -> usize {
        self.nodes.push((label.to_owned(), shape));
        self.nodes.len() - 1
    }

    pub fn edge(&mut self, from: usize, to: usize) {
        self.edges.push((from, to));
    }

    pub fn mermaid(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "flowchart LR")?;
        for (index, (label, shape)) in self.nodes.iter().enumerate() {
            let label = label.replace('"', "#quot;");
            match shape {
                Shape::Dataset => writeln!(out, "  n{index}[(\"{label}\")]")?,
                Shape::Job => writeln!(out, "  n{index}[\"{label}\"]")?,
            }
        }
        for (from, to) in &self.edges {
            writeln!(out, "  n{from} --> n{to}")?;
        }
        Ok(())
    }

    pub fn dot(&self, name: &str, out: &mut dyn Write) -> io::Result<()> {
        let quote = |text: &str| format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""));
        writeln!(out, "digraph {name} {{")?;
        writeln!(out, "  rankdir=LR;")?;
        for (index, (label, shape)) in self.nodes.iter().enumerate() {
            let shape = match shape {
                Shape::Dataset => "cylinder",
                Shape::Job => "box",
            };
            writeln!(out, "  n{index} [label={}, shape={shape}];", quote(label))?;
        }
        for (from, to) in &self.edges {
            writeln!(out, "  n{from} -> n{to};")?;
        }
        writeln!(out, "}}")
    }
}
