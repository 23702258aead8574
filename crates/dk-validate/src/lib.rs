//! `dk lint`: rules with stable codes over a project's manifests.
//!
//! Findings are data ([`Finding`]): a code, a severity, a one-line message, the `file:line:column`
//! it is about and a hint that says what to do. Rendering (human text, JSON) is the caller's.
//! Problems met while loading (syntax, unknown fields, wrong types) become findings too, so one
//! run reports everything at once.

mod credentials;
pub mod explain;
mod governance;
pub mod lineage;
pub mod policy;
mod problems;
mod references;
pub mod report;
mod requirements;
pub mod rules;
pub mod sarif;
mod structure;

use serde::Serialize;

use dk_manifest::discover::Project;
use dk_manifest::yaml::Location;

pub use rules::{Rule, Severity};

use crate::lineage::Lineage;
use crate::policy::Policy;

/// One thing `dk lint` has to say.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Finding {
    pub code: &'static str,
    pub rule: &'static str,
    pub severity: Severity,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Finding {
    pub fn new(
        rule: &Rule,
        message: impl Into<String>,
        location: impl Into<Option<Location>>,
    ) -> Self {
        Finding {
            code: rule.code,
            rule: rule.name,
            severity: rule.severity,
            message: message.into(),
            location: location.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_optional_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    fn sort_key(&self) -> (String, u32, u32, &'static str) {
        match &self.location {
            Some(location) => (
                location.origin().to_string(),
                location.pos.line,
                location.pos.column,
                self.code,
            ),
            None => (String::new(), 0, 0, self.code),
        }
    }
}

/// The outcome of linting one or more projects.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub packages: usize,
    pub files: usize,
    pub errors: usize,
    pub warnings: usize,
    pub findings: Vec<Finding>,
}

impl Report {
    fn new(packages: usize, files: usize, mut findings: Vec<Finding>) -> Report {
        findings.sort_by_key(|finding| finding.sort_key());
        // A project-level manifest is seen from every package; say each thing once.
        findings.dedup();
        let errors = findings
            .iter()
            .filter(|finding| finding.severity == Severity::Error)
            .count();
        Report {
            packages,
            files,
            errors,
            warnings: findings.len() - errors,
            findings,
        }
    }

    /// Keeps the findings `keep` accepts, and counts again.
    pub fn retain(&mut self, keep: impl FnMut(&Finding) -> bool) {
        self.findings.retain(keep);
        self.errors = self
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count();
        self.warnings = self.findings.len() - self.errors;
    }

    /// Whether the check passes: no errors, and with `strict` no warnings either.
    pub fn passed(&self, strict: bool) -> bool {
        self.errors == 0 && (!strict || self.warnings == 0)
    }
}

/// Lints every package of every project, each under its own policies.
pub fn lint(projects: &[Project]) -> Report {
    let mut findings = Vec::new();
    for project in projects {
        let mut project_findings = Vec::new();
        let policy = Policy::load(project.root.as_deref(), &mut project_findings);
        let lineage = Lineage::build(project);
        project_findings.extend(project.shared_problems.iter().map(problems::finding));
        structure::check_catalog(&project.shared, &mut project_findings);
        references::check_catalog(
            &project.shared,
            project.shared_scope(),
            &mut project_findings,
        );
        for (package, resolution) in project.packages.iter().zip(&lineage.resolutions) {
            project_findings.extend(package.problems.iter().map(problems::finding));
            structure::check_catalog(&package.catalog, &mut project_findings);
            references::check_catalog(
                &package.catalog,
                project.scope(package),
                &mut project_findings,
            );
            credentials::check_package(package, &mut project_findings);
            requirements::check_package(package, &mut project_findings);
            if let (Some(transform), Some(resolution)) = (&package.transform, resolution) {
                structure::check_transform(transform, &mut project_findings);
                references::check_transform(transform, resolution, &mut project_findings);
            }
        }
        structure::check_transform_names(project, &mut project_findings);
        governance::check_project(project, &lineage, &policy, &mut project_findings);
        findings.extend(policy.apply(project_findings));
    }
    Report::new(
        projects.iter().map(|project| project.packages.len()).sum(),
        projects.iter().map(Project::files).sum(),
        findings,
    )
}
