//! `dk build`, `dk publish`, `dk pull`, `dk inspect`: packages as immutable OCI artifacts
//! (DESIGN §6), in the local layout (`$DK_HOME/registry`) or a registry.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use serde::Serialize;
use serde_json::Value;

use dk_config::env::{PATH, SOURCE_DATE_EPOCH};
use dk_contract::{Diff, Level};
use dk_lineage::source::git_source;
use dk_manifest::discover::Project;
use dk_manifest::load::MANIFEST_MAX_BYTES;
use dk_manifest::model::{PythonTarget, Runtime};
use dk_package::PackageError;
use dk_package::bundle::{self, BundleSpec};
use dk_package::drift;
use dk_package::extract::{self, Limits};
use dk_package::layout::{
    Descriptor, Layout, MANIFEST_LIMIT, Manifest, Publication, TITLE, Tagged,
};
use dk_package::reference::{ArtifactRef, RemoteRef, semver_of};
use dk_package::registry::Progress;
use dk_package::secrets;
use dk_package::wheels::{self, WheelError};
use dk_runner::exec::Tools;
use dk_trust::provenance;

use super::load_linted;
use super::{layout, package_error, registry_for, runtime, trust_error};
use crate::context::Context;
use crate::contract::{Side, consumers, contract_diff, contract_of, side_of_artifact};
use crate::error::{CliError, ExitStatus};
use crate::output::{OutputFormat, Render, Ui, table, write_table};

/// Bundle a package into an immutable, reproducible OCI artifact in the local layout
#[derive(Debug, Args)]
#[command(after_help = "\
Lints first (errors stop the build). Layer 1 holds dk.yaml and the kind folders, layer 2 the rest,
minus .git, caches, virtualenvs and the patterns of .gitignore then .dkignore (gitignore syntax;
`!pattern` in .dkignore re-includes). Files that look like credentials (.env, id_rsa, private
keys, AWS key ids, tokens) are refused unless dk.yaml allows them (spec.build.allow), and so are
links that resolve outside the package. The same files give the same digest: entries are sorted,
owned by 0:0 with modes 0644/0755, and every time is SOURCE_DATE_EPOCH, else the package's last
git commit time, else 0. A generic-python package's requirements.txt is vendored as a third
layer of wheels (.dk-wheels/), downloaded by `python3 -m pip download --only-binary=:all:` for the
CPython and platforms of the image it runs in (spec.build.python, else the python:3.N of
its image, else 3.12 manylinux of this machine's architecture); pip's own configuration
(PIP_INDEX_URL, PIP_FIND_LINKS, pip.conf) applies. A requirement without such a wheel fails the
build (exit 1; an unreachable index: exit 3). The artifact is stored in the OCI layout
$DK_HOME/registry as <namespace>/<name>:<tag>; a tag that exists with other content is refused
(versions are immutable) unless --force, and a published one always. Beside it, as
<namespace>/<name>:sha256-<hex>.att, the build's SLSA v1 provenance (in-toto Statement: git
commit, tree and dirty flag, a digest of the inputs, builder id from DK_BUILDER_ID or
build.builderId, default local; no wall-clock time), unsigned until dk sign.

The version is checked against the package's data contract: the highest lower version (in the
local registry and, when configured, the registry; local only, with a warning, when the registry
cannot be reached) is diffed with the package (see dk diff), and a bump smaller than the diff
requires is refused (exit 1) naming each change and the smallest version allowed: breaking →
major (before 1.0: minor), minor → minor (before 1.0: patch), patch → patch. --allow-breaking
REASON builds it anyway and records the reason; `policies: {semver: warning}` in
.dk/policies.yaml makes it a warning.

Examples:
  dk build --tag v1.0.0
  dk build --tag v2.0.0                       after v1.x, when a column was removed
  dk build --tag v1.0.1 --allow-breaking \"no consumer reads the dropped column\"
  dk build ./my-pipeline --tag v1.0.0 -o json
  dk build --tag v1.0.0 --dry-run             what would be bundled, nothing written")]
pub struct BuildArgs {
    /// The package directory (holding dk.yaml)
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Semantic version tag, with or without a leading v (default: v<metadata.version>)
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// List what would be bundled; write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Replace a local tag that names other content (never a published one)
    #[arg(long)]
    pub force: bool,
    /// Build although the version is smaller than the contract diff requires; the reason is
    /// recorded in the artifact (annotation dev.datakit.semver.allow-breaking)
    #[arg(long, value_name = "REASON")]
    pub allow_breaking: Option<String>,
}

/// Push a package's artifact to an OCI registry (immutable: a tag is never overwritten)
#[derive(Debug, Args)]
#[command(after_help = "\
Pushes to <registry>/<namespace>/<name>:<tag>. The registry is --registry, else DK_REGISTRY, else
the `registry` config key; without one the artifact stays in the local layout. The artifact is
built first when it is not in the local layout yet. Credentials: DK_REGISTRY_USER and
DK_REGISTRY_PASSWORD, else the Docker config (`docker login`: auths, credsStore, credHelpers);
bearer-token (ghcr.io, Harbor) and basic auth; never user:password@ in the registry. Loopback
registries use plain HTTP. A tag that exists with another digest is refused (exit 1); the same
digest is a no-op. After the push the tag is read back: a lost race is exit 1. Each push is
recorded in $DK_HOME/registry/publications.json. The artifact's provenance and signatures
(`dk sign`) go with it, under the referrers tags sha256-<hex>.att and .sig of the same repository,
also when the artifact is already there.

Examples:
  dk publish --registry ghcr.io/my-private-org
  dk publish ./my-pipeline --registry 127.0.0.1:5000/team --tag v1.0.0
  DK_REGISTRY=ghcr.io/my-org dk publish -o json")]
pub struct PublishArgs {
    /// The package directory (holding dk.yaml)
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Registry and path prefix, e.g. ghcr.io/my-org (default: DK_REGISTRY, config registry)
    #[arg(long, value_name = "REGISTRY")]
    pub registry: Option<String>,
    /// The tag to publish (default: v<metadata.version>)
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// Use HTTP, not HTTPS (loopback registries always do)
    #[arg(long)]
    pub plain_http: bool,
}

/// Download an artifact and unpack its files, verifying every digest
#[derive(Debug, Args)]
#[command(after_help = "\
REF is a registry reference (host[:port]/path:tag or @sha256:...) or a name in the local layout
(namespace/name:tag; name:tag means namespace default). Nothing is written unless every digest
matches and every entry stays inside the output folder (no absolute paths, no .., no links out).
The artifact's signature and provenance (sha256-<hex>.sig, .att), when the registry has them,
are fetched into the local registry; check them with dk verify.

Examples:
  dk pull default/demo:v1.0.0
  dk pull ghcr.io/my-org/default/demo:v1.0.0 --output ./demo-v1")]
