//! `dk key generate`, `dk sign`, `dk verify`: signed provenance of packages (dk-trust), stored
//! beside the artifact under the OCI referrers tag schema.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde::Serialize;

use dk_config::env::DK_KEY_PASSWORD;
use dk_package::layout::Layout;
use dk_package::reference::ArtifactRef;
use dk_trust::keys::{self, Algorithm, PrivateKey, PublicKey};
use dk_trust::{Attachments, Signed, TrustError, VerificationReport};

use super::{layout, package_error, registry_for, runtime, trust_error};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::output::{Render, Ui};

/// Signing keys for `dk sign` and `dk verify`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    Generate(KeyGenerateArgs),
}

/// Create a key pair: NAME.key (PKCS#8 PEM, mode 0600) and NAME.pub (SPKI PEM)
#[derive(Debug, Args)]
#[command(after_help = "\
The private key is encrypted (PKCS#8 PBES2: scrypt, AES-256-CBC) when DK_KEY_PASSWORD is set;
keep it out of git. Neither file is ever overwritten: an existing NAME.key or NAME.pub is
refused (exit 1). Hand NAME.pub to whoever verifies. The key id dk prints and writes into each
signature is the SHA-256 of the public key's DER.

Examples:
  dk key generate release
  DK_KEY_PASSWORD=... dk key generate ci/release --algorithm ed25519
  dk key generate release -o json")]
pub struct KeyGenerateArgs {
    /// The key pair's path without extension: NAME.key and NAME.pub are written
    pub name: PathBuf,
    /// ecdsa-p256 (ECDSA P-256 with SHA-256) or ed25519
    #[arg(long, value_name = "ALGORITHM", default_value = "ecdsa-p256", value_parser = clap::builder::PossibleValuesParser::new(Algorithm::NAMES))]
    pub algorithm: String,
}

/// Sign a built artifact and its provenance with a private key (DSSE envelopes)
#[derive(Debug, Args)]
#[command(after_help = "\
Signs two in-toto statements as DSSE envelopes (payloadType application/vnd.in-toto+json): one
naming the artifact's manifest digest, stored in the local registry as sha256-<hex>.sig beside
the artifact, and the SLSA v1 provenance `dk build` recorded, sha256-<hex>.att. Signing again
with another key adds its signature; with the same key, replaces it. `dk publish` pushes both.
An encrypted key is opened with DK_KEY_PASSWORD (a wrong one: exit 2). The key file must be a
regular file (not a link) readable by its owner only (chmod 600).

Examples:
  dk sign default/demo:v1.0.0 --key release.key
  DK_KEY_PASSWORD=... dk sign demo:v2.0.0 --key ci/release.key -o json")]
pub struct SignArgs {
    /// The artifact in the local registry (namespace/name:tag; name:tag means namespace default)
    pub reference: String,
    /// The private key (NAME.key of `dk key generate`, or any PKCS#8 P-256/Ed25519 PEM)
    #[arg(long, value_name = "KEY")]
    pub key: PathBuf,
}

/// Verify an artifact's signature and provenance against trusted public keys
#[derive(Debug, Args)]
#[command(after_help = "\
Checks, for the artifact's manifest digest: its signature (sha256-<hex>.sig) and its provenance
(sha256-<hex>.att) are DSSE envelopes signed by one of the given keys, each an in-toto Statement
v1 whose subject is this digest, the provenance's predicate SLSA provenance v1 built by dk, and
its builder id the one --builder requires. Every problem is listed; exit 1 when one is found,
3 when the registry cannot be reached. REF is local (namespace/name:tag) or a registry
reference (host[:port]/path:tag or @sha256:...), whose .sig and .att are read from the same
repository.

Examples:
  dk verify default/demo:v1.0.0 --key release.pub
  dk verify ghcr.io/my-org/default/demo:v2.0.0 --key release.pub --key old.pub --builder https://ci.example/dk
  dk verify demo:v2.0.0 --key release.pub -o json")]
pub struct VerifyArgs {
    /// The artifact (local namespace/name:tag or registry reference)
    pub reference: String,
    /// A trusted public key (SPKI PEM); repeat for several, any one signing suffices
    #[arg(long = "key", value_name = "PUB", required = true)]
    pub keys: Vec<PathBuf>,
    /// The builder id the provenance must name (runDetails.builder.id)
    #[arg(long, value_name = "ID")]
    pub builder: Option<String>,
    /// Use HTTP, not HTTPS (loopback registries always do)
    #[arg(long)]
    pub plain_http: bool,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KeyReport {
    private_key: String,
    public_key: String,
    algorithm: Algorithm,
    key_id: String,
    encrypted: bool,
}

impl Render for KeyReport {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let encrypted = if self.encrypted {
            "encrypted with DK_KEY_PASSWORD"
        } else {
            "not encrypted: keep it private"
        };
        writeln!(
            out,
            "{} Wrote {} ({}; {encrypted}) and {}",
            ui.out_styles().success("✓"),
            self.private_key,
            self.algorithm.name(),
            self.public_key
        )?;
        writeln!(out, "  Key id: {}", self.key_id)
    }
}

pub fn run_key(command: KeyCommand, ctx: &Context) -> Result<ExitStatus, CliError> {
    let KeyCommand::Generate(args) = command;
    let algorithm = Algorithm::parse(&args.algorithm).expect("clap checked the algorithm");
    let password = password(ctx);
    let (pem, public) = keys::generate(algorithm, password)
        .map_err(|err| trust_error("cannot generate a key", err))?;
    let (private_key, public_key) = keys::write_key_pair(&args.name, &pem, &public)
        .map_err(|err| trust_error("cannot write the key pair", err))?;
    ctx.ui.emit_message(&KeyReport {
        private_key: private_key.display().to_string(),
        public_key: public_key.display().to_string(),
        algorithm,
        key_id: public.key_id(),
        encrypted: password.is_some(),
    })
}

fn password(ctx: &Context) -> Option<&str> {
    ctx.env.get(DK_KEY_PASSWORD).filter(|p| !p.is_empty())
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignReport {
    reference: String,
    #[serde(flatten)]
    signed: Signed,
}

impl Render for SignReport {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "{} Signed {} and its provenance ({} key {})",
            ui.out_styles().success("✓"),
            self.reference,
            self.signed.algorithm.name(),
            self.signed.key_id
        )?;
        writeln!(out, "  Digest: {}", self.signed.subject)
    }
}

