//! A promotion or rollback as a typed plan: where it starts ([`Target`]: the environment and
//! its values file now), what it changes ([`Plan`]: the values file, the environments it skips,
//! the pull request's title, body and labels, whether it merges at once), and what it did
//! ([`Outcome`]). Open promotions meet the approval gate as [`Pending`]. Nothing here prints:
//! the frontend renders what these return.

use serde::Serialize;

use dk_contract::{Diff, Level};

use crate::GitOpsError;
use crate::branch::{BranchName, Kind};
use crate::environments::{Environment, Environments, join_names};
use crate::forge::{Forge, PullRequest};
use crate::gate::Verdict;
use crate::policy::Requirement;
use crate::promotion::{self, Change, Opened};
use crate::repo::{WorkingCopy, values_path};
use crate::values::{self, Release};

/// What a promotion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The environment runs this version and digest already (or a concurrent run landed it).
    Unchanged,
    /// Shown, nothing changed.
    DryRun,
    /// A pull request was opened; it waits for its approvals.
    #[serde(rename = "open")]
    Opened,
    /// Its pull request was open already (an earlier or a concurrent run).
    FoundOpen,
    /// Its pull request was opened (or found) and merged.
    Merged,
}

/// One promotion asked for, into an environment.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub kind: Kind,
    pub package: &'a str,
    pub version: &'a str,
    pub cell: &'a str,
}

/// Where a promotion starts: its environment and the values file there on the base.
#[derive(Debug, Clone)]
pub struct Target {
    pub kind: Kind,
    pub package: String,
    pub version: String,
    pub env: Environment,
    pub cell: String,
    /// The values file it writes.
    pub path: String,
    /// That file's text on the base, if there is one.
    pub current: Option<String>,
}

/// What a promotion's pull request says of the artifact besides its version and digest.
#[derive(Debug, Clone, Copy, Default)]
pub struct Notes<'a> {
    /// How it differs from the artifact it replaces (`None`: one of them is not at hand).
    pub diff: Option<&'a Diff>,
    /// What the environment's policy required and what of it was verified
    /// ([`crate::gate::promotion`]); the values file carries the requirement for the cluster.
    pub gate: Option<(&'a Requirement, &'a Verdict)>,
}

impl Target {
    /// Reads where `request` starts in `env`.
    pub fn read(
        wc: &WorkingCopy,
        env: &Environment,
        request: Request<'_>,
    ) -> Result<Target, GitOpsError> {
        let path = values_path(&env.name, request.cell, request.package);
        let current = wc.read(&wc.base, &path)?;
        Ok(Target {
            kind: request.kind,
            package: request.package.to_owned(),
            version: request.version.to_owned(),
            env: env.clone(),
            cell: request.cell.to_owned(),
            path,
            current,
        })
    }

    /// The version and digest the environment runs now.
    pub fn previous(&self) -> Option<(String, String)> {
        self.current.as_deref().and_then(values::read)
    }

    /// Whether the environment runs `release` already: then there is nothing to do.
    pub fn holds(&self, release: &Release) -> bool {
        self.previous()
            .is_some_and(|(version, digest)| version == release.version && digest == release.digest)
    }

    /// The change that puts `release` into the environment. A promotion names the
    /// environments before this one (`requires`) that do not run the version; a rollback
    /// returns to a version the environment ran, so it skips nothing.
    pub fn plan(
        self,
        wc: &WorkingCopy,
        environments: &Environments,
        release: Release,
        notes: Notes<'_>,
    ) -> Result<Plan, (Step, GitOpsError)> {
        let read = |err| (Step::Read, err);
        let mut skipped = Vec::new();
        if self.kind == Kind::Promotion {
            for predecessor in environments.predecessors(&self.env.name) {
                let path = values_path(&predecessor.name, &self.cell, &self.package);
                let there = wc
                    .read(&wc.base, &path)
                    .map_err(read)?
                    .as_deref()
                    .and_then(values::read);
                if there.is_none_or(|(version, digest)| !runs(&version, &digest, &release)) {
                    // Nearest first in the chain; furthest first in what is said.
                    skipped.insert(0, predecessor.name.clone());
                }
            }
        }
        let contents = match &self.current {
            Some(text) => values::update(text, &release),
            None => values::new_file(&release, &self.env.name, &self.cell),
        }
        .and_then(|text| match notes.gate {
            Some((requirement, _)) => values::set_verify(&text, requirement),
            None => Ok(text),
        })
        .map_err(|err| (Step::Values, err))?;
        let branch = BranchName::new(
            self.kind,
            &self.env.name,
            &self.cell,
            &self.package,
            &self.version,
        )
        .map_err(|err| (Step::Values, err))?;
        let title = format!(
            "{} {} {} to {} ({})",
            self.kind.verb(),
            self.package,
            self.version,
            self.env.name,
            self.cell
        );
        let body = body(&self, &release, &skipped, notes);
        let labels = vec![
            self.kind.label().to_owned(),
            format!("env:{}", self.env.name),
            format!("cell:{}", self.cell),
            format!("package:{}", self.package),
        ];
        Ok(Plan {
            previous: self.previous(),
            target: self,
            release,
            branch,
            contents,
            skipped,
            title,
            body,
            labels,
        })
    }
}