pub struct PullArgs {
    /// The artifact
    pub reference: String,
    /// Where to unpack (must not exist, or be empty; default: ./<name>)
    #[arg(
        long = "output-dir",
        visible_alias = "to",
        short = 'd',
        value_name = "DIR"
    )]
    pub output_dir: Option<PathBuf>,
    /// Use HTTP, not HTTPS (loopback registries always do)
    #[arg(long)]
    pub plain_http: bool,
}

/// Show an artifact's manifest, config (the Transform), annotations and layers
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  dk inspect default/demo:v1.0.0
  dk inspect 127.0.0.1:5000/team/default/demo:v1.0.0 -o json")]
pub struct InspectArgs {
    /// The artifact (registry reference or local namespace/name:tag)
    pub reference: String,
    /// Use HTTP, not HTTPS (loopback registries always do)
    #[arg(long)]
    pub plain_http: bool,
}

/// The package's name, namespace, version and Transform.
struct PackageFacts {
    name: String,
    namespace: String,
    version: Option<String>,
    transform: Value,
    manifest_file: PathBuf,
    /// `spec.build.allow`: files bundled although they look like credentials.
    allow: Vec<String>,
    /// A generic-python package's wheel target: `spec.build.python` and `spec.image`.
    python: Option<(Option<Box<PythonTarget>>, Option<String>)>,
}

fn facts(project: &Project, dir: &Path) -> Result<PackageFacts, CliError> {
    let package = &project.packages[0];
    let transform = package
        .transform
        .as_ref()
        .ok_or_else(|| CliError::usage(format!("{} has no Transform to package", dir.display())))?;
    let metadata = &transform.manifest.metadata;
    let spec = &transform.manifest.spec;
    let python = (spec.runtime == Runtime::GenericPython).then(|| {
        (
            spec.build.as_ref().and_then(|build| build.python.clone()),
            spec.image.clone().filter(|image| !image.is_empty()),
        )
    });
    Ok(PackageFacts {
        name: metadata.name.clone(),
        namespace: metadata.namespace.clone(),
        version: metadata.version.clone(),
        transform: serde_json::to_value(&transform.manifest).expect("a manifest serialises"),
        manifest_file: dir.join("dk.yaml"),
        allow: transform
            .manifest
            .spec
            .build
            .as_ref()
            .map(|build| build.allow.clone())
            .unwrap_or_default(),
        python,
    })
}

/// The tag: the flag, else `v<metadata.version>`; it must be semver, and a disagreement with
/// `metadata.version` is a warning naming both.
fn resolve_tag(
    ctx: &Context,
    flag: Option<&str>,
    facts: &PackageFacts,
) -> Result<String, CliError> {
    let tag = match (flag, &facts.version) {
        (Some(tag), _) => tag.to_owned(),
        (None, Some(version)) => format!("v{version}"),
        (None, None) => {
            return Err(
                CliError::usage("no tag: give --tag, or metadata.version in dk.yaml")
                    .hint("dk build --tag v1.0.0"),
            );
        }
    };
    let version = semver_of(&tag).ok_or_else(|| {
        CliError::usage(format!("tag `{tag}` is not a semantic version"))
            .hint("use MAJOR.MINOR.PATCH, with or without a leading v: --tag v1.0.0")
    })?;
    if let Some(declared) = &facts.version
        && semver_of(declared).as_ref() != Some(&version)
    {
        ctx.ui.warn(format!(
            "tag {tag} disagrees with metadata.version {declared} in {}",
            facts.manifest_file.display()
        ));
    }
    Ok(tag)
}

/// SOURCE_DATE_EPOCH, else the last commit that touched the package, else 0.
fn source_date_epoch(ctx: &Context, dir: &Path) -> Result<u64, CliError> {
    if let Some(text) = ctx.env.get(SOURCE_DATE_EPOCH) {
        return text.trim().parse().map_err(|_| {
            CliError::usage(format!(
                "{SOURCE_DATE_EPOCH}=`{text}` is not a number of seconds"
            ))
            .hint("e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)")
        });
    }
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["log", "-1", "--format=%ct", "--", "."])
        .stderr(std::process::Stdio::null())
        .output();
    Ok(output
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(0))
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

fn artifact_size(descriptor: &Descriptor, manifest: &Manifest) -> u64 {
    descriptor.size + manifest.config.size + manifest.layers.iter().map(|l| l.size).sum::<u64>()
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BuildReport {
    reference: String,
    digest: String,
    /// Manifest, config and layers, in bytes.
    size: u64,
    /// The package's own files.
    files: usize,
    content_bytes: u64,
    /// Wheels vendored for `requirements.txt`, and the interpreter and platforms they are for.
    #[serde(skip_serializing_if = "is_zero")]
    wheels: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    wheel_target: Option<String>,
    layout: String,
    dry_run: bool,
    /// The tag already named exactly this artifact.
    unchanged: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    entries: Vec<String>,
    /// The version checked against the previous one, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    semver: Option<SemverCheck>,
}

impl Render for BuildReport {
    fn quiet_line(&self) -> Option<String> {
        Some(self.digest.clone()).filter(|digest| !digest.is_empty())
    }

    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let styles = ui.out_styles();
        if self.dry_run {
            for entry in &self.entries {
                writeln!(out, "  {entry}")?;
            }
            return writeln!(
                out,
                "Would build {} from {} file(s), {} (dry run: nothing written)",
                self.reference,
                self.files,
                human_bytes(self.content_bytes)
            );
        }
        let verb = if self.unchanged { "Unchanged" } else { "Built" };
        writeln!(out, "{} {verb} {}", styles.success("✓"), self.reference)?;
        writeln!(out, "  Digest: {}", self.digest)?;
        writeln!(
            out,
            "  Size:   {} ({} file(s), {} before compression)",
            human_bytes(self.size),
            self.files,
            human_bytes(self.content_bytes)
        )?;
        if let Some(target) = &self.wheel_target {
            writeln!(out, "  Wheels: {} for {target}", self.wheels)?;
        }
        if let Some(check) = &self.semver {
            let change = match check.level {
                Level::None => "no change".to_owned(),
                level => format!("a {level} change"),
            };
            writeln!(
                out,
                "  Semver: {change} since v{} (at least v{}; checked against the {} versions)",
                check.previous, check.minimum, check.scope
            )?;
        }
        writeln!(out, "  Stored: {}", self.layout)
    }
}

fn bundle_spec(
    ctx: &Context,
    dir: &Path,
    facts: &PackageFacts,
    tag: &str,
) -> Result<BundleSpec, CliError> {
    let source = git_source(dir);
    Ok(BundleSpec {
        name: facts.name.clone(),
        namespace: facts.namespace.clone(),
        tag: tag.to_owned(),
        transform: facts.transform.clone(),
        epoch: source_date_epoch(ctx, dir)?,
        revision: source.as_ref().and_then(|s| s.version.clone()),
        source: source.map(|s| s.repo_url),
        dk_version: env!("CARGO_PKG_VERSION").to_owned(),
        annotations: BTreeMap::new(),
    })
}