/// A local reference's repository name and descriptor.
fn local_artifact(
    layout: &Layout,
    text: &str,
) -> Result<(String, String, dk_package::layout::Descriptor), CliError> {
    let reference = ArtifactRef::parse(text).map_err(|err| CliError::usage(err.to_string()))?;
    let ArtifactRef::Local { name, tag } = reference else {
        return Err(CliError::usage(format!(
            "{text} is a registry reference: dk sign signs artifacts of the local registry"
        ))
        .hint("sign before publishing: dk build, dk sign REF --key KEY, then dk publish"));
    };
    let ref_name = format!("{name}:{tag}");
    let descriptor = layout
        .find(&ref_name)
        .map_err(|err| package_error("cannot read the local registry", err))?
        .ok_or_else(|| {
            CliError::usage(format!("{ref_name} is not in the local registry"))
                .hint("dk build --tag TAG builds it")
        })?;
    Ok((name, ref_name, descriptor))
}

pub fn run_sign(args: SignArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let layout = layout(ctx)?;
    let (name, ref_name, descriptor) = local_artifact(&layout, &args.reference)?;
    let key = read_private_key(&args.key, password(ctx))?;
    let signed = dk_trust::sign(&layout, &name, &descriptor, &key)
        .map_err(|err| trust_error(&format!("cannot sign {ref_name}"), err))?;
    ctx.ui.emit_message(&SignReport {
        reference: ref_name,
        signed,
    })
}

