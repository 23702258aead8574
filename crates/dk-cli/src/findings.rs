//! Findings for people, in the layout the DataKit docs show:
//!
//! ```text
//! Errors (blocking):
//!   ✗ output 'customer-data': pii=true requires sensitivity level  [DK301]
//!      --> dataset/customer-data.yaml:9:19
//!       |
//!     9 |   classification: internal
//!       |                   ^
//!     hint: set spec.classification: confidential (or restricted)
//!
//! 1 error, 0 warnings
//! ```

use std::io::{self, Write};

use dk_manifest::yaml::Origin;
use dk_validate::{Finding, Report, Severity};

use crate::output::{Styles, plural};

fn write_finding(out: &mut dyn Write, styles: Styles, finding: &Finding) -> io::Result<()> {
    let marker = match finding.severity {
        Severity::Error => styles.error("✗"),
        Severity::Warning => styles.warning("⚠"),
    };
    writeln!(
        out,
        "  {marker} {}  {}",
        finding.message,
        styles.dim(&format!("[{}]", finding.code))
    )?;
    if let Some(location) = &finding.location {
        writeln!(out, "     {} {location}", styles.dim("-->"))?;
        let line = location.pos.line;
        let text = match location.origin() {
            Origin::File(_) => location.source.line(line),
            Origin::Flag(_) | Origin::Builtin => None,
        };
        if let Some(text) = text.filter(|text| !text.trim().is_empty()) {
            let number = line.to_string();
            let gutter = " ".repeat(number.len());
            let caret_pad: String = text
                .chars()
                .take(location.pos.column.saturating_sub(1) as usize)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            writeln!(out, "     {gutter} {}", styles.dim("|"))?;
            writeln!(
                out,
                "     {} {} {text}",
                styles.dim(&number),
                styles.dim("|")
            )?;
            writeln!(
                out,
                "     {gutter} {} {caret_pad}{}",
                styles.dim("|"),
                styles.hint("^")
            )?;
        }
    }
    if let Some(hint) = &finding.hint {
        writeln!(out, "     {} {hint}", styles.hint("hint:"))?;
    }
    Ok(())
}

/// The grouped findings of a report, without the summary line.
pub fn write_findings(out: &mut dyn Write, styles: Styles, report: &Report) -> io::Result<()> {
    let groups = [
        (Severity::Error, "Errors (blocking):"),
        (Severity::Warning, "Warnings:"),
    ];
    let mut first = true;
    for (severity, title) in groups {
        let mut findings = report
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .peekable();
        if findings.peek().is_none() {
            continue;
        }
        if !first {
            writeln!(out)?;
        }
        first = false;
        writeln!(out, "{}", styles.bold(title))?;
        for finding in findings {
            write_finding(out, styles, finding)?;
        }
    }
    Ok(())
}

/// `N errors, M warnings`.
pub fn summary(report: &Report) -> String {
    format!(
        "{}, {}",
        plural(report.errors, "error"),
        plural(report.warnings, "warning")
    )
}