/// The files to bundle: ignore files applied, links checked, and none that looks like a
/// credential unless `spec.build.allow` names it.
fn selection(dir: &Path, facts: &PackageFacts) -> Result<Vec<bundle::Entry>, CliError> {
    let entries =
        bundle::select(dir).map_err(|err| package_error("cannot read the package", err))?;
    let suspects = secrets::credential_files(&entries, &facts.allow)
        .map_err(|err| package_error("cannot read the package", err))?;
    if !suspects.is_empty() {
        return Err(CliError::failure(secrets::refusal(&suspects)).hint(secrets::HINT));
    }
    Ok(entries)
}

/// Builds the package into the layout and names it; refuses to rename other content unless
/// `force`.
fn build_into(
    ctx: &Context,
    dir: &Path,
    facts: &PackageFacts,
    tag: &str,
    layout: &Layout,
    force: bool,
    annotations: BTreeMap<String, String>,
) -> Result<BuildReport, CliError> {
    let mut spec = bundle_spec(ctx, dir, facts, tag)?;
    spec.annotations = annotations;
    let reference = ArtifactRef::local(&facts.namespace, &facts.name, tag).ref_name();
    let mut entries = selection(dir, facts)?;
    // Kept until the bundle is written: the wheels are read from it.
    let vendored = vendor_wheels(ctx, dir, facts)?;
    let wheels = vendored.as_ref().map_or(0, |v| v.entries.len());
    let target = vendored.as_ref().map(|v| v.target.describe());
    entries.extend(vendored.iter().flat_map(|v| v.entries.iter().cloned()));
    let total = bundle::content_bytes(&entries);
    let bar = ctx
        .ui
        .progress(format!("Bundling {reference}"), Some(total));
    let built = bundle::bundle(&entries, &spec, layout, &|bytes| bar.inc(bytes));
    bar.finish_and_clear();
    let built = built.map_err(|err| package_error(&format!("cannot build {reference}"), err))?;
    let tagged = layout
        .tag(&reference, &built.descriptor, force)
        .map_err(|err| package_error("cannot name the artifact", err))?;
    let unchanged = tagged == Tagged::Unchanged;
    record_provenance(ctx, dir, &spec, &entries, layout, &built.descriptor)?;
    Ok(BuildReport {
        reference,
        digest: built.descriptor.digest.clone(),
        size: artifact_size(&built.descriptor, &built.manifest),
        files: entries.len() - wheels,
        content_bytes: total,
        wheels,
        wheel_target: target,
        layout: layout.root().display().to_string(),
        dry_run: false,
        unchanged,
        entries: Vec::new(),
        semver: None,
    })
}

/// Records the SLSA provenance of the build `descriptor` of `spec` beside it (`.att`), from
/// the bundled `entries` and the package's git state.
fn record_provenance(
    ctx: &Context,
    dir: &Path,
    spec: &BundleSpec,
    entries: &[bundle::Entry],
    layout: &Layout,
    descriptor: &Descriptor,
) -> Result<(), CliError> {
    let name = format!("{}/{}", spec.namespace, spec.name);
    let failed = |err| trust_error(&format!("cannot record the provenance of {name}"), err);
    let builder_id = ctx
        .config()?
        .string("build.builderId")?
        .unwrap_or_else(|| provenance::DEFAULT_BUILDER.to_owned());
    let facts = provenance::BuildFacts {
        name: name.clone(),
        tag: spec.tag.clone(),
        digest: descriptor.digest.clone(),
        builder_id,
        dk_version: spec.dk_version.clone(),
        source: spec
            .source
            .as_deref()
            .and_then(|uri| provenance::git_state(dir, uri)),
        inputs_digest: provenance::inputs_digest(entries).map_err(failed)?,
        epoch: spec.epoch,
        source_date_epoch: ctx
            .env
            .get(SOURCE_DATE_EPOCH)
            .and_then(|text| text.trim().parse().ok()),
        allow_breaking: spec.annotations.get(ALLOW_BREAKING).cloned(),
    };
    dk_trust::record_provenance(layout, &name, descriptor, &provenance::provenance(&facts))
        .map_err(failed)
}

/// Wheels downloaded for a build, in a scratch folder removed when this is dropped.
struct Vendored {
    entries: Vec<bundle::Entry>,
    target: wheels::Target,
    _scratch: tempfile::TempDir,
}

/// Downloads the wheels of a generic-python package's `requirements.txt` for the image it runs
/// in (`spec.image`, else `runtime.images.generic-python`, else the default); `None` when it
/// requires nothing.
fn vendor_wheels(
    ctx: &Context,
    dir: &Path,
    facts: &PackageFacts,
) -> Result<Option<Vendored>, CliError> {
    let Some((python, image)) = &facts.python else {
        return Ok(None);
    };
    let requirements = dir.join(wheels::REQUIREMENTS);
    if wheels::requirements(dir)
        .map_err(|err| wheel_error(&requirements, err))?
        .is_none()
    {
        return Ok(None);
    }
    let image = match image {
        Some(image) => Some(image.clone()),
        None => ctx.config()?.string("runtime.images.generic-python")?,
    };
    let target =
        wheels::Target::resolve(python.as_deref(), image.as_deref(), std::env::consts::ARCH)
            .map_err(|err| wheel_error(&requirements, err))?;
    let python3 = Tools::new(ctx.env.get(PATH).map(str::to_owned))
        .find("python3")
        .ok_or_else(|| {
            CliError::usage(format!(
                "python3 is not on PATH: it downloads the wheels of {}",
                requirements.display()
            ))
            .hint("install Python 3 with pip (apt-get install python3-pip)")
        })?;
    let bar = ctx.ui.progress(
        format!("Downloading wheels for {}", target.describe()),
        None,
    );
    let mut log = Vec::new();
    let scratch = tempfile::Builder::new()
        .prefix("dk-wheels-")
        .tempdir()
        .map_err(|err| CliError::failure(format!("cannot create a scratch folder: {err}")))?;
    let downloaded = wheels::download(&python3, dir, &target, scratch.path(), &mut log);
    bar.finish_and_clear();
    // pip's messages, after the spinner: on stderr, never on stdout (the report).
    if !ctx.ui.quiet {
        let _ = io::stderr().write_all(&log);
    }
    let entries = downloaded.map_err(|err| wheel_error(&requirements, err))?;
    Ok(Some(Vendored {
        entries,
        target,
        _scratch: scratch,
    }))
}

