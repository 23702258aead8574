//! The promotion gate: the promoted digest against what the target environment's policy
//! ([`crate::policy`]) requires. Checking signatures is not this crate's: a [`Verifier`] (the
//! frontend's, over dk's signature format) says which keys signed the digest and what the
//! signed provenance names; the gate decides whether that is enough and what is missing.

use serde::Serialize;

use crate::GitOpsError;
use crate::branch::BranchName;
use crate::environments::Environments;
use crate::policy::{self, POLICY, PublicKey, Requirement};
use crate::repo::{WorkingCopy, values_path};
use crate::values;

/// The artifact a promotion pins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The registry the cluster pulls from; `local` ([`crate::source::LOCAL`]) when the
    /// artifact is only in the local registry of the machine that promotes it.
    pub registry: String,
    pub namespace: String,
    pub package: String,
    pub digest: String,
}

impl Subject {
    /// `<registry>/<namespace>/<package>@<digest>`, what the chart's init container pulls
    /// (`<namespace>/<package>@<digest>` in the local registry).
    pub fn reference(&self) -> String {
        let local = format!("{}/{}@{}", self.namespace, self.package, self.digest);
        match self.is_local() {
            true => local,
            false => format!("{}/{local}", self.registry),
        }
    }

    /// Whether the artifact is only in the local registry.
    pub fn is_local(&self) -> bool {
        self.registry == crate::source::LOCAL
    }
}

/// What a [`Verifier`] found for a digest, checked against the keys it was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evidence {
    /// Ids of the keys ([`PublicKey::id`]) whose signature over the digest verified.
    pub signed_by: Vec<String>,
    /// The provenance attestation whose subject is the digest and whose signature verified
    /// with one of the keys; `None` when there is none.
    pub provenance: Option<Provenance>,
    /// What the verifier refused, in its words (no signature, signed by none of the keys,
    /// another artifact's statement…); empty when it verified.
    pub refused: Vec<String>,
}

/// A verified provenance statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// `runDetails.builder.id`.
    pub builder: String,
    /// The id of the key its envelope was signed with.
    pub signed_by: String,
}

/// Verifies dk signatures and provenance of an artifact: implemented by the frontend with
/// dk's signing library.
pub trait Verifier {
    /// What verifies for `subject` with `keys`. A signature or attestation that does not
    /// verify is [`Evidence::refused`], not an error; an error is a registry or layout that
    /// could not be read.
    fn verify(&self, subject: &Subject, keys: &[PublicKey]) -> Result<Evidence, GitOpsError>;
}

/// What the policy required that the artifact does not have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", tag = "missing")]
pub enum Missing {
    /// The verifier refused the artifact's signature or provenance: each reason.
    Refused { problems: Vec<String> },
    /// No signature by any of the required keys.
    Signature { keys: Vec<String> },
    /// No signed provenance at all.
    Provenance { builder: String },
    /// Signed provenance from another builder.
    Builder { required: String, found: String },
    /// The promotion's branch changes the policy (or a key file it names): a policy is
    /// changed by a pull request of its own.
    PolicyEdited { files: Vec<String> },
    /// The branch's values file does not carry the keys and builder the policy requires, so
    /// the cluster would verify against something else.
    ClusterKeys { path: String },
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Missing::Refused { problems } => write!(f, "{}", problems.join("; ")),
            Missing::Signature { keys } => {
                write!(f, "no signature by a required key ({})", keys.join(", "))
            }
            Missing::Provenance { builder } => {
                write!(f, "no signed provenance (required builder: {builder})")
            }
            Missing::Builder { required, found } => {
                write!(f, "provenance from builder {found}, not {required}")
            }
            Missing::PolicyEdited { files } => write!(
                f,
                "the promotion's branch changes {}: change the policy in a pull request of its own",
                files.join(", ")
            ),
            Missing::ClusterKeys { path } => write!(
                f,
                "{path} does not carry the keys policy.yaml requires (its verify section): promote again"
            ),
        }
    }
}

/// The gate's decision for one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub env: String,
    pub digest: String,
    /// The policy required something (else everything passes, unverified).
    pub required: bool,
    /// The required keys whose signature verified.
    pub keys: Vec<String>,
    /// The builder of the verified provenance, when the policy requires one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub builder: Option<String>,
    pub missing: Vec<Missing>,
}