fn read_private_key(path: &Path, password: Option<&str>) -> Result<PrivateKey, CliError> {
    let what = format!("cannot use the key {}", path.display());
    let text = keys::read_private_key_file(path).map_err(|err| trust_error(&what, err))?;
    PrivateKey::from_pem(&text, password).map_err(|err| trust_error(&what, err))
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VerifyReport {
    reference: String,
    digest: String,
    verified: bool,
    /// What is missing or wrong (empty when verified).
    problems: Vec<String>,
    /// What was verified, when everything was.
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<VerificationReport>,
}

impl Render for VerifyReport {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let styles = ui.out_styles();
        let Some(report) = &self.report else {
            writeln!(
                out,
                "{} {} ({}) is not verified:",
                styles.error("✗"),
                self.reference,
                self.digest
            )?;
            for problem in &self.problems {
                writeln!(out, "  - {problem}")?;
            }
            return Ok(());
        };
        writeln!(out, "{} Verified {}", styles.success("✓"), self.reference)?;
        writeln!(out, "  Digest:     {}", report.subject)?;
        writeln!(out, "  Signed by:  {}", report.signature_keys.join(", "))?;
        writeln!(
            out,
            "  Provenance: signed by {}",
            report.provenance_keys.join(", ")
        )?;
        writeln!(
            out,
            "  Builder:    {}",
            report.builder.as_deref().unwrap_or("-")
        )?;
        if let Some(commit) = &report.source_commit {
            let dirty = if report.source_dirty == Some(true) {
                " (with uncommitted changes)"
            } else {
                ""
            };
            writeln!(out, "  Source:     {commit}{dirty}")?;
        }
        Ok(())
    }

    fn status(&self) -> ExitStatus {
        if self.verified {
            ExitStatus::Success
        } else {
            ExitStatus::Failure
        }
    }
}

pub fn run_verify(args: VerifyArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let mut keys: Vec<PublicKey> = Vec::new();
    for path in &args.keys {
        keys.push(keys::read_public_key_file(path).map_err(|err| {
            trust_error(
                &format!("cannot use the public key {}", path.display()),
                err,
            )
        })?);
    }
    let layout = layout(ctx)?;
    let reference =
        ArtifactRef::parse(&args.reference).map_err(|err| CliError::usage(err.to_string()))?;
    let (label, digest, attachments) = match reference {
        ArtifactRef::Local { .. } => {
            let (name, ref_name, descriptor) = local_artifact(&layout, &args.reference)?;
            let attachments = Attachments::from_layout(&layout, &name, &descriptor.digest)
                .map_err(|err| trust_error(&format!("cannot read what signs {ref_name}"), err))?;
            (ref_name, descriptor.digest, attachments)
        }
        ArtifactRef::Remote(remote) => {
            let client = registry_for(ctx, &remote.registry, args.plain_http)?;
            let runtime = runtime()?;
            let (_, _, digest) = runtime
                .block_on(client.manifest(&remote))
                .map_err(|err| package_error(&format!("cannot read {remote}"), err))?;
            let attachments = runtime
                .block_on(Attachments::from_registry(
                    &client, &remote, &digest, &layout,
                ))
                .map_err(|err| trust_error(&format!("cannot read what signs {remote}"), err))?;
            (remote.to_string(), digest, attachments)
        }
    };
    let outcome = dk_trust::verify(&digest, &attachments, &keys, args.builder.as_deref());
    let report = match outcome {
        Ok(report) => VerifyReport {
            reference: label,
            digest,
            verified: true,
            problems: Vec::new(),
            report: Some(report),
        },
        Err(TrustError::Refused(problems)) => VerifyReport {
            reference: label,
            digest,
            verified: false,
            problems,
            report: None,
        },
        Err(err) => return Err(trust_error("cannot verify", err)),
    };
    // A refusal is what the user must read: its problems are shown even with -q.
    if report.verified {
        ctx.ui.emit_message(&report)
    } else {
        ctx.ui.emit(&report)
    }
}