fn wheel_error(requirements: &Path, err: WheelError) -> CliError {
    let status = match &err {
        WheelError::Invalid(_) | WheelError::NoPip { .. } => ExitStatus::Usage,
        err if err.is_external() => ExitStatus::External,
        _ => ExitStatus::Failure,
    };
    let mut error = CliError::new(
        status,
        format!("cannot vendor the wheels of {}", requirements.display()),
    )
    .cause(&err);
    error.hint = err.hint();
    error
}

pub fn run_build(args: BuildArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let project = load_linted(ctx, &args.dir, "nothing was built")?;
    let facts = facts(&project, &args.dir)?;
    let tag = resolve_tag(ctx, args.tag.as_deref(), &facts)?;
    if args.dry_run {
        let entries = selection(&args.dir, &facts)?;
        let content_bytes = bundle::content_bytes(&entries);
        return ctx.ui.emit_message(&BuildReport {
            reference: ArtifactRef::local(&facts.namespace, &facts.name, &tag).ref_name(),
            digest: String::new(),
            size: 0,
            files: entries.len(),
            content_bytes,
            wheels: 0,
            wheel_target: None,
            layout: String::new(),
            dry_run: true,
            unchanged: false,
            entries: entries.into_iter().map(|e| e.path).collect(),
            semver: None,
        });
    }
    let layout = layout(ctx)?;
    let allow = match args.allow_breaking.as_deref().map(str::trim) {
        Some("") => {
            return Err(CliError::usage("--allow-breaking needs a reason")
                .hint("dk build --tag v1.0.1 --allow-breaking \"consumers migrated in PR #42\""));
        }
        other => other,
    };
    let check = check_semver(ctx, &project, &args.dir, &facts, &tag, &layout, allow)?;
    let annotations = match (&check, allow) {
        (Some(check), Some(reason)) if check.too_small => {
            BTreeMap::from([(ALLOW_BREAKING.to_owned(), reason.to_owned())])
        }
        _ => BTreeMap::new(),
    };
    let mut report = build_into(
        ctx,
        &args.dir,
        &facts,
        &tag,
        &layout,
        args.force,
        annotations,
    )?;
    report.semver = check;
    ctx.ui.emit_message(&report)
}

fn progress_of(bar: &indicatif::ProgressBar) -> Progress {
    let bar = bar.clone();
    Arc::new(move |bytes| bar.inc(bytes))
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PublishReport {
    reference: String,
    digest: String,
    size: u64,
    /// `pushed`, `already-published` or `local`.
    outcome: &'static str,
    uploaded_blobs: usize,
    uploaded_bytes: u64,
    skipped_blobs: usize,
    /// The signature and provenance pushed beside it (`sha256-<hex>.sig`, `.att`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<String>,
}

impl Render for PublishReport {
    fn quiet_line(&self) -> Option<String> {
        Some(self.digest.clone())
    }

    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let mark = ui.out_styles().success("✓");
        match self.outcome {
            "already-published" => writeln!(
                out,
                "{mark} {} is already published with this digest; nothing to do",
                self.reference
            )?,
            "local" => writeln!(out, "{mark} {} is in the local registry", self.reference)?,
            _ => writeln!(
                out,
                "{mark} Published {} ({} uploaded in {} blob(s), {} already there)",
                self.reference,
                human_bytes(self.uploaded_bytes),
                self.uploaded_blobs,
                self.skipped_blobs
            )?,
        }
        writeln!(out, "  Digest: {}", self.digest)?;
        writeln!(out, "  Size:   {}", human_bytes(self.size))?;
        if !self.attachments.is_empty() {
            writeln!(out, "  Signed: {}", self.attachments.join(", "))?;
        }
        Ok(())
    }
}

pub fn run_publish(args: PublishArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let project = super::load_package(ctx, &args.dir, &Default::default())?;
    let facts = facts(&project, &args.dir)?;
    let tag = resolve_tag(ctx, args.tag.as_deref(), &facts)?;
    let layout = layout(ctx)?;
    let local = ArtifactRef::local(&facts.namespace, &facts.name, &tag).ref_name();
    let prebuilt = layout
        .find(&local)
        .map_err(|err| package_error("cannot read the local registry", err))?;
    let was_built = prebuilt.is_some();
    let descriptor = match prebuilt {
        Some(descriptor) => descriptor,
        None => {
            ctx.ui
                .note(format!("{local} is not built yet: building it"));
            let project = load_linted(ctx, &args.dir, "nothing was published")?;
            let facts = self::facts(&project, &args.dir)?;
            check_semver(ctx, &project, &args.dir, &facts, &tag, &layout, None)?;
            build_into(
                ctx,
                &args.dir,
                &facts,
                &tag,
                &layout,
                false,
                BTreeMap::new(),
            )?;
            layout
                .find(&local)
                .map_err(|err| package_error("cannot read the local registry", err))?
                .expect("just built")
        }
    };
    let (manifest, _) = layout
        .manifest(&descriptor)
        .map_err(|err| package_error(&format!("{local} is damaged in the local registry"), err))?;
    if was_built {
        refuse_drift(&args.dir, &facts, &layout, &manifest, &local, &tag)?;
    }
    let size = artifact_size(&descriptor, &manifest);
    let registry = match args.registry {
        Some(registry) => Some(registry),
        None => ctx.config()?.string("registry")?,
    };
    let Some(registry) = registry else {
        ctx.ui.note("No registry configured: the artifact stays in the local registry. Publish with --registry REG, DK_REGISTRY or `dk config set registry REG`.");
        return ctx.ui.emit_message(&PublishReport {
            reference: local,
            digest: descriptor.digest,
            size,
            outcome: "local",
            uploaded_blobs: 0,
            uploaded_bytes: 0,
            skipped_blobs: 0,
            attachments: Vec::new(),
        });
    };
    let target = RemoteRef::in_registry(&registry, &facts.namespace, &facts.name, &tag)
        .map_err(|err| package_error("invalid registry", err))?;
    let client = registry_for(ctx, &target.registry, args.plain_http)?;
    let publication = Publication {
        reference: local.clone(),
        registry: target.registry.clone(),
        repository: target.repository.clone(),
        tag: tag.clone(),
        digest: descriptor.digest.clone(),
    };
    let record = |layout: &Layout| {
        layout
            .record_publication(&publication)
            .map_err(|err| package_error("cannot record the publication", err))
    };
    let runtime = runtime()?;
    let existing = runtime
        .block_on(client.digest_of(&target))
        .map_err(|err| package_error(&format!("cannot check {target}"), err))?;
    let mut report = PublishReport {
        reference: target.to_string(),
        digest: descriptor.digest.clone(),
        size,
        outcome: "already-published",
        uploaded_blobs: 0,
        uploaded_bytes: 0,
        skipped_blobs: 0,
        attachments: Vec::new(),
    };
    let name = format!("{}/{}", facts.namespace, facts.name);
    // Signatures and provenance go with the artifact, also to a registry that already has it:
    // signing after publishing is publishing again.
    let attach = || {
        runtime
            .block_on(dk_trust::attach::push(
                &client,
                &layout,
                &name,
                &descriptor.digest,
                &target,
            ))
            .map_err(|err| trust_error(&format!("cannot publish the signatures of {target}"), err))
    };
    match existing {
        Some(digest) if digest == descriptor.digest => {
            record(&layout)?;
            report.attachments = attach()?;
            return ctx.ui.emit_message(&report);
        }
        Some(digest) => {
            return Err(CliError::failure(format!(
                "{target} already exists with digest {digest}; this artifact is {}: a published version is never overwritten",
                descriptor.digest
            ))
            .hint("publish a new version: bump metadata.version and dk build --tag vX.Y.Z"));
        }
        None => {}
    }
    let bar = ctx
        .ui
        .progress(format!("Pushing {target}"), Some(size - descriptor.size));
    let pushed = runtime.block_on(client.push(&layout, &descriptor, &target, &progress_of(&bar)));
    bar.finish_and_clear();
    let pushed = pushed.map_err(|err| package_error(&format!("cannot publish {target}"), err))?;
    // The check before the push and the push are two requests: another publisher may have
    // pushed the same tag in between. Only the registry's answer now says who won.
    let now = runtime
        .block_on(client.digest_of(&target))
        .map_err(|err| package_error(&format!("cannot read {target} back"), err))?;
    if now.as_deref() != Some(descriptor.digest.as_str()) {
        return Err(CliError::failure(format!(
            "lost a race: {target} now names {}, not this artifact {}; another publish of the same tag won",
            now.as_deref().unwrap_or("nothing"),
            descriptor.digest
        ))
        .hint("publish a new version; turn on tag immutability in the registry so that a tag cannot be overwritten"));
    }
    record(&layout)?;
    report.attachments = attach()?;
    report.outcome = "pushed";
    report.uploaded_blobs = pushed.uploaded_blobs;
    report.uploaded_bytes = pushed.uploaded_bytes;
    report.skipped_blobs = pushed.skipped_blobs;
    ctx.ui.emit_message(&report)
}