/// The pull request's body: a breaking change and who it breaks first, then old -> new version
/// and digest, the registry, what was verified against the policy, the contract diff, the environments skipped and the approvals the
/// environment needs.
fn body(target: &Target, release: &Release, skipped: &[String], notes: Notes<'_>) -> String {
    let previous = target.previous();
    let breaking = notes.diff.filter(|diff| diff.level() == Level::Breaking);
    let mut body = String::new();
    if let Some(diff) = breaking {
        body.push_str(&dk_contract::markdown(diff));
        body.push('\n');
    }
    body.push_str(&format!(
        "| | Version | Digest |\n|---|---|---|\n| from | {} | {} |\n| to | {} | {} |\n\nRegistry: {}\n",
        previous
            .as_ref()
            .map_or("(not deployed)", |(v, _)| v.as_str()),
        previous.as_ref().map_or("", |(_, d)| d.as_str()),
        release.version,
        release.digest,
        release.registry,
    ));
    if let Some((_, verdict)) = notes.gate {
        body.push('\n');
        body.push_str(&verdict.markdown());
    }
    match notes.diff {
        Some(_) if breaking.is_some() => {}
        Some(diff) => {
            body.push_str(&format!("\nChanges in the package ({}):\n\n", diff.level()));
            body.push_str(&dk_contract::markdown(diff));
        }
        None if previous.is_some() => body.push_str(
            "\nChanges in the package: not compared (an artifact is not in the local registry).\n",
        ),
        None => {}
    }
    if !skipped.is_empty() {
        body.push_str(&format!(
            "\n**{}**: {} not run {}.\n",
            skip_warning(skipped),
            if skipped.len() == 1 {
                "it does"
            } else {
                "they do"
            },
            release.version
        ));
    }
    let env = &target.env;
    body.push_str(&format!(
        "\n{} needs {} approval(s){}.\n",
        env.name,
        env.approvals,
        if env.auto_merge {
            " and merges automatically"
        } else {
            ""
        }
    ));
    body
}

/// "Skipping dev environment", "Skipping dev and int environments": the FAQ's words for the
/// environments a promotion skips.
pub fn skip_warning(skipped: &[String]) -> String {
    let names: Vec<&str> = skipped.iter().map(String::as_str).collect();
    let noun = if names.len() == 1 {
        "environment"
    } else {
        "environments"
    };
    format!("Skipping {} {noun}", join_names(&names))
}

/// One promotion's change, ready to become a pull request.
#[derive(Debug, Clone)]
pub struct Plan {
    pub target: Target,
    pub release: Release,
    /// The version and digest the environment ran before.
    pub previous: Option<(String, String)>,
    pub branch: BranchName,
    /// The values file after the change.
    pub contents: String,
    /// The environments before this one that do not run the version, furthest first.
    pub skipped: Vec<String>,
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
}

/// What carrying out a plan did, and its pull request once there is one.
#[derive(Debug, Clone)]
pub struct Done {
    pub outcome: Outcome,
    pub pull_request: Option<PullRequest>,
}

/// The step of [`Target::plan`] or [`Plan::carry_out`] that failed, for the frontend to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Reading the GitOps repository.
    Read,
    /// Writing the values file (or naming its branch).
    Values,
    /// Pushing the branch and opening the pull request.
    Open,
    /// Merging it.
    Merge,
}

impl Plan {
    /// The values file's change, as a unified diff.
    pub fn diff(&self) -> String {
        values::diff(
            &self.target.path,
            self.target.current.as_deref().unwrap_or_default(),
            &self.contents,
        )
    }

    /// The pull request's title and body.
    pub fn description(&self) -> String {
        format!("{}\n\n{}", self.title, self.body)
    }

