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

use std::path::Path;

use dk_manifest::discover::{Catalog, Package, Project, ProjectPlan, parallel_map};
use dk_manifest::load::Problem;
use dk_manifest::overrides::Overrides;
use dk_manifest::resolve::{Role, Scope};
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
        let linter = ProjectLint::new(
            project.root.as_deref(),
            &project.shared,
            &project.shared_problems,
        );
        let packages = project.packages.iter().map(|p| linter.package(p)).collect();
        findings.extend(linter.finish(packages));
    }
    Report::new(
        projects.iter().map(|project| project.packages.len()).sum(),
        projects.iter().map(Project::files).sum(),
        findings,
    )
}

/// Lints the projects a scan found ([`dk_manifest::discover::plan_projects`]) with the same
/// findings, in the same order, as [`lint`] over them loaded. Packages are read and checked on
/// every core, and each is dropped once checked: what stays is its findings and the little the
/// rules across packages need (its Transform's name, the roles it gives project-level
/// DataSets), so memory follows the project level, not the number of packages.
pub fn lint_scan(plans: &[ProjectPlan]) -> Report {
    let (mut findings, mut packages, mut files) = (Vec::new(), 0, 0);
    for plan in plans {
        let linter = ProjectLint::new(Some(&plan.root), &plan.shared, &plan.shared_problems);
        let linted = parallel_map(plan.package_dirs.iter().collect(), |dir| {
            linter.package(&Package::read(dir, &Overrides::default()))
        });
        packages += linted.len();
        files += plan.shared.files + linted.iter().map(|p| p.files).sum::<usize>();
        findings.extend(linter.finish(linted));
    }
    Report::new(packages, files, findings)
}

/// One project's lint: the project level once, then each package on its own (above the project
/// level's lineage: a package's DataSets are seen by no other package), then the rules across
/// packages. Findings come out in the order of one pass over the whole project.
struct ProjectLint<'a> {
    shared: &'a Catalog,
    policy: Policy,
    lineage: Lineage<'a>,
    /// The policy file's findings and the project level's.
    head: Vec<Finding>,
}

/// What a package leaves behind for the end of its project's lint.
struct PackageLint {
    files: usize,
    /// Problems, structure, references and credentials of the package itself.
    own: Vec<Finding>,
    owner: Vec<Finding>,
    /// The governance rules on the package's DataSets.
    governance: Vec<Finding>,
    transform: Option<structure::TransformName>,
    /// Roles the package's Transform gives project-level DataSets, by lineage index.
    shared_roles: Vec<(usize, Role)>,
}

impl<'a> ProjectLint<'a> {
    fn new(root: Option<&Path>, shared: &'a Catalog, shared_problems: &[Problem]) -> Self {
        let mut head = Vec::new();
        let policy = Policy::load(root, &mut head);
        let lineage = Lineage::base(shared);
        head.extend(shared_problems.iter().map(problems::finding));
        structure::check_catalog(shared, &mut head);
        let shared_scope = Scope {
            package: shared,
            project: None,
        };
        references::check_catalog(shared, shared_scope, &mut head);
        ProjectLint {
            shared,
            policy,
            lineage,
            head,
        }
    }

    fn package(&self, package: &Package) -> PackageLint {
        let scope = Scope {
            package: &package.catalog,
            project: Some(self.shared),
        };
        let lineage = Lineage::layer(&self.lineage, [(package, scope)]);
        let mut own = Vec::new();
        own.extend(package.problems.iter().map(problems::finding));
        structure::check_catalog(&package.catalog, &mut own);
        references::check_catalog(&package.catalog, scope, &mut own);
        credentials::check_package(package, &mut own);
        requirements::check_package(package, &mut own);
        let mut owner = Vec::new();
        if let Some(transform) = &package.transform {
            if let Some(resolution) = &lineage.resolutions[0] {
                structure::check_transform(transform, &mut own);
                references::check_transform(transform, resolution, &mut own);
            }
            governance::check_owner(transform, &self.policy, &mut owner);
        }
        let mut governance = Vec::new();
        governance::check_datasets(&lineage, &self.policy, &mut governance);
        PackageLint {
            files: package.catalog.files,
            own,
            owner,
            governance,
            transform: package.transform.as_ref().map(structure::TransformName::of),
            shared_roles: lineage.base_roles,
        }
    }

    fn finish(mut self, packages: Vec<PackageLint>) -> Vec<Finding> {
        let mut findings = self.head;
        for package in &packages {
            findings.extend_from_slice(&package.own);
        }
        structure::check_transform_names(
            packages.iter().filter_map(|p| p.transform.as_ref()),
            &mut findings,
        );
        for package in &packages {
            findings.extend_from_slice(&package.owner);
        }
        // Which project-level DataSets are outputs is known only once every package is read.
        for &(dataset, role) in packages.iter().flat_map(|p| &p.shared_roles) {
            self.lineage.set_role(dataset, role);
        }
        governance::check_datasets(&self.lineage, &self.policy, &mut findings);
        for package in packages {
            findings.extend(package.governance);
        }
        self.policy.apply(findings)
    }
}