/// Refuses to publish the build `local` of `dir` when the package on disk is no longer what it
/// holds: publishing it would say "published" while the user's change is not in it.
fn refuse_drift(
    dir: &Path,
    facts: &PackageFacts,
    layout: &Layout,
    manifest: &Manifest,
    local: &str,
    tag: &str,
) -> Result<(), CliError> {
    const SHOWN: usize = 10;
    let entries = selection(dir, facts)?;
    let changes = drift::compare(&entries, layout, manifest).map_err(|err| {
        package_error(
            &format!("cannot compare {} with {local}", dir.display()),
            err,
        )
    })?;
    if changes.is_empty() {
        return Ok(());
    }
    let mut named: Vec<String> = changes
        .iter()
        .take(SHOWN)
        .map(|(path, change)| format!("{path} ({})", change.word()))
        .collect();
    if changes.len() > SHOWN {
        named.push(format!("and {} more", changes.len() - SHOWN));
    }
    Err(CliError::failure(format!(
        "{} changed since {local} was built: {}; publishing would not include the change",
        dir.display(),
        named.join(", ")
    ))
    .hint(format!(
        "bump metadata.version and dk build {} --tag vX.Y.Z (a version names one content); if {tag} was never published, rebuild it: dk build {} --tag {tag} --force",
        dir.display(),
        dir.display()
    )))
}

/// An artifact read back: from the layout, or downloaded into it first.
struct Resolved {
    reference: String,
    digest: String,
    manifest: Manifest,
    manifest_bytes: Vec<u8>,
    name: String,
}

fn resolve(
    ctx: &Context,
    text: &str,
    plain_http: bool,
    layout: &Layout,
    with_layers: bool,
) -> Result<Resolved, CliError> {
    let reference = ArtifactRef::parse(text).map_err(|err| CliError::usage(err.to_string()))?;
    match reference {
        ArtifactRef::Local { name, tag } => {
            let ref_name = format!("{name}:{tag}");
            let descriptor = layout
                .find(&ref_name)
                .map_err(|err| package_error("cannot read the local registry", err))?
                .ok_or_else(|| {
                    CliError::usage(format!("{ref_name} is not in the local registry"))
                        .hint("dk build --tag TAG builds it; a registry reference starts with its host (ghcr.io/...)")
                })?;
            let (manifest, manifest_bytes) = layout
                .manifest(&descriptor)
                .map_err(|err| package_error(&format!("{ref_name} is damaged"), err))?;
            manifest
                .check_package(&ref_name)
                .map_err(|err| package_error("not a package", err))?;
            Ok(Resolved {
                reference: ref_name,
                digest: descriptor.digest,
                manifest,
                manifest_bytes,
                name: name.rsplit('/').next().unwrap_or(&name).to_owned(),
            })
        }
        ArtifactRef::Remote(remote) => {
            let client = registry_for(ctx, &remote.registry, plain_http)?;
            let runtime = runtime()?;
            let (manifest, manifest_bytes, digest) = runtime
                .block_on(client.manifest(&remote))
                .map_err(|err| package_error(&format!("cannot read {remote}"), err))?;
            manifest
                .check_package(&remote.to_string())
                .map_err(|err| package_error("not a package", err))?;
            let layers: Vec<&Descriptor> = if with_layers {
                manifest.layers.iter().collect()
            } else {
                Vec::new()
            };
            let total = manifest
                .config
                .size
                .saturating_add(layers.iter().map(|b| b.size).sum());
            let max_bytes = pull_limits(ctx)?.max_bytes;
            let bar = ctx.ui.progress(format!("Pulling {remote}"), Some(total));
            let progress = progress_of(&bar);
            let fetched = runtime.block_on(async {
                client
                    .fetch_blobs(
                        &remote,
                        &[&manifest.config],
                        MANIFEST_LIMIT,
                        layout,
                        &progress,
                    )
                    .await?;
                client
                    .fetch_blobs(&remote, &layers, max_bytes, layout, &progress)
                    .await
            });
            bar.finish_and_clear();
            fetched.map_err(|err| package_error(&format!("cannot download {remote}"), err))?;
            Ok(Resolved {
                reference: remote.to_string(),
                digest,
                manifest,
                manifest_bytes,
                name: remote.name().to_owned(),
            })
        }
    }
}

