//! The promotion gate's [`Verifier`]: dk-trust's verification of an artifact's signature and
//! provenance (`.sig` and `.att` beside it, in the local registry or the artifact's registry),
//! for dk-gitops's gate to weigh against the environment's policy.

use dk_gitops::GitOpsError;
use dk_gitops::gate::{Evidence, Provenance, Subject, Verdict, Verifier};
use dk_gitops::policy::PublicKey;
use dk_package::reference::{RemoteRef, split_registry};
use dk_trust::{Attachments, TrustError};

use crate::commands::{layout, registry_for, runtime};
use crate::context::Context;
use crate::error::CliError;

/// Verifies with dk-trust where the promotion pins the artifact: the local registry for
/// `registry: local`, else the registry the cluster pulls from.
pub struct SignatureVerifier<'a> {
    ctx: &'a Context,
}

impl<'a> SignatureVerifier<'a> {
    pub fn new(ctx: &'a Context) -> SignatureVerifier<'a> {
        SignatureVerifier { ctx }
    }

    fn attachments(&self, subject: &Subject) -> Result<Attachments, String> {
        let layout = layout(self.ctx).map_err(said)?;
        if subject.is_local() {
            let name = format!("{}/{}", subject.namespace, subject.package);
            return Attachments::from_layout(&layout, &name, &subject.digest)
                .map_err(|err| err.to_string());
        }
        let (host, prefix) = split_registry(&subject.registry);
        let repository = [
            prefix.as_deref(),
            Some(&subject.namespace),
            Some(&subject.package),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("/");
        let target = RemoteRef {
            registry: host.clone(),
            repository,
            tag: None,
            digest: Some(subject.digest.clone()),
        };
        let client = registry_for(self.ctx, &host, false).map_err(said)?;
        runtime()
            .map_err(said)?
            .block_on(Attachments::from_registry(
                &client,
                &target,
                &subject.digest,
                &layout,
            ))
            .map_err(|err| match err {
                err if err.is_external() => format!("{}: {err}", subject.reference()),
                err => err.to_string(),
            })
    }
}

/// What a CLI error says, with its causes: the gate's verifier reports through dk-gitops.
fn said(err: CliError) -> String {
    std::iter::once(err.message)
        .chain(err.causes)
        .collect::<Vec<_>>()
        .join(": ")
}

impl Verifier for SignatureVerifier<'_> {
    fn verify(&self, subject: &Subject, keys: &[PublicKey]) -> Result<Evidence, GitOpsError> {
        let attachments = self.attachments(subject).map_err(|message| {
            GitOpsError::Registry(format!("cannot read what signs {message}"))
        })?;
        let keys: Vec<dk_trust::PublicKey> = keys.iter().map(|key| key.key.clone()).collect();
        // The builder is the gate's to compare (dk-gitops), so none is required here.
        match dk_trust::verify(&subject.digest, &attachments, &keys, None) {
            Ok(report) => Ok(Evidence {
                signed_by: report.signature_keys,
                provenance: report.builder.map(|builder| Provenance {
                    builder,
                    signed_by: report.provenance_keys.first().cloned().unwrap_or_default(),
                }),
                refused: Vec::new(),
            }),
            Err(TrustError::Refused(problems)) => Ok(Evidence {
                refused: problems,
                ..Evidence::default()
            }),
            // A malformed envelope or statement is the artifact's problem: refused, said why.
            Err(err) => Ok(Evidence {
                refused: vec![err.to_string()],
                ..Evidence::default()
            }),
        }
    }
}

/// Refuses (exit 1) an artifact the environment's policy does not let through, naming what is
/// missing.
pub fn refuse_unverified(verdict: &Verdict, reference: &str) -> Result<(), CliError> {
    if verdict.passes() {
        return Ok(());
    }
    let missing: Vec<String> = verdict.missing.iter().map(ToString::to_string).collect();
    Err(CliError::failure(format!(
        "{reference} does not pass {}'s policy (policy.yaml on the GitOps repository's base branch): {}",
        verdict.env,
        missing.join("; ")
    ))
    .hint(format!(
        "sign it with a key the policy names (dk sign REF --key KEY; dk build writes its provenance), or change policy.yaml for {} in a reviewed change",
        verdict.env
    )))
}
