//! The promotion gate's [`Verifier`]: dk's signatures and provenance of an artifact, for
//! dk-gitops's gate to weigh against the environment's policy.

use dk_gitops::GitOpsError;
use dk_gitops::gate::{Evidence, Subject, Verdict, Verifier};
use dk_gitops::policy::PublicKey;

use crate::context::Context;
use crate::error::CliError;

/// Verifies with dk's signing library, in the local registry (`registry: local`) or the
/// artifact's registry.
pub struct SignatureVerifier<'a> {
    #[allow(dead_code)]
    ctx: &'a Context,
}

impl<'a> SignatureVerifier<'a> {
    pub fn new(ctx: &'a Context) -> SignatureVerifier<'a> {
        SignatureVerifier { ctx }
    }
}

impl Verifier for SignatureVerifier<'_> {
    fn verify(&self, subject: &Subject, _keys: &[PublicKey]) -> Result<Evidence, GitOpsError> {
        // Fails closed until dk verify's library is wired in: a gated environment refuses.
        Err(GitOpsError::Invalid(format!(
            "this dk cannot verify signatures yet, so {} cannot pass a policy that requires them",
            subject.reference()
        )))
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
        "sign it with a key the policy names (dk sign REF --key KEY), with provenance from its builder (dk build), or change policy.yaml for {} in a reviewed change",
        verdict.env
    )))
}