/// `pull.maxExpansion` and `pull.maxBytes`.
fn pull_limits(ctx: &Context) -> Result<Limits, CliError> {
    let config = ctx.config()?;
    let number = |key: &str, default: u64| -> Result<u64, CliError> {
        match config.get(key)?.map(|setting| setting.value) {
            None => Ok(default),
            Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n > 0) => {
                Ok(n.as_u64().expect("checked"))
            }
            Some(other) => Err(CliError::usage(format!(
                "{key} is {other}, not a positive whole number"
            ))
            .hint(format!("dk config set {key} NUMBER"))),
        }
    };
    let defaults = Limits::default();
    Ok(Limits {
        max_expansion: number("pull.maxExpansion", defaults.max_expansion)?,
        max_bytes: number("pull.maxBytes", defaults.max_bytes)?,
    })
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PullReport {
    reference: String,
    digest: String,
    directory: String,
    files: usize,
    bytes: u64,
    /// The signature and provenance fetched with it into the local registry.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<String>,
}

impl Render for PullReport {
    fn quiet_line(&self) -> Option<String> {
        Some(self.digest.clone())
    }

    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "{} Pulled {} into {} ({} file(s), {})",
            ui.out_styles().success("✓"),
            self.reference,
            self.directory,
            self.files,
            human_bytes(self.bytes)
        )?;
        writeln!(out, "  Digest: {}", self.digest)?;
        if !self.attachments.is_empty() {
            writeln!(out, "  Signed: {}", self.attachments.join(", "))?;
        }
        Ok(())
    }
}

/// Fetches the signature and provenance of a pulled registry artifact into the local layout,
/// named beside its package (`namespace/name`: the repository's last two parts).
fn pull_attachments(
    ctx: &Context,
    reference: &str,
    plain_http: bool,
    layout: &Layout,
    digest: &str,
) -> Result<Vec<String>, CliError> {
    let Ok(ArtifactRef::Remote(remote)) = ArtifactRef::parse(reference) else {
        return Ok(Vec::new());
    };
    let mut parts = remote.repository.rsplitn(3, '/');
    let (Some(name), Some(namespace)) = (parts.next(), parts.next()) else {
        return Ok(Vec::new());
    };
    let client = registry_for(ctx, &remote.registry, plain_http)?;
    runtime()?
        .block_on(dk_trust::attach::pull(
            &client,
            layout,
            &format!("{namespace}/{name}"),
            digest,
            &remote,
        ))
        .map_err(|err| trust_error(&format!("cannot fetch the signatures of {remote}"), err))
}

pub fn run_pull(args: PullArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let layout = layout(ctx)?;
    let resolved = resolve(ctx, &args.reference, args.plain_http, &layout, true)?;
    let target = args
        .output_dir
        .unwrap_or_else(|| PathBuf::from(&resolved.name));
    // Checked again where it unpacks; said here as what it is, a choice of folder.
    if std::fs::read_dir(&target).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(CliError::usage(format!(
            "{} exists and is not empty: dk pull never writes into a folder that has files",
            target.display()
        ))
        .hint(format!(
            "pull into a new folder: dk pull {} --to DIR",
            args.reference
        )));
    }
    let mut layers = Vec::new();
    for layer in &resolved.manifest.layers {
        let kind = if layer.annotations.get(TITLE).map(String::as_str) == Some(wheels::LAYER) {
            extract::LayerKind::Wheels
        } else {
            extract::LayerKind::Package
        };
        layers.push((
            layout
                .verify_blob(layer)
                .map_err(|err| package_error(&format!("{} is damaged", resolved.reference), err))?,
            kind,
        ));
    }
    let attachments = pull_attachments(
        ctx,
        &args.reference,
        args.plain_http,
        &layout,
        &resolved.digest,
    )?;
    let extracted = extract::extract(&layers, &target, pull_limits(ctx)?).map_err(|err| {
        package_error(
            &format!(
                "cannot unpack {} into {}",
                resolved.reference,
                target.display()
            ),
            err,
        )
    })?;
    ctx.ui.emit_message(&PullReport {
        reference: resolved.reference,
        digest: resolved.digest,
        directory: target.display().to_string(),
        files: extracted.files,
        bytes: extracted.bytes,
        attachments,
    })
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InspectReport {
    reference: String,
    digest: String,
    size: u64,
    manifest: Manifest,
    config: Value,
}

impl Render for InspectReport {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let bold = |text: &str| ui.out_styles().bold(text).to_string();
        writeln!(out, "{} {}", bold("Reference:"), self.reference)?;
        writeln!(out, "{}    {}", bold("Digest:"), self.digest)?;
        writeln!(
            out,
            "{}  {}",
            bold("Artifact:"),
            self.manifest.artifact_type.as_deref().unwrap_or("-")
        )?;
        writeln!(out, "{}      {}", bold("Size:"), human_bytes(self.size))?;
        writeln!(out, "\n{}", bold("Annotations:"))?;
        for (key, value) in &self.manifest.annotations {
            writeln!(out, "  {key:<34} {value}")?;
        }
        writeln!(
            out,
            "\n{} {} ({}, {})",
            bold("Config:"),
            self.manifest.config.digest,
            self.manifest.config.media_type,
            human_bytes(self.manifest.config.size)
        )?;
        let transform = &self.config["transform"];
        writeln!(
            out,
            "  Transform {}/{}: runtime {}, mode {}",
            self.config["namespace"].as_str().unwrap_or_default(),
            self.config["name"].as_str().unwrap_or_default(),
            transform["spec"]["runtime"].as_str().unwrap_or("-"),
            transform["spec"]["mode"].as_str().unwrap_or("batch"),
        )?;
        let names = |key: &str| -> String {
            transform["spec"][key]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|i| i["dataset"].as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        writeln!(out, "  Inputs:  {}", names("inputs"))?;
        writeln!(out, "  Outputs: {}", names("outputs"))?;
        writeln!(out, "\n{}", bold("Layers:"))?;
        let mut rows = table(&["DIGEST", "SIZE", "MEDIA TYPE", "TITLE"]);
        for layer in &self.manifest.layers {
            rows.add_row(vec![
                layer.digest.clone(),
                human_bytes(layer.size),
                layer.media_type.clone(),
                layer.annotations.get(TITLE).cloned().unwrap_or_default(),
            ]);
        }
        write_table(out, &rows)
    }
}

pub fn run_inspect(args: InspectArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let layout = layout(ctx)?;
    let resolved = resolve(ctx, &args.reference, args.plain_http, &layout, false)?;
    let config_bytes = layout
        .read_blob(
            &resolved.manifest.config.digest,
            Some(resolved.manifest.config.size),
        )
        .map_err(|err| package_error("the config is damaged", err))?;
    let config: Value = serde_json::from_slice(&config_bytes)
        .map_err(|err| CliError::failure(format!("the config is not JSON: {err}")))?;
    let size = resolved.manifest_bytes.len() as u64
        + resolved.manifest.config.size
        + resolved.manifest.layers.iter().map(|l| l.size).sum::<u64>();
    ctx.ui.emit(&InspectReport {
        reference: resolved.reference,
        digest: resolved.digest,
        size,
        manifest: resolved.manifest,
        config,
    })
}

