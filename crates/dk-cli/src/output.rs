//! Rendering: every command returns a `Serialize` report; `--output` picks the view (human text,
//! JSON or YAML) of that one value. stdout carries data, stderr carries messages.

use std::io::{self, Write};

use clap::ValueEnum;
use console::{Style, StyledObject};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::error::{CliError, ExitStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people: tables, colours, hints.
    Text,
    /// For programs: the same report as JSON.
    Json,
    /// The same report as YAML.
    Yaml,
    /// The text view of commands whose text is a table.
    Table,
    /// Comma-separated values (dk governance report).
    Csv,
    /// SARIF 2.1.0 for code-scanning tools (dk lint).
    Sarif,
    /// A Mermaid flowchart (dk pipeline show).
    Mermaid,
    /// A Graphviz digraph (dk pipeline show).
    Dot,
}

impl OutputFormat {
    /// The views every report has.
    pub const COMMON: [OutputFormat; 3] =
        [OutputFormat::Text, OutputFormat::Json, OutputFormat::Yaml];
}

impl std::fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = self.to_possible_value().expect("no variant is skipped");
        f.write_str(value.get_name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Where and how output goes.
#[derive(Debug, Clone)]
pub struct Ui {
    pub format: OutputFormat,
    pub quiet: bool,
    stdout_color: bool,
    stderr_color: bool,
    stderr_terminal: bool,
}

impl Ui {
    pub fn new(format: OutputFormat, quiet: bool, color: ColorChoice, no_color_env: bool) -> Ui {
        let enabled = |terminal: bool| match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => terminal && !no_color_env,
        };
        let stderr_terminal = console::Term::stderr().is_term();
        Ui {
            format,
            quiet,
            stdout_color: enabled(console::Term::stdout().is_term()),
            stderr_color: enabled(stderr_terminal),
            stderr_terminal,
        }
    }

    /// Styles for text going to stdout.
    pub fn out_styles(&self) -> Styles {
        Styles {
            color: self.stdout_color,
        }
    }

    /// Styles for text going to stderr.
    pub fn err_styles(&self) -> Styles {
        Styles {
            color: self.stderr_color,
        }
    }

    /// A message for people on stderr (hidden by `--quiet`).
    pub fn note(&self, message: impl AsRef<str>) {
        if !self.quiet {
            let _ = writeln!(io::stderr().lock(), "{}", message.as_ref());
        }
    }

    /// Progress of long work on stderr: a spinner, or a byte bar with `total_bytes`. Drawn only
    /// on a terminal and without `--quiet`; elsewhere it is hidden and costs nothing.
    pub fn progress(&self, message: impl Into<String>, total_bytes: Option<u64>) -> ProgressBar {
        if self.quiet || !self.stderr_terminal {
            return ProgressBar::hidden();
        }
        let bar = match total_bytes {
            Some(total) => ProgressBar::new(total).with_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            ),
            None => {
                let bar = ProgressBar::new_spinner();
                bar.enable_steady_tick(std::time::Duration::from_millis(100));
                bar
            }
        };
        bar.set_message(message.into());
        bar
    }

    pub fn warn(&self, message: impl AsRef<str>) {
        if !self.quiet {
            let styles = self.err_styles();
            let _ = writeln!(
                io::stderr().lock(),
                "{} {}",
                styles.warning("warning:"),
                message.as_ref()
            );
        }
    }

    pub fn error(&self, error: &CliError) {
        let styles = self.err_styles();
        let mut err = io::stderr().lock();
        let _ = writeln!(err, "{} {}", styles.error("error:"), error.message);
        for cause in &error.causes {
            let _ = writeln!(err, "  caused by: {cause}");
        }
        if let Some(hint) = &error.hint {
            let _ = writeln!(err, "{} {hint}", styles.hint("hint:"));
        }
    }

    /// Writes `report` in the chosen format to stdout.
    pub fn emit<R: Render>(&self, report: &R) -> Result<ExitStatus, CliError> {
        let mut out = io::stdout().lock();
        match self.format {
            OutputFormat::Text => report.render_text(self, &mut out)?,
            OutputFormat::Json => write_json(&mut out, report)?,
            OutputFormat::Yaml => write!(out, "{}", to_yaml(report)?)?,
            other => report.render_extra(other, self, &mut out)?,
        }
        out.flush()?;
        Ok(report.status())
    }
}

pub fn to_yaml<T: Serialize>(value: &T) -> Result<String, CliError> {
    serde_saphyr::to_string(value).map_err(|err| CliError::failure("cannot render YAML").cause(err))
}

/// Pretty JSON and a final line break.
pub fn write_json<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::from)?;
    writeln!(out)
}

/// A command's result: data that can be shown to people or to programs.
pub trait Render: Serialize {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()>;

    /// Views beyond text, JSON and YAML, for the formats the command declares (its `FORMATS`).
    fn render_extra(&self, format: OutputFormat, _ui: &Ui, _out: &mut dyn Write) -> io::Result<()> {
        Err(io::Error::other(format!("no -o {format} view")))
    }

    /// The exit status the result implies.
    fn status(&self) -> ExitStatus {
        ExitStatus::Success
    }
}

/// Colours that switch off with `--color never`, `NO_COLOR` or a non-terminal.
#[derive(Debug, Clone, Copy)]
pub struct Styles {
    color: bool,
}

impl Styles {
    fn paint<'a>(&self, style: Style, text: &'a str) -> StyledObject<&'a str> {
        style.force_styling(self.color).apply_to(text)
    }

    pub fn error<'a>(&self, text: &'a str) -> StyledObject<&'a str> {
        self.paint(Style::new().red().bold(), text)
    }

    pub fn warning<'a>(&self, text: &'a str) -> StyledObject<&'a str> {
        self.paint(Style::new().yellow().bold(), text)
    }

    pub fn success<'a>(&self, text: &'a str) -> StyledObject<&'a str> {
        self.paint(Style::new().green().bold(), text)
    }

    pub fn hint<'a>(&self, text: &'a str) -> StyledObject<&'a str> {
        self.paint(Style::new().cyan().bold(), text)
    }

    pub fn bold<'a>(&self, text: &'a str) -> StyledObject<&'a str> {
        self.paint(Style::new().bold(), text)
    }

    pub fn dim<'a>(&self, text: &'a str) -> StyledObject<&'a str> {
        self.paint(Style::new().dim(), text)
    }
}

/// "1 error", "2 warnings".
pub fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("{count} {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// A table in the terminal style of dk: no borders, columns two spaces apart.
pub fn table(header: &[&str]) -> comfy_table::Table {
    let mut table = comfy_table::Table::new();
    table.load_style(comfy_table::presets::NOTHING);
    table.set_content_arrangement(comfy_table::ContentArrangement::Disabled);
    table.set_header(header);
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    table
}

/// Renders a table without the trailing spaces comfy-table pads lines with.
pub fn write_table(out: &mut dyn Write, table: &comfy_table::Table) -> io::Result<()> {
    for line in table.lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}
