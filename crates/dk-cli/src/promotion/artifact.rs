//! The artifact a promoted version stands for: found in the local layout, pinned to the
//! registry dk publish pushed it to (or the one given), its manifest files for the pull
//! request's "what changed".

use dk_gitops::source::{self, Pushed, Source};
use dk_package::layout::Descriptor;
use dk_package::reference::{RemoteRef, split_registry};

use super::{Settings, gitops_error};
use crate::commands::{layout, registry_for, runtime};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};

/// The artifact a version stands for: its digest, where it is published, its manifest files.
pub struct Artifact {
    pub namespace: String,
    pub digest: String,
    pub registry: String,
    pub files: Vec<(String, String)>,
}

/// Finds `package` `version` where it was published: `registry` (the flag), the configured
/// registry, the push dk publish recorded, else the local layout, which only the embedded
/// GitOps repository takes; never-built versions are refused.
pub fn artifact(
    ctx: &Context,
    settings: &Settings,
    package: &str,
    version: &str,
    namespace: Option<&str>,
    registry: Option<&str>,
) -> Result<Artifact, CliError> {
    let layout = layout(ctx)?;
    let tags = [
        version.to_owned(),
        format!("v{}", version.trim_start_matches('v')),
        version.trim_start_matches('v').to_owned(),
    ];
    let local = layout
        .list()
        .map_err(|err| CliError::failure("cannot read the local registry").cause(err))?
        .into_iter()
        .find_map(|descriptor| {
            let name = descriptor
                .annotations
                .get(dk_package::layout::REF_NAME)?
                .clone();
            let (path, tag) = name.rsplit_once(':')?;
            let (ns, pkg) = path.rsplit_once('/')?;
            (pkg == package && tags.iter().any(|t| t == tag) && namespace.is_none_or(|n| n == ns))
                .then(|| (ns.to_owned(), tag.to_owned(), descriptor))
        });
    // The manifests compare artifacts in the description; without them, it says so.
    let files = |descriptor: &Descriptor| layout.manifest_files(descriptor).unwrap_or_default();
    let records = match &local {
        Some((ns, tag, _)) => layout
            .publications(&format!("{ns}/{package}:{tag}"))
            .map_err(|err| CliError::failure("cannot read the local registry").cause(err))?,
        None => Vec::new(),
    };
    let pushes: Vec<Pushed> = records
        .iter()
        .map(|p| Pushed {
            host: &p.registry,
            repository: &p.repository,
            digest: &p.digest,
        })
        .collect();
    let configured = ctx.config()?.string("registry")?;
    let chosen = source::resolve(
        registry,
        configured.as_deref(),
        &pushes,
        local.as_ref().map(|(_, _, d)| d.digest.as_str()),
        local.as_ref().map_or("", |(ns, _, _)| ns.as_str()),
        package,
    );
    match chosen {
        Source::Published { registry, digest } => {
            let (namespace, _, descriptor) = local.expect("a push is of a local artifact");
            Ok(Artifact {
                namespace,
                digest,
                registry,
                files: files(&descriptor),
            })
        }
        Source::Given(registry) => {
            let namespace = namespace
                .map(str::to_owned)
                .or_else(|| local.as_ref().map(|(ns, _, _)| ns.clone()))
                .unwrap_or_else(|| "default".into());
            let (host, prefix) = split_registry(&registry);
            let repository = [prefix.as_deref(), Some(namespace.as_str()), Some(package)]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("/");
            let tag = local
                .as_ref()
                .map_or(version.to_owned(), |(_, tag, _)| tag.clone());
            let target = RemoteRef {
                registry: host.clone(),
                repository,
                tag: Some(tag),
                digest: None,
            };
            let client = registry_for(ctx, &host, false)?;
            let digest = runtime()?
                .block_on(client.digest_of(&target))
                .map_err(|err| {
                    CliError::new(ExitStatus::External, format!("cannot read {target}")).cause(err)
                })?
                .ok_or_else(|| {
                    CliError::failure(format!("{target} was never published"))
                        .hint(format!("dk publish --tag {version} first"))
                })?;
            let files = local
                .as_ref()
                .filter(|(_, _, d)| d.digest == digest)
                .map(|(_, _, d)| files(d))
                .unwrap_or_default();
            Ok(Artifact {
                namespace,
                digest,
                registry,
                files,
            })
        }
        Source::Local => {
            let (namespace, _, descriptor) = local.ok_or_else(|| {
                CliError::failure(format!("{package} {version} was never built or published"))
                    .hint(format!("dk build --tag {version}, then dk publish --registry REG (or configure `registry`)"))
            })?;
            let embedded = source::is_embedded(&settings.url, &settings.dk_home);
            source::check_local(embedded, &settings.url, package, version)
                .map_err(|err| gitops_error("not promoted", err))?;
            let files = files(&descriptor);
            Ok(Artifact {
                namespace,
                digest: descriptor.digest,
                registry: source::LOCAL.into(),
                files,
            })
        }
    }
}

/// The manifest files of the artifact a values file names, when it is in the local layout.
pub fn files_of_digest(ctx: &Context, digest: &str) -> Vec<(String, String)> {
    let Ok(layout) = layout(ctx) else {
        return Vec::new();
    };
    layout
        .list()
        .ok()
        .and_then(|list| list.into_iter().find(|d| d.digest == digest))
        .and_then(|descriptor| layout.manifest_files(&descriptor).ok())
        .unwrap_or_default()
}