/// Compare two versions of a package by their manifests: each change breaking, minor or patch
#[derive(Debug, Args)]
#[command(after_help = "\
OLD and NEW are each a package directory, a tag of the package (v1.0.0: the local registry first,
then the configured registry), a local reference (default/demo:v1.0.0) or a registry reference
(ghcr.io/org/default/demo:v1.0.0). A tag names the package of the other side when that is a
directory, else the package in the current directory.

Breaking: a DataSet or column removed or renamed, a type narrowed or changed, an input column
made required (or a required one added), a store, table or format moved, a classification
lowered, PII added to an output classified below confidential, an output no longer written or a
column of it that may now be null. Minor: a new output or DataSet, a new optional column, a type
widened, a classification raised. Patch: docs, Transform settings and code. For each DataSet a
breaking change affects, its consumers: packages of the project that read it and jobs the
lineage store saw read it. -o markdown is the view promotion pull requests use.

Examples:
  dk diff v1.0.0                          the working package against its v1.0.0
  dk diff v1.0.0 v1.1.0 -o json
  dk diff ghcr.io/org/default/demo:v1.0.0 ./demo -o markdown")]
pub struct DiffArgs {
    /// The older version: a tag, a reference or a package directory
    pub old: String,
    /// The newer version, the same forms (default: the package in the current directory)
    #[arg(default_value = ".")]
    pub new: String,
    /// Use HTTP, not HTTPS (loopback registries always do)
    #[arg(long)]
    pub plain_http: bool,
}

/// The package a directory holds, as `(namespace, name)`.
fn package_of(dir: &Path) -> Result<(String, String), CliError> {
    let side = side_of_dir(dir)?;
    let package = side.contract.package.ok_or_else(|| {
        CliError::usage(format!("{} holds no dk.yaml", dir.display()))
            .hint("give a package directory or a full reference (default/demo:v1.0.0)")
    })?;
    let (namespace, name) = package.split_once('/').expect("namespace/name");
    Ok((namespace.to_owned(), name.to_owned()))
}

/// The package on disk, as a build would select it.
fn side_of_dir(dir: &Path) -> Result<Side, CliError> {
    let entries =
        bundle::select(dir).map_err(|err| package_error("cannot read the package", err))?;
    let mut manifests = Vec::new();
    for entry in &entries {
        if bundle::is_manifest(&entry.path) && matches!(entry.kind, bundle::EntryKind::File { .. })
        {
            let text = dk_fs::read_to_string(&entry.source, MANIFEST_MAX_BYTES).map_err(|err| {
                package_error(
                    "cannot read the package",
                    PackageError::fs(&entry.source, err),
                )
            })?;
            manifests.push((entry.path.clone(), text));
        }
    }
    Ok(Side {
        label: dir.display().to_string(),
        version: None,
        contract: contract_of(&manifests)?,
        files: drift::of_entries(&entries)
            .map_err(|err| package_error("cannot read the package", err))?,
    })
}

/// Where the tag `tag` of a package is: the local layout, else the configured registry.
fn side_of_tag(
    ctx: &Context,
    layout: &Layout,
    (namespace, name): &(String, String),
    tag: &str,
    plain_http: bool,
) -> Result<Side, CliError> {
    let version = semver_of(tag);
    let local = ArtifactRef::local(namespace, name, tag).ref_name();
    if let Some(descriptor) = layout
        .find(&local)
        .map_err(|err| package_error("cannot read the local registry", err))?
    {
        let (manifest, _) = layout
            .manifest(&descriptor)
            .map_err(|err| package_error(&format!("{local} is damaged"), err))?;
        return side_of_artifact(layout, local, version, &manifest);
    }
    let Some(registry) = ctx.config()?.string("registry")? else {
        return Err(
            CliError::usage(format!("{local} is not in the local registry and no registry is configured"))
                .hint(format!("dk build --tag {tag}, or set the registry it was published to (DK_REGISTRY, `dk config set registry REG`)")),
        );
    };
    let target = RemoteRef::in_registry(&registry, namespace, name, tag)
        .map_err(|err| package_error("invalid registry", err))?;
    let resolved = resolve(ctx, &target.to_string(), plain_http, layout, true)?;
    side_of_artifact(layout, resolved.reference, version, &resolved.manifest)
}

/// OLD or NEW as given: a directory, a tag of `package`, or a reference.
fn side(
    ctx: &Context,
    layout: &Layout,
    text: &str,
    package: &dyn Fn() -> Result<(String, String), CliError>,
    plain_http: bool,
) -> Result<Side, CliError> {
    let path = Path::new(text);
    if path.is_dir() {
        return side_of_dir(path);
    }
    if !text.contains(['/', ':', '@']) && semver_of(text).is_some() {
        return side_of_tag(ctx, layout, &package()?, text, plain_http);
    }
    let resolved = resolve(ctx, text, plain_http, layout, true)?;
    let version = resolved
        .reference
        .rsplit_once(':')
        .and_then(|(_, tag)| semver_of(tag));
    side_of_artifact(layout, resolved.reference, version, &resolved.manifest)
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DiffReport {
    old: String,
    new: String,
    level: Level,
    /// The smallest version allowed after OLD, when OLD is a version.
    #[serde(skip_serializing_if = "Option::is_none")]
    minimum: Option<String>,
    #[serde(flatten)]
    diff: Diff,
}

impl Render for DiffReport {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let styles = ui.out_styles();
        writeln!(out, "{} → {}", self.old, self.new)?;
        if self.diff.changes.is_empty() {
            writeln!(out, "No changes.")?;
        }
        for change in &self.diff.changes {
            let level = format!("{:<8}", change.level.as_str());
            let level = match change.level {
                Level::Breaking => styles.error(&level).to_string(),
                Level::Minor => styles.warning(&level).to_string(),
                _ => level,
            };
            writeln!(out, "  {level} {}", change.message)?;
        }
        for (dataset, consumers) in &self.diff.consumers {
            // One consumer known both from the project and from lineage is named once.
            let mut who: Vec<(&str, Vec<String>)> = Vec::new();
            for consumer in consumers {
                let source = consumer.source.to_string();
                match who.iter_mut().find(|(name, _)| *name == consumer.name) {
                    Some((_, sources)) => sources.push(source),
                    None => who.push((&consumer.name, vec![source])),
                }
            }
            let who: Vec<String> = who
                .iter()
                .map(|(name, sources)| format!("{name} ({})", sources.join(", ")))
                .collect();
            writeln!(out, "Consumers of {dataset}: {}", who.join(", "))?;
        }
        match (&self.minimum, self.level) {
            (_, Level::None) => Ok(()),
            (Some(minimum), _) => writeln!(
                out,
                "Required: a {} change; the next version is at least v{minimum}",
                self.level
            ),
            (None, _) => writeln!(out, "Required: a {} change", self.level),
        }
    }

    fn render_extra(&self, _format: OutputFormat, _ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(dk_contract::markdown(&self.diff).as_bytes())
    }
}