impl Verdict {
    pub fn passes(&self) -> bool {
        self.missing.is_empty()
    }

    /// What verified, in a line (`signed by ID, provenance from BUILDER`); `None` when the
    /// policy required nothing or something is missing.
    pub fn summary(&self) -> Option<String> {
        if !self.required || !self.passes() {
            return None;
        }
        let mut text = format!("signed by {}", self.keys.join(", "));
        if let Some(builder) = &self.builder {
            text.push_str(&format!(", provenance from {builder}"));
        }
        Some(text)
    }

    /// What the pull request says was verified, in markdown.
    pub fn markdown(&self) -> String {
        if !self.required {
            return format!(
                "Verified: nothing ({} requires no signature in policy.yaml).\n",
                self.env
            );
        }
        let mut text = format!(
            "Verified against policy.yaml for {}: digest `{}`",
            self.env, self.digest
        );
        if !self.keys.is_empty() {
            text.push_str(&format!(", signed by {}", code_list(&self.keys)));
        }
        if let Some(builder) = &self.builder {
            text.push_str(&format!(", provenance from builder `{builder}`"));
        }
        text.push_str(".\n");
        for missing in &self.missing {
            text.push_str(&format!("- **missing**: {missing}\n"));
        }
        text
    }
}

fn code_list(items: &[String]) -> String {
    items
        .iter()
        .map(|item| format!("`{item}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks `subject` against what `env` requires; the verifier is asked only when something is.
pub fn check(
    env: &str,
    requirement: &Requirement,
    subject: &Subject,
    verifier: &dyn Verifier,
) -> Result<Verdict, GitOpsError> {
    let mut verdict = Verdict {
        env: env.to_owned(),
        digest: subject.digest.clone(),
        required: !requirement.is_empty(),
        keys: Vec::new(),
        builder: None,
        missing: Vec::new(),
    };
    if requirement.is_empty() {
        return Ok(verdict);
    }
    let evidence = verifier.verify(subject, &requirement.keys)?;
    if !evidence.refused.is_empty() {
        verdict.missing.push(Missing::Refused {
            problems: evidence.refused,
        });
        return Ok(verdict);
    }
    let required = |id: &String| requirement.keys.iter().any(|key| &key.id == id);
    verdict.keys = evidence
        .signed_by
        .iter()
        .filter(|id| required(id))
        .cloned()
        .collect();
    if verdict.keys.is_empty() {
        verdict.missing.push(Missing::Signature {
            keys: requirement.keys.iter().map(|key| key.id.clone()).collect(),
        });
    }
    if let Some(wanted) = &requirement.builder {
        match evidence
            .provenance
            .filter(|provenance| required(&provenance.signed_by))
        {
            None => verdict.missing.push(Missing::Provenance {
                builder: wanted.clone(),
            }),
            Some(provenance) if &provenance.builder != wanted => {
                verdict.missing.push(Missing::Builder {
                    required: wanted.clone(),
                    found: provenance.builder,
                })
            }
            Some(provenance) => verdict.builder = Some(provenance.builder),
        }
    }
    Ok(verdict)
}

/// The gate of a promotion about to be opened: `subject` against the policy for `env` on the
/// base branch. Returns what the environment requires (its values file carries it for the
/// cluster) and the verdict.
pub fn promotion(
    wc: &WorkingCopy,
    environments: &Environments,
    env: &str,
    subject: &Subject,
    verifier: &dyn Verifier,
) -> Result<(Requirement, Verdict), GitOpsError> {
    let requirement = policy::from_base(wc, environments)?.requirement(env);
    let verdict = check(env, &requirement, subject, verifier)?;
    Ok((requirement, verdict))
}

/// The gate of an open promotion (`dk promote check`, `dk promote merge`): the digest its
/// branch's values file pins, against the policy for its environment on the base branch. The
/// branch itself must not change the policy or its key files, and its values file must carry
/// what the policy requires for the cluster to verify.
pub fn open_promotion(
    wc: &WorkingCopy,
    environments: &Environments,
    branch: &BranchName,
    verifier: &dyn Verifier,
) -> Result<Verdict, GitOpsError> {
    let name = branch.to_string();
    let policy = policy::from_base(wc, environments)?;
    let requirement = policy.requirement(&branch.env);
    let path = values_path(&branch.env, &branch.cell, &branch.package);
    let text = wc.read(&name, &path)?.ok_or_else(|| {
        GitOpsError::Invalid(format!(
            "{name} has no {path}: it is not a promotion dk opened"
        ))
    })?;
    let field = |key: &str| values::field(&text, key).unwrap_or_default();
    let subject = Subject {
        registry: field("registry"),
        namespace: field("namespace"),
        package: branch.package.clone(),
        digest: field("digest"),
    };
    let mut verdict = check(&branch.env, &requirement, &subject, verifier)?;
    let guarded: Vec<String> = std::iter::once(POLICY.to_owned())
        .chain(policy.files())
        .collect();
    let edited: Vec<String> = wc
        .changed(&name)?
        .into_iter()
        .filter(|file| guarded.contains(file))
        .collect();
    if !edited.is_empty() {
        verdict
            .missing
            .push(Missing::PolicyEdited { files: edited });
    }
    if !values::verifies(&text, &requirement) {
        verdict.missing.push(Missing::ClusterKeys { path });
    }
    Ok(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> PublicKey {
        policy::tests::key(id)
    }

    /// A verifier that finds what it is told to, and records that it was asked.
    struct Found(Evidence, std::cell::Cell<bool>);

    impl Verifier for Found {
        fn verify(&self, _: &Subject, _: &[PublicKey]) -> Result<Evidence, GitOpsError> {
            self.1.set(true);
            Ok(self.0.clone())
        }
    }

    fn found(signed_by: &[&str], provenance: Option<(&str, &str)>) -> Found {
        Found(
            Evidence {
                signed_by: signed_by.iter().map(|s| (*s).to_owned()).collect(),
                provenance: provenance.map(|(builder, signed_by)| Provenance {
                    builder: builder.into(),
                    signed_by: signed_by.into(),
                }),
                refused: Vec::new(),
            },
            std::cell::Cell::new(false),
        )
    }

    fn refused(problems: &[&str]) -> Found {
        let verifier = found(&[], None);
        Found(
            Evidence {
                refused: problems.iter().map(|p| (*p).to_owned()).collect(),
                ..verifier.0
            },
            verifier.1,
        )
    }

    fn subject() -> Subject {
        Subject {
            registry: "r.example".into(),
            namespace: "default".into(),
            package: "app".into(),
            digest: "sha256:aa".into(),
        }
    }

    fn requirement(keys: &[&str], builder: Option<&str>) -> Requirement {
        Requirement {
            keys: keys.iter().map(|id| key(id)).collect(),
            builder: builder.map(str::to_owned),
        }
    }

    fn verdict(requirement: &Requirement, verifier: &Found) -> Verdict {
        check("prod", requirement, &subject(), verifier).unwrap()
    }

    #[test]
    fn no_policy_passes_without_asking() {
        let verifier = found(&[], None);
        let verdict = verdict(&Requirement::default(), &verifier);
        assert!(verdict.passes() && !verdict.required);
        assert!(!verifier.1.get(), "verified although nothing is required");
        assert_eq!(
            verdict.markdown(),
            "Verified: nothing (prod requires no signature in policy.yaml).\n"
        );
    }

    #[test]
    fn the_gate_matrix() {
        let signed = requirement(&["K1", "K2"], None);
        let built = requirement(&["K1"], Some("ci"));
        let sig = |keys: &[&str]| Missing::Signature {
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
        };
        for (name, requirement, verifier, missing) in [
            (
                "signed by one of two keys",
                &signed,
                found(&["K2"], None),
                vec![],
            ),
            (
                "refused by the verifier",
                &signed,
                refused(&["no signature (sha256-….sig)"]),
                vec![Missing::Refused {
                    problems: vec!["no signature (sha256-….sig)".into()],
                }],
            ),
            (
                "unsigned",
                &signed,
                found(&[], None),
                vec![sig(&["K1", "K2"])],
            ),
            (
                "signed by another key only",
                &signed,
                found(&["K9"], None),
                vec![sig(&["K1", "K2"])],
            ),
            (
                "builder matches",
                &built,
                found(&["K1"], Some(("ci", "K1"))),
                vec![],
            ),
            (
                "builder mismatch",
                &built,
                found(&["K1"], Some(("laptop", "K1"))),
                vec![Missing::Builder {
                    required: "ci".into(),
                    found: "laptop".into(),
                }],
            ),
            (
                "no provenance",
                &built,
                found(&["K1"], None),
                vec![Missing::Provenance {
                    builder: "ci".into(),
                }],
            ),
            (
                "provenance signed by a key the policy does not name",
                &built,
                found(&["K1"], Some(("ci", "K9"))),
                vec![Missing::Provenance {
                    builder: "ci".into(),
                }],
            ),
            (
                "nothing at all",
                &built,
                found(&[], None),
                vec![
                    sig(&["K1"]),
                    Missing::Provenance {
                        builder: "ci".into(),
                    },
                ],
            ),
        ] {
            let verdict = verdict(requirement, &verifier);
            assert_eq!(verdict.missing, missing, "{name}");
            assert_eq!(verdict.passes(), missing.is_empty(), "{name}");
            assert!(verifier.1.get(), "{name}: not verified");
        }
    }

    #[test]
    fn the_pull_request_says_what_was_verified_and_what_is_missing() {
        let verdict = verdict(
            &requirement(&["K1"], Some("ci")),
            &found(&["K1"], Some(("ci", "K1"))),
        );
        assert_eq!(
            verdict.markdown(),
            "Verified against policy.yaml for prod: digest `sha256:aa`, signed by `K1`, provenance from builder `ci`.\n"
        );
        assert_eq!(
            verdict.summary().as_deref(),
            Some("signed by K1, provenance from ci")
        );
        let verdict = verdict_missing();
        assert!(
            verdict
                .markdown()
                .contains("- **missing**: no signature by a required key (K1)\n"),
            "{}",
            verdict.markdown()
        );
        assert_eq!(
            verdict.missing[1].to_string(),
            "no signed provenance (required builder: ci)"
        );
    }

    fn verdict_missing() -> Verdict {
        verdict(&requirement(&["K1"], Some("ci")), &found(&[], None))
    }

    fn commit(git: &crate::git::Git, message: &str) {
        let author = ["-c", "user.name=t", "-c", "user.email=t@t"];
        git.run(&[&author[..], &["commit", "-q", "-m", message]].concat())
            .unwrap();
    }

    /// A GitOps repository whose base requires a signature by `keys/release.pub` in prod, a
    /// working copy of it, and the key's id.
    fn gated_repository() -> (tempfile::TempDir, WorkingCopy, String) {
        use crate::git::Git;
        let dir = tempfile::tempdir().unwrap();
        let remote = dir.path().join("gitops");
        crate::repo::init(&remote, "main", &["dev", "int", "prod"], "REPO", true).unwrap();
        let seed = dir.path().join("seed");
        Git::new(dir.path())
            .run(&[
                "clone",
                "-q",
                remote.to_str().unwrap(),
                seed.to_str().unwrap(),
            ])
            .unwrap();
        std::fs::create_dir_all(seed.join("keys")).unwrap();
        std::fs::write(seed.join("keys/release.pub"), policy::tests::KEY).unwrap();
        std::fs::write(
            seed.join(POLICY),
            "environments:\n  prod:\n    requireSignature: [keys/release.pub]\n",
        )
        .unwrap();
        let git = Git::new(&seed);
        git.run(&["add", "-A"]).unwrap();
        commit(&git, "policy");
        git.run(&["push", "-q", "origin", "main"]).unwrap();
        let wc =
            WorkingCopy::open(remote.to_str().unwrap(), &dir.path().join("wc"), "main").unwrap();
        let policy = policy::from_base(&wc, &crate::environments::defaults()).unwrap();
        let id = policy.requirement("prod").keys[0].id.clone();
        (dir, wc, id)
    }

    /// A promotion's branch that pins `sha256:aa` in prod, with `extra` files changed beside
    /// its values file (written with the policy's verify section when `verify`).
    fn branch_with(wc: &WorkingCopy, verify: bool, extra: &[(&str, &str)]) -> BranchName {
        let branch = BranchName::parse("dk/promote/prod/c0/app/v1.0.0").unwrap();
        let path = values_path("prod", "c0", "app");
        let mut text = "package: app\nnamespace: default\nappVersion: v1.0.0\ndigest: sha256:aa\nregistry: r.example\n".to_owned();
        if verify {
            let requirement = policy::from_base(wc, &crate::environments::defaults())
                .unwrap()
                .requirement("prod");
            text = values::set_verify(&text, &requirement).unwrap();
        }
        wc.push_change(&branch.to_string(), &path, &text, "promote")
            .unwrap();
        if !extra.is_empty() {
            for (file, contents) in extra {
                std::fs::write(wc.dir().join(file), contents).unwrap();
                wc.git.run(&["add", file]).unwrap();
            }
            commit(&wc.git, "weaken");
            wc.git
                .run(&[
                    "push",
                    "-q",
                    "-f",
                    "origin",
                    &format!("HEAD:refs/heads/{branch}"),
                ])
                .unwrap();
            wc.fetch().unwrap();
        }
        branch
    }

    #[test]
    fn an_open_promotion_is_checked_against_the_base_policy_with_its_pinned_digest() {
        let (_dir, wc, id) = gated_repository();
        let environments = crate::environments::defaults();
        let branch = branch_with(&wc, true, &[]);
        let unsigned = open_promotion(&wc, &environments, &branch, &found(&[], None)).unwrap();
        assert_eq!(
            unsigned.missing,
            [Missing::Signature {
                keys: vec![id.clone()]
            }]
        );
        assert_eq!(unsigned.digest, "sha256:aa");
        let signed = open_promotion(&wc, &environments, &branch, &found(&[&id], None)).unwrap();
        assert!(signed.passes(), "{signed:?}");
        assert_eq!(signed.keys, std::slice::from_ref(&id));
        // Values without the policy's keys would have the cluster verify nothing.
        let bare = branch_with(&wc, false, &[]);
        let verdict = open_promotion(&wc, &environments, &bare, &found(&[&id], None)).unwrap();
        assert!(
            matches!(&verdict.missing[..], [Missing::ClusterKeys { .. }]),
            "{verdict:?}"
        );
    }

    #[test]
    fn a_branch_that_edits_the_policy_does_not_weaken_the_gate() {
        let (_dir, wc, id) = gated_repository();
        let environments = crate::environments::defaults();
        let other = policy::tests::KEY.replace("Gb9E", "Hb9E");
        let signed_by_other = policy::parse(
            &format!("environments:\n  prod:\n    requireSignature: [{other:?}]\n"),
            &environments,
            |_| Ok(None),
        )
        .unwrap()
        .requirement("prod")
        .keys[0]
            .id
            .clone();
        for (edit, file, contents) in [
            ("the policy emptied", POLICY, "environments: {}\n"),
            ("the key replaced", "keys/release.pub", other.as_str()),
        ] {
            let branch = branch_with(&wc, true, &[(file, contents)]);
            // Signed by the promoter's own key, which the edited branch would accept.
            let verdict = open_promotion(
                &wc,
                &environments,
                &branch,
                &found(&[&signed_by_other], None),
            )
            .unwrap();
            assert_eq!(
                verdict.missing,
                [
                    Missing::Signature {
                        keys: vec![id.clone()]
                    },
                    Missing::PolicyEdited {
                        files: vec![file.to_owned()]
                    }
                ],
                "{edit}"
            );
            // The base's policy is what a new promotion meets too.
            let subject = Subject {
                registry: "r.example".into(),
                namespace: "default".into(),
                package: "app".into(),
                digest: "sha256:aa".into(),
            };
            let (requirement, verdict) =
                promotion(&wc, &environments, "prod", &subject, &found(&[], None)).unwrap();
            assert_eq!(requirement.keys[0].id, id, "{edit}");
            assert!(!verdict.passes(), "{edit}");
        }
    }
}