    /// The open promotions this rollback supersedes: those of the same package, environment
    /// and cell to a version newer than the one it returns to, which would undo it when merged.
    /// A promotion supersedes nothing.
    pub fn supersedes(&self, open: &[PullRequest]) -> Vec<(PullRequest, BranchName)> {
        let rollback = &self.branch;
        if rollback.kind != Kind::Rollback {
            return Vec::new();
        }
        open.iter()
            .filter_map(|pr| Some((pr.clone(), BranchName::parse(&pr.branch).ok()?)))
            .filter(|(_, branch)| {
                branch.package == rollback.package
                    && branch.env == rollback.env
                    && branch.cell == rollback.cell
                    && newer(&branch.version, &rollback.version)
            })
            .collect()
    }

    /// Why [`Plan::supersedes`]'s pull requests are closed, said on each of them.
    pub fn closing_reason(&self) -> String {
        format!(
            "Superseded by the rollback of {} to {} in {} ({}).",
            self.target.package, self.target.version, self.target.env.name, self.target.cell
        )
    }

    /// Whether `pr` merges as soon as it is open: the environment auto-merges and the pull
    /// request has the approvals the environment requires.
    pub fn merges_at_once(&self, pr: &PullRequest) -> bool {
        self.target.env.auto_merge && pr.approvals.len() >= self.target.env.approvals as usize
    }

    /// Opens the pull request (or finds the one an earlier or a concurrent run opened), and
    /// merges it when the environment merges at once. A change that landed meanwhile is
    /// [`Outcome::Unchanged`].
    pub fn carry_out(
        &self,
        wc: &WorkingCopy,
        forge: &dyn Forge,
    ) -> Result<Done, (Step, GitOpsError)> {
        let branch = self.branch.to_string();
        let change = Change {
            branch: &branch,
            path: &self.target.path,
            contents: &self.contents,
            title: &self.title,
            body: &self.body,
            labels: &self.labels,
        };
        let (outcome, pr) =
            match promotion::open(wc, forge, &change).map_err(|e| (Step::Open, e))? {
                Opened::Found(pr) => (Outcome::FoundOpen, pr),
                Opened::Opened(pr) => (Outcome::Opened, pr),
                Opened::Landed => {
                    return Ok(Done {
                        outcome: Outcome::Unchanged,
                        pull_request: None,
                    });
                }
            };
        if !self.merges_at_once(&pr) {
            return Ok(Done {
                outcome,
                pull_request: Some(pr),
            });
        }
        promotion::merge(wc, forge, &pr, &format!("Merge {}", self.title), &change)
            .map_err(|e| (Step::Merge, e))?;
        Ok(Done {
            outcome: Outcome::Merged,
            pull_request: Some(pr),
        })
    }
}

/// Whether an environment whose values file holds `version` and `digest` runs `release`: the
/// same artifact, or the same version however it is spelled (`1.0.0` is `v1.0.0`).
fn runs(version: &str, digest: &str, release: &Release) -> bool {
    let bare = |v: &str| v.strip_prefix('v').unwrap_or(v).to_owned();
    (!digest.is_empty() && digest == release.digest) || bare(version) == bare(&release.version)
}

/// Whether version `a` is newer than `b` (semver, an optional leading `v`); a version that
/// does not parse is newer than nothing.
fn newer(a: &str, b: &str) -> bool {
    let parse = |v: &str| semver::Version::parse(v.strip_prefix('v').unwrap_or(v)).ok();
    matches!((parse(a), parse(b)), (Some(a), Some(b)) if a > b)
}

/// An open promotion before the approval gate: its pull request, its branch read back, and the
/// approvals its environment requires.
#[derive(Debug, Clone)]
pub struct Pending {
    pub pr: PullRequest,
    pub branch: BranchName,
    pub required: u32,
}

/// The approval gate's decision on a promotion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// It has the approvals its environment requires: it may merge.
    Passes,
    /// It has `approvals` of the `required`.
    Waits { approvals: usize, required: u32 },
}

impl Pending {
    /// `pr` as a promotion; `None` when its branch is not one dk names (not a promotion). An
    /// environment no longer configured is refused.
    pub fn of(
        pr: &PullRequest,
        environments: &Environments,
    ) -> Result<Option<Pending>, GitOpsError> {
        let Ok(branch) = BranchName::parse(&pr.branch) else {
            return Ok(None);
        };
        let required = environments.get(&branch.env)?.approvals;
        Ok(Some(Pending {
            pr: pr.clone(),
            branch,
            required,
        }))
    }