pub const DIFF_FORMATS: &[OutputFormat] = &[OutputFormat::Markdown];

pub fn run_diff(args: DiffArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let layout = layout(ctx)?;
    let dirs: Vec<&Path> = [args.old.as_str(), args.new.as_str()]
        .into_iter()
        .map(Path::new)
        .filter(|p| p.is_dir())
        .collect();
    let home = dirs.first().copied().unwrap_or(Path::new("."));
    let package = || package_of(home);
    let old = side(ctx, &layout, &args.old, &package, args.plain_http)?;
    let new = side(ctx, &layout, &args.new, &package, args.plain_http)?;
    if let (Some(a), Some(b)) = (&old.contract.package, &new.contract.package)
        && a != b
    {
        ctx.ui.warn(format!(
            "{} is package {a} and {} is package {b}: the diff compares two different packages",
            old.label, new.label
        ));
    }
    if let (Some(a), Some(b)) = (&old.version, &new.version)
        && a > b
    {
        ctx.ui.warn(format!(
            "{} is newer than {}: the diff reads from OLD to NEW, so what it calls removed was added",
            old.label, new.label
        ));
    }
    let mut diff = contract_diff(&old, &new);
    diff.consumers = consumers(ctx, &diff, home, new.contract.package.as_deref());
    let level = diff.level();
    ctx.ui.emit(&DiffReport {
        minimum: old
            .version
            .as_ref()
            .map(|v| dk_contract::bump::minimum(v, level).to_string()),
        old: old.label,
        new: new.label,
        level,
        diff,
    })
}

/// The annotation that records why a version was built although its bump was too small.
pub const ALLOW_BREAKING: &str = "dev.datakit.semver.allow-breaking";

/// A version checked against the previous one.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct SemverCheck {
    previous: String,
    level: Level,
    minimum: String,
    /// `local`, or `local and registry`.
    scope: &'static str,
    /// The bump is smaller than the diff requires (built on --allow-breaking or a policy).
    too_small: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    changes: Vec<String>,
}

/// The versions of a package in the local layout, by tag.
fn local_versions(
    layout: &Layout,
    namespace: &str,
    name: &str,
) -> Result<Vec<(semver::Version, String)>, CliError> {
    let prefix = format!("{namespace}/{name}:");
    Ok(layout
        .list()
        .map_err(|err| package_error("cannot read the local registry", err))?
        .iter()
        .filter_map(|d| d.annotations.get(dk_package::layout::REF_NAME))
        .filter_map(|ref_name| ref_name.strip_prefix(&prefix))
        .filter_map(|tag| semver_of(tag).map(|v| (v, tag.to_owned())))
        .collect())
}

/// Checks `tag` against the highest lower version, local or in the configured registry: `None`
/// when there is none; an error (exit 1) when the bump is smaller than the contract diff
/// requires, unless `allow` gives a reason or the project's policy makes it a warning.
fn check_semver(
    ctx: &Context,
    project: &Project,
    dir: &Path,
    facts: &PackageFacts,
    tag: &str,
    layout: &Layout,
    allow: Option<&str>,
) -> Result<Option<SemverCheck>, CliError> {
    let Some(version) = semver_of(tag) else {
        return Ok(None);
    };
    let mut versions = local_versions(layout, &facts.namespace, &facts.name)?;
    let mut scope = "local";
    if let Some(registry) = ctx.config()?.string("registry")? {
        let target = RemoteRef::in_registry(&registry, &facts.namespace, &facts.name, tag)
            .map_err(|err| package_error("invalid registry", err))?;
        let listed = registry_for(ctx, &target.registry, false)
            .and_then(|client| runtime().map(|rt| rt.block_on(client.tags(&target))));
        match listed {
            Ok(Ok(tags)) => {
                scope = "local and registry";
                versions.extend(
                    tags.into_iter()
                        .filter_map(|t| semver_of(&t).map(|v| (v, t))),
                );
            }
            Ok(Err(err)) => ctx.ui.warn(format!(
                "the version was checked against the local registry only: {err}"
            )),
            Err(err) => ctx.ui.warn(format!(
                "the version was checked against the local registry only: {}",
                err.message
            )),
        }
    }
    let Some(previous) = dk_contract::bump::previous(&version, versions.iter().map(|(v, _)| v))
    else {
        return Ok(None);
    };
    let (previous, previous_tag) = versions
        .iter()
        .find(|(v, _)| v == previous)
        .cloned()
        .expect("one of the versions");
    // The local layout first, then the registry: where side_of_tag looks for a tag.
    let package = (facts.namespace.clone(), facts.name.clone());
    let old = side_of_tag(ctx, layout, &package, &previous_tag, false)?;
    let new = side_of_dir(dir)?;
    let mut diff = contract_diff(&old, &new);
    let level = diff.level();
    let minimum = dk_contract::bump::minimum(&previous, level);
    let too_small = !dk_contract::bump::allows(&version, &minimum);
    let mut check = SemverCheck {
        previous: previous.to_string(),
        level,
        minimum: minimum.to_string(),
        scope,
        too_small,
        changes: Vec::new(),
    };
    if !too_small {
        return Ok(Some(check));
    }
    let start = project.root.as_deref().unwrap_or(dir);
    diff.consumers = consumers(ctx, &diff, start, new.contract.package.as_deref());
    check.changes = diff
        .changes
        .iter()
        .filter(|change| change.level == level)
        .map(|change| {
            let who = change
                .dataset
                .as_ref()
                .and_then(|d| diff.consumers.get(d))
                .map(|list| {
                    let names: Vec<&str> = list.iter().map(|c| c.name.as_str()).collect();
                    format!(" (read by {})", names.join(", "))
                })
                .unwrap_or_default();
            format!("{}: {}{who}", change.level, change.message)
        })
        .collect();
    let message = format!(
        "{tag} is too small a step after v{previous}: the changes need at least v{minimum}\n{}",
        check
            .changes
            .iter()
            .map(|line| format!("  - {line}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let policy = dk_validate::policy::Policy::load(project.root.as_deref(), &mut Vec::new());
    if let Some(reason) = allow {
        ctx.ui.warn(format!(
            "{message}\nallowed by --allow-breaking (the reason is recorded in the artifact): {reason}"
        ));
        return Ok(Some(check));
    }
    if policy.settings.semver == dk_validate::policy::SemverCheck::Warning {
        ctx.ui.warn(format!(
            "{message}\nallowed: .dk/policies.yaml sets semver: warning"
        ));
        return Ok(Some(check));
    }
    Err(CliError::failure(message).hint(format!(
        "dk build --tag v{minimum}, or --allow-breaking \"REASON\" to build {tag} anyway (the reason is recorded in the artifact)"
    )))
}
