//! Rendering: every command returns a `Serialize` report; `--output` picks the view (human text,
//! JSON or YAML) of that one value. stdout carries data, stderr carries messages.
//!
//! Reports carry strings from outside dk: job and dataset names anyone can POST to `dk lineage
//! serve`, registry and forge answers, manifests from a pull request. Every human view and every
//! message passes through [`terminal_safe`] on its way out, so none of them can move the cursor,
//! rewrite lines, retitle the terminal or reach the clipboard. JSON escapes control characters
//! itself.

use std::borrow::Cow;
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
    /// Markdown (dk diff), as promotion pull requests show it.
    Markdown,
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

    /// Whether both stdout and stderr show colours: what a pipeline dk runs may write to.
    pub fn colors(&self) -> bool {
        self.stdout_color && self.stderr_color
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
            let _ = writeln!(io::stderr().lock(), "{}", self.err_safe(message.as_ref()));
        }
    }

    /// `text` as it may go to stderr: dk's own colours kept when stderr shows colours.
    fn err_safe<'a>(&self, text: &'a str) -> Cow<'a, str> {
        terminal_safe(text, self.stderr_color)
    }

    /// Writes what `render` writes to stderr, made terminal-safe: for messages longer than a
    /// line (lint findings before a run).
    pub fn write_err(
        &self,
        render: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut text = Vec::new();
        render(&mut text)?;
        let text = String::from_utf8_lossy(&text);
        io::stderr()
            .lock()
            .write_all(self.err_safe(&text).as_bytes())
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
        bar.set_message(sanitize(&message.into()).into_owned());
        bar
    }

    pub fn warn(&self, message: impl AsRef<str>) {
        if !self.quiet {
            let styles = self.err_styles();
            let _ = writeln!(
                io::stderr().lock(),
                "{} {}",
                styles.warning("warning:"),
                self.err_safe(message.as_ref())
            );
        }
    }

    pub fn error(&self, error: &CliError) {
        let styles = self.err_styles();
        let mut err = io::stderr().lock();
        let _ = writeln!(
            err,
            "{} {}",
            styles.error("error:"),
            self.err_safe(&error.message)
        );
        for cause in &error.causes {
            let _ = writeln!(err, "  caused by: {}", self.err_safe(&cause.to_string()));
        }
        // A failed external system with no more specific hint: the checks find which.
        let hint = match (&error.hint, error.status) {
            (Some(hint), _) => Some(hint.as_str()),
            (None, ExitStatus::External) => Some("run dk doctor"),
            (None, _) => None,
        };
        if let Some(hint) = hint {
            let _ = writeln!(err, "{} {}", styles.hint("hint:"), self.err_safe(hint));
        }
    }

    /// Writes a report whose text view only says what the command did ("Created ...",
    /// "✓ demo succeeded"): `-q` reduces that view to the report's [`Render::quiet_line`]. JSON
    /// and YAML were asked for and are written.
    pub fn emit_message<R: Render>(&self, report: &R) -> Result<ExitStatus, CliError> {
        if self.quiet && self.format == OutputFormat::Text {
            if let Some(line) = report.quiet_line() {
                let mut out = io::stdout().lock();
                writeln!(out, "{}", sanitize(&line))?;
                out.flush()?;
            }
            return Ok(report.status());
        }
        self.emit(report)
    }

    /// Writes `report` in the chosen format to stdout.
    pub fn emit<R: Render>(&self, report: &R) -> Result<ExitStatus, CliError> {
        let mut out = io::stdout().lock();
        // Views for people are rendered whole, then cleaned: a report never knows which of its
        // strings came from outside.
        let mut human = Vec::new();
        match self.format {
            OutputFormat::Json => write_json(&mut out, report)?,
            OutputFormat::Yaml => write!(out, "{}", to_yaml(report)?)?,
            OutputFormat::Sarif => report.render_extra(OutputFormat::Sarif, self, &mut out)?,
            OutputFormat::Text => report.render_text(self, &mut human)?,
            other => report.render_extra(other, self, &mut human)?,
        }
        if !human.is_empty() {
            let text = String::from_utf8_lossy(&human);
            out.write_all(terminal_safe(&text, self.stdout_color).as_bytes())?;
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

    /// What `-q` still prints: the one value a script takes from the command (`docker build
    /// -q` prints the image id), if it has one.
    fn quiet_line(&self) -> Option<String> {
        None
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

/// `text` from outside dk with every escape sequence and control character removed (newlines
/// and tabs stay): safe to show on a terminal.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    terminal_safe(text, false)
}

/// The SGR parameters of dk's own styles (reset, bold, dim, red, green, yellow, cyan).
const OWN_STYLES: [&str; 7] = ["0", "1", "2", "31", "32", "33", "36"];

/// Whether a character is never shown as is: C0 controls but newline and tab, DEL, C1 controls
/// (U+009B is a CSI of its own) and the bidirectional overrides that reorder what is shown.
fn hidden(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` without escape sequences (CSI, OSC, DCS, SOS, PM, APC and two-character ones) and
/// hidden characters. With `keep_styles`, the colour sequences of dk's own styles stay: they
/// only colour text.
pub fn terminal_safe(text: &str, keep_styles: bool) -> Cow<'_, str> {
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    let mut clean = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            if !hidden(c) {
                clean.push(c);
            }
            continue;
        }
        match chars.next() {
            Some('[') => {
                let mut params = String::new();
                let mut last = None;
                for next in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&next) {
                        last = Some(next);
                        break;
                    }
                    params.push(next);
                }
                let own =
                    last == Some('m') && params.split(';').all(|param| OWN_STYLES.contains(&param));
                if keep_styles && own {
                    clean.push_str("\u{1b}[");
                    clean.push_str(&params);
                    clean.push('m');
                }
            }
            // Strings ended by BEL or ST (ESC \\).
            Some(']' | 'P' | 'X' | '^' | '_') => {
                while let Some(next) = chars.next() {
                    if next == '\u{7}' || (next == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    Cow::Owned(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_controls_are_removed() {
        for (raw, shown) in [
            ("plain name", "plain name"),
            ("two\nlines\tand a tab", "two\nlines\tand a tab"),
            ("a\u{1b}[2Jb", "ab"),
            ("a\u{1b}[1A\u{1b}[2K\rb", "ab"),
            ("title\u{1b}]0;pwned\u{7}!", "title!"),
            ("clip\u{1b}]52;c;ZWNobyBoaQ==\u{1b}\\!", "clip!"),
            ("dcs\u{1b}Pq#0;2;0;0;0\u{1b}\\!", "dcs!"),
            ("c1\u{9b}31mred", "c131mred"),
            ("bell\u{7}\u{8}\u{0}\u{7f}", "bell"),
            ("rtl\u{202e}gnp.exe", "rtlgnp.exe"),
            ("cut\u{1b}", "cut"),
            ("cut\u{1b}]0;never ended", "cut"),
        ] {
            assert_eq!(sanitize(raw), shown, "{raw:?}");
        }
    }

    #[test]
    fn dk_s_own_colours_stay_when_colours_are_on() {
        let styled = format!("{} name", Styles { color: true }.error("error:"));
        assert!(styled.contains('\u{1b}'));
        assert_eq!(terminal_safe(&styled, true), styled);
        assert_eq!(terminal_safe(&styled, false), "error: name");
        assert_eq!(
            terminal_safe("\u{1b}[8mhidden\u{1b}[0m", true),
            "hidden\u{1b}[0m"
        );
    }

    #[test]
    fn yaml_escapes_control_characters_itself() {
        let yaml = to_yaml(&serde_json::json!({"name": "a\u{1b}]0;x\u{7}b\rc"})).unwrap();
        assert!(!yaml.contains(['\u{1b}', '\u{7}', '\r']), "{yaml:?}");
    }
}