    /// Approvals are counted by the forge (on the git provider: SSH-signed commits whose keys
    /// are in the base branch's `.dk/allowed_signers`); the gate compares them with what the
    /// environment requires.
    pub fn gate(&self) -> Gate {
        if self.pr.approvals.len() >= self.required as usize {
            Gate::Passes
        } else {
            Gate::Waits {
                approvals: self.pr.approvals.len(),
                required: self.required,
            }
        }
    }
}

/// What a rollback returns to, chosen from its values file's history (newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackTo {
    /// Nothing was ever deployed there.
    NotDeployed,
    /// Only `current` ever ran there: there is nothing before it.
    NoPrevious { current: String },
    /// A version the environment ran, with the digest it ran.
    Ran { version: String, digest: String },
    /// The version asked for, which the environment never ran: its artifact gives the digest.
    NeverRan(String),
}

/// The version `wanted`, else the newest one before the current.
pub fn rollback_to(history: &[(String, String)], wanted: Option<&str>) -> RollbackTo {
    let Some((current, _)) = history.first() else {
        return RollbackTo::NotDeployed;
    };
    let ran = |(version, digest): &(String, String)| RollbackTo::Ran {
        version: version.clone(),
        digest: digest.clone(),
    };
    match wanted {
        Some(wanted) => history
            .iter()
            .find(|(version, _)| version == wanted)
            .map_or_else(|| RollbackTo::NeverRan(wanted.to_owned()), ran),
        None => history
            .iter()
            .find(|(version, _)| version != current)
            .map_or_else(
                || RollbackTo::NoPrevious {
                    current: current.clone(),
                },
                ran,
            ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environments::defaults as environments;
    use crate::forge::GitForge;
    use crate::repo;

    const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    /// A fresh GitOps repository (bare, as `dk gitops init` makes the default) and a working
    /// copy of it.
    fn repository() -> (tempfile::TempDir, WorkingCopy) {
        let dir = tempfile::tempdir().unwrap();
        let remote = dir.path().join("gitops");
        repo::init(&remote, "main", &["dev", "int", "prod"], "REPO", true).unwrap();
        let url = remote.display().to_string();
        let wc = WorkingCopy::open(&url, &dir.path().join("wc"), "main").unwrap();
        (dir, wc)
    }

    fn release(version: &str) -> Release {
        Release {
            package: "app".into(),
            namespace: "default".into(),
            version: version.into(),
            digest: DIGEST.into(),
            registry: "127.0.0.1:5000".into(),
            workload: None,
        }
    }

    fn plan(wc: &WorkingCopy, kind: Kind, version: &str, env: &str) -> Plan {
        let environments = environments();
        let request = Request {
            kind,
            package: "app",
            version,
            cell: "c0",
        };
        let target = Target::read(wc, environments.get(env).unwrap(), request).unwrap();
        target
            .plan(wc, &environments, release(version), Notes::default())
            .unwrap()
    }

    #[test]
    fn a_promotion_names_the_environments_it_skips_and_its_pull_request() {
        let (_dir, wc) = repository();
        let plan = plan(&wc, Kind::Promotion, "v1.0.0", "prod");
        assert_eq!(plan.skipped, ["dev", "int"]);
        assert_eq!(plan.branch.to_string(), "dk/promote/prod/c0/app/v1.0.0");
        assert_eq!(plan.target.path, "envs/prod/cells/c0/apps/app/values.yaml");
        assert_eq!(plan.title, "Promote app v1.0.0 to prod (c0)");
        assert_eq!(
            plan.labels,
            ["promotion", "env:prod", "cell:c0", "package:app"]
        );
        assert_eq!(
            plan.body,
            format!(
                "| | Version | Digest |\n|---|---|---|\n| from | (not deployed) |  |\n| to | v1.0.0 | {DIGEST} |\n\n\
                 Registry: 127.0.0.1:5000\n\n\
                 **Skipping dev and int environments**: they do not run v1.0.0.\n\n\
                 prod needs 2 approval(s).\n"
            )
        );
        assert_eq!(
            skip_warning(&plan.skipped),
            "Skipping dev and int environments"
        );
        assert!(
            plan.description()
                .starts_with("Promote app v1.0.0 to prod (c0)\n\n| |")
        );
        assert!(
            plan.diff().contains("+appVersion: v1.0.0"),
            "{}",
            plan.diff()
        );
        assert_eq!(
            values::read(&plan.contents),
            Some(("v1.0.0".into(), DIGEST.into()))
        );
    }

    #[test]
    fn one_skipped_environment_is_said_in_the_singular() {
        let (_dir, wc) = repository();
        let plan = plan(&wc, Kind::Promotion, "v1.0.0", "int");
        assert_eq!(skip_warning(&plan.skipped), "Skipping dev environment");
        assert!(
            plan.body
                .contains("**Skipping dev environment**: it does not run v1.0.0."),
            "{}",
            plan.body
        );
    }

    #[test]
    fn a_rollback_skips_nothing_and_says_so_in_its_title_and_labels() {
        let (_dir, wc) = repository();
        let plan = plan(&wc, Kind::Rollback, "v1.0.0", "prod");
        assert!(plan.skipped.is_empty());
        assert_eq!(plan.branch.to_string(), "dk/rollback/prod/c0/app/v1.0.0");
        assert_eq!(plan.title, "Roll back app v1.0.0 to prod (c0)");
        assert_eq!(plan.labels[0], "rollback");
        assert!(!plan.body.contains("Skipping"), "{}", plan.body);
    }

    #[test]
    fn a_rollback_supersedes_newer_promotions_of_its_package_env_and_cell() {
        let (_dir, wc) = repository();
        let open = |branch: &str| PullRequest {
            id: format!("#{}", branch.len()),
            branch: branch.to_owned(),
            title: String::new(),
            labels: Vec::new(),
            url: None,
            approvals: Vec::new(),
        };
        let prs = [
            open("dk/promote/prod/c0/app/v1.2.0"),
            open("dk/promote/prod/c0/app/v10.0.0"),
            open("dk/rollback/prod/c0/app/v1.1.0"),
            open("dk/promote/prod/c0/app/v1.0.0"),
            open("dk/promote/prod/c0/app/v0.9.0"),
            open("dk/promote/int/c0/app/v1.2.0"),
            open("dk/promote/prod/c1/app/v1.2.0"),
            open("dk/promote/prod/c0/other/v1.2.0"),
            open("feature/x"),
        ];
        let rollback = plan(&wc, Kind::Rollback, "v1.0.0", "prod");
        let superseded = rollback.supersedes(&prs);
        let closed: Vec<&str> = superseded
            .iter()
            .map(|(pr, _)| pr.branch.as_str())
            .collect();
        assert_eq!(
            closed,
            [
                "dk/promote/prod/c0/app/v1.2.0",
                "dk/promote/prod/c0/app/v10.0.0",
                "dk/rollback/prod/c0/app/v1.1.0"
            ]
        );
        assert_eq!(
            rollback.closing_reason(),
            "Superseded by the rollback of app to v1.0.0 in prod (c0)."
        );
        let promotion = plan(&wc, Kind::Promotion, "v1.0.0", "prod");
        assert!(promotion.supersedes(&prs).is_empty());
    }

    #[test]
    fn auto_merge_needs_the_environment_and_its_approvals() {
        let (_dir, wc) = repository();
        let pr = |approvals: &[&str]| PullRequest {
            id: "#1".into(),
            branch: "dk/promote/dev/c0/app/v1.0.0".into(),
            title: String::new(),
            labels: Vec::new(),
            url: None,
            approvals: approvals.iter().map(|a| (*a).to_owned()).collect(),
        };
        let dev = plan(&wc, Kind::Promotion, "v1.0.0", "dev");
        assert!(dev.merges_at_once(&pr(&[])));
        assert!(
            dev.body
                .ends_with("dev needs 0 approval(s) and merges automatically.\n")
        );
        let prod = plan(&wc, Kind::Promotion, "v1.0.0", "prod");
        assert!(!prod.merges_at_once(&pr(&["alice", "bob"])));
        let mut strict = plan(&wc, Kind::Promotion, "v1.0.0", "dev");
        strict.target.env.approvals = 1;
        assert!(!strict.merges_at_once(&pr(&[])));
        assert!(strict.merges_at_once(&pr(&["alice"])));
    }

    #[test]
    fn carrying_out_merges_dev_opens_int_and_finds_it_again() {
        let (_dir, wc) = repository();
        let environments = environments();
        let dev = plan(&wc, Kind::Promotion, "v1.0.0", "dev");
        let done = dev.carry_out(&wc, &GitForge).unwrap();
        assert_eq!(done.outcome, Outcome::Merged);
        let target = Target::read(
            &wc,
            environments.get("dev").unwrap(),
            Request {
                kind: Kind::Promotion,
                package: "app",
                version: "v1.0.0",
                cell: "c0",
            },
        )
        .unwrap();
        assert!(target.holds(&release("v1.0.0")));
        assert!(!target.holds(&release("v1.0.1")));

        // dev runs v1.0.0 now: int skips nothing, and waits for its approval. Spelled
        // without its `v`, the version is still the one dev runs (a user saw "Skipping dev").
        assert!(
            plan(&wc, Kind::Promotion, "1.0.0", "int")
                .skipped
                .is_empty()
        );
        let int = plan(&wc, Kind::Promotion, "v1.0.0", "int");
        assert!(int.skipped.is_empty());
        let done = int.carry_out(&wc, &GitForge).unwrap();
        assert_eq!(done.outcome, Outcome::Opened);
        let pr = done.pull_request.unwrap();
        assert_eq!(pr.branch, "dk/promote/int/c0/app/v1.0.0");
        let again = int.carry_out(&wc, &GitForge).unwrap();
        assert_eq!(again.outcome, Outcome::FoundOpen);

        let pending = Pending::of(&pr, &environments).unwrap().unwrap();
        assert_eq!(pending.branch, int.branch);
        assert_eq!(
            pending.gate(),
            Gate::Waits {
                approvals: 0,
                required: 1
            }
        );
    }

    #[test]
    fn the_gate_passes_with_the_approvals_required_and_ignores_foreign_branches() {
        let environments = environments();
        let pr = |branch: &str, approvals: &[&str]| PullRequest {
            id: "#3".into(),
            branch: branch.into(),
            title: String::new(),
            labels: Vec::new(),
            url: None,
            approvals: approvals.iter().map(|a| (*a).to_owned()).collect(),
        };
        let prod = "dk/promote/prod/c1/app/v2.0.0";
        let pending = Pending::of(&pr(prod, &["alice"]), &environments)
            .unwrap()
            .unwrap();
        assert_eq!(
            pending.gate(),
            Gate::Waits {
                approvals: 1,
                required: 2
            }
        );
        let pending = Pending::of(&pr(prod, &["alice", "bob"]), &environments)
            .unwrap()
            .unwrap();
        assert_eq!(pending.gate(), Gate::Passes);
        assert_eq!((pending.branch.cell.as_str(), pending.required), ("c1", 2));
        assert!(
            Pending::of(&pr("feature/x", &[]), &environments)
                .unwrap()
                .is_none()
        );
        assert!(Pending::of(&pr("dk/promote/qa/c0/app/v1.0.0", &[]), &environments).is_err());
    }

    #[test]
    fn a_rollback_returns_to_the_version_before_or_the_one_asked_for() {
        let history: Vec<(String, String)> = [("v3.0.0", "c"), ("v2.0.0", "b"), ("v1.0.0", "a")]
            .iter()
            .map(|(v, d)| ((*v).to_owned(), (*d).to_owned()))
            .collect();
        let ran = |version: &str, digest: &str| RollbackTo::Ran {
            version: version.into(),
            digest: digest.into(),
        };
        assert_eq!(rollback_to(&history, None), ran("v2.0.0", "b"));
        assert_eq!(rollback_to(&history, Some("v1.0.0")), ran("v1.0.0", "a"));
        assert_eq!(
            rollback_to(&history, Some("v0.9.0")),
            RollbackTo::NeverRan("v0.9.0".into())
        );
        assert_eq!(
            rollback_to(&history[..1], None),
            RollbackTo::NoPrevious {
                current: "v3.0.0".into()
            }
        );
        assert_eq!(rollback_to(&[], Some("v1.0.0")), RollbackTo::NotDeployed);
    }

    #[test]
    fn outcomes_keep_their_report_names() {
        let names: Vec<String> = [
            Outcome::Unchanged,
            Outcome::DryRun,
            Outcome::Opened,
            Outcome::FoundOpen,
            Outcome::Merged,
        ]
        .iter()
        .map(|o| serde_json::to_string(o).unwrap())
        .collect();
        assert_eq!(
            names,
            [
                r#""unchanged""#,
                r#""dry-run""#,
                r#""open""#,
                r#""found-open""#,
                r#""merged""#
            ]
        );
        assert_eq!(
            serde_json::to_string(&Kind::Rollback).unwrap(),
            r#""rollback""#
        );
    }
}
