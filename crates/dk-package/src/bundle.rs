//! A package bundled as an OCI artifact (DESIGN §6): layer 1 holds the manifests (`dk.yaml` and
//! the kind folders), layer 2 everything else, minus `.git`, caches, virtualenvs and `.dkignore`
//! patterns, and a python package's vendored wheels, when it has any, are layer 3
//! ([`crate::wheels`]). Bundles are reproducible: entries sorted by path, uid/gid 0 without names, modes
//! normalised to 0644/0755, every mtime the build's epoch, gzip without a timestamp, and no
//! wall-clock time in the config or the annotations.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use flate2::Compression;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use serde_json::{Value, json};

use dk_manifest::dbt_project::DbtProject;
use dk_manifest::model::Kind;

use crate::PackageError;
use crate::extract::{Node, Tree, is_managed};
use crate::layout::{
    ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, Descriptor, LAYER_MEDIA_TYPE, Layout, MANIFEST_MEDIA_TYPE,
    Manifest, TITLE,
};

/// Never bundled, whatever `.dkignore` says first: version control, caches, virtualenvs and
/// build output of the runtimes (gitignore syntax; `.dkignore` may re-include with `!`).
pub const ALWAYS_IGNORED: &[&str] = &[
    ".git/",
    ".hg/",
    ".svn/",
    ".DS_Store",
    "__pycache__/",
    "*.pyc",
    ".venv/",
    "venv/",
    ".mypy_cache/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".tox/",
    "node_modules/",
    "/target/",
    "/dbt_packages/",
    "/logs/",
    ".dk/",
    // Vendored by each build afresh; a pulled package's wheels are not its sources.
    "/.dk-wheels/",
];

pub const IGNORE_FILE: &str = ".dkignore";
pub const GIT_IGNORE_FILE: &str = ".gitignore";
/// Ignore files are a few lines; anything larger is not one.
const IGNORE_FILE_LIMIT: u64 = 1 << 20;

/// The titles of the two layers (`org.opencontainers.image.title`).
pub const MANIFESTS_LAYER: &str = "manifests.tar.gz";
pub const CONTENT_LAYER: &str = "content.tar.gz";

/// What goes into a bundle besides the package's files.
#[derive(Debug, Clone)]
pub struct BundleSpec {
    pub name: String,
    pub namespace: String,
    /// The tag as given (`v1.0.0`).
    pub tag: String,
    /// The Transform, as JSON.
    pub transform: Value,
    /// Seconds since the epoch for every entry's mtime and `org.opencontainers.image.created`.
    pub epoch: u64,
    /// The git commit and the repository (without credentials), when known.
    pub revision: Option<String>,
    pub source: Option<String>,
    pub dk_version: String,
    /// More manifest annotations (`dev.datakit.semver.allow-breaking`: why a version broke the
    /// semver rule).
    pub annotations: BTreeMap<String, String>,
}

/// A file of the package as it is bundled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative, `/`-separated.
    pub path: String,
    pub source: PathBuf,
    pub kind: EntryKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File { size: u64, executable: bool },
    Symlink { target: String },
}

impl Entry {
    /// Bytes of content (a link has none).
    pub fn size(&self) -> u64 {
        match self.kind {
            EntryKind::File { size, .. } => size,
            EntryKind::Symlink { .. } => 0,
        }
    }
}

/// Bytes of content of a selection, before compression.
pub fn content_bytes(entries: &[Entry]) -> u64 {
    entries.iter().map(Entry::size).sum()
}

/// The built artifact.
#[derive(Debug, Clone)]
pub struct Built {
    /// The manifest's descriptor (not yet named in the index).
    pub descriptor: Descriptor,
    pub manifest: Manifest,
}

/// [`ALWAYS_IGNORED`], compiled once: every package starts from them (matched with paths
/// relative to the package).
static ALWAYS: LazyLock<Gitignore> = LazyLock::new(|| {
    let mut builder = GitignoreBuilder::new("");
    for pattern in ALWAYS_IGNORED {
        builder
            .add_line(None, pattern)
            .expect("valid built-in patterns");
    }
    builder.build().expect("valid built-in patterns")
});

/// The entries of one folder, read once: names, and their types without a `stat` each.
struct Listing {
    entries: Vec<(PathBuf, std::fs::FileType)>,
}

impl Listing {
    fn read(dir: &Path) -> Result<Listing, PackageError> {
        let mut entries = Vec::new();
        for item in std::fs::read_dir(dir).map_err(|err| PackageError::io(dir, err))? {
            let item = item.map_err(|err| PackageError::io(dir, err))?;
            let path = item.path();
            let file_type = item
                .file_type()
                .map_err(|err| PackageError::io(&path, err))?;
            entries.push((path, file_type));
        }
        Ok(Listing { entries })
    }

    /// Whether the folder holds something named `name` (a file that cannot be read is the
    /// reader's error to report, so any entry counts).
    fn has(&self, name: &str) -> bool {
        self.entries
            .iter()
            .any(|(path, _)| path.file_name().is_some_and(|n| n == name))
    }
}

/// The rules of `dir`'s own `.gitignore`, then its `.dkignore`, after `base` (patterns that
/// apply first, such as a dbt project's build output): a later `!pattern` re-includes what an
/// earlier line excluded (build output that belongs in the artifact). `None` when there are
/// no rules. `listing` says which of the two files exist, so that folders without them (most)
/// cost no open.
fn ignore_rules(
    dir: &Path,
    base: &[String],
    listing: &Listing,
) -> Result<Option<Gitignore>, PackageError> {
    let mut builder = GitignoreBuilder::new(dir);
    for pattern in base {
        builder
            .add_line(None, pattern)
            .map_err(|err| PackageError::Invalid(format!("{}: {err}", dir.display())))?;
    }
    let mut found = !base.is_empty();
    for name in [GIT_IGNORE_FILE, IGNORE_FILE] {
        if !listing.has(name) {
            continue;
        }
        let file = dir.join(name);
        let text = match dk_fs::read_to_string(&file, IGNORE_FILE_LIMIT) {
            Ok(text) => text,
            Err(err) if err.io_kind() == Some(std::io::ErrorKind::NotFound) => continue,
            Err(err) => return Err(PackageError::fs(&file, err)),
        };
        found = true;
        for line in text.lines() {
            builder
                .add_line(Some(file.clone()), line)
                .map_err(|err| PackageError::Invalid(format!("{}: {err}", file.display())))?;
        }
    }
    if !found {
        return Ok(None);
    }
    builder
        .build()
        .map(Some)
        .map_err(|err| PackageError::Invalid(format!("{}: {err}", dir.display())))
}

/// Whether the rules of the folders above a path (root first, after [`ALWAYS_IGNORED`]) ignore
/// it: as git does, the deepest folder with a rule about it decides.
fn ignored(rules: &[Gitignore], path: &Path, relative: &Path, is_dir: bool) -> bool {
    rules
        .iter()
        .rev()
        .map(|rules| rules.matched(path, is_dir))
        .chain(std::iter::once_with(|| ALWAYS.matched(relative, is_dir)))
        .find(|matched| !matched.is_none())
        .is_some_and(|matched| matched.is_ignore())
}

/// A file or link [`select`] keeps, before the file's size and mode are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    /// Relative, `/`-separated.
    pub path: String,
    pub source: PathBuf,
    /// The target, for a link.
    pub link: Option<String>,
}

/// The files to bundle, sorted by path. A symlink is kept as a link when its target, resolved
/// through the package's other links, stays inside the package; one that leads outside is an
/// error naming it (its target would not travel with it, and a pull would refuse it).
pub fn select(dir: &Path) -> Result<Vec<Entry>, PackageError> {
    selection(dir)?
        .into_iter()
        .filter_map(|selected| {
            let kind = match selected.link {
                Some(target) => EntryKind::Symlink { target },
                None => match std::fs::symlink_metadata(&selected.source) {
                    // Replaced by something else than a file since it was listed: as if
                    // listed so.
                    Ok(meta) if !meta.is_file() => return None,
                    Ok(meta) => {
                        use std::os::unix::fs::PermissionsExt;
                        EntryKind::File {
                            size: meta.len(),
                            executable: meta.permissions().mode() & 0o111 != 0,
                        }
                    }
                    Err(err) => return Some(Err(PackageError::io(&selected.source, err))),
                },
            };
            Some(Ok(Entry {
                path: selected.path,
                source: selected.source,
                kind,
            }))
        })
        .collect()
}

/// What [`select`] bundles, without reading each file's size and mode (what `dk lint` needs to
/// check the same files `dk build` would bundle).
pub fn selection(dir: &Path) -> Result<Vec<Selected>, PackageError> {
    let listing = Listing::read(dir)?;
    // A dbt project may name its build output otherwise (`target-path: build/dbt`).
    let base = if listing.has(dk_manifest::dbt_project::FILE) {
        let project =
            DbtProject::read(dir).map_err(|err| PackageError::Invalid(err.to_string()))?;
        project
            .iter()
            .flat_map(DbtProject::output_patterns)
            .collect()
    } else {
        Vec::new()
    };
    let mut rules: Vec<Gitignore> = ignore_rules(dir, &base, &listing)?.into_iter().collect();
    let mut walked = Walked::default();
    walk_entries(dir, dir, listing, &mut rules, &mut walked)?;
    let Walked {
        mut entries,
        folders,
    } = walked;
    if entries.iter().any(|entry| entry.link.is_some()) {
        // Links are resolved through the package's folders, files and other links.
        let mut tree = Tree::default();
        let parts = |path: &str| path.split('/').map(str::to_owned).collect::<Vec<String>>();
        for folder in &folders {
            tree.insert(parts(folder), Node::Dir);
        }
        for entry in &entries {
            let node = match &entry.link {
                Some(target) => Node::Symlink(target.clone()),
                None => Node::File,
            };
            tree.insert(parts(&entry.path), node);
        }
        let escaping: Vec<String> = entries
            .iter()
            .filter_map(|entry| {
                let target = entry.link.as_ref()?;
                tree.resolve(&parts(&entry.path), target)
                    .is_none()
                    .then(|| format!("{} -> {target}", entry.path))
            })
            .collect();
        if !escaping.is_empty() {
            return Err(PackageError::LinksOutside(escaping));
        }
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// What a walk found: the files and links kept, and the folders they are in.
#[derive(Default)]
struct Walked {
    entries: Vec<Selected>,
    folders: Vec<String>,
}

fn walk_entries(
    root: &Path,
    dir: &Path,
    listing: Listing,
    rules: &mut Vec<Gitignore>,
    walked: &mut Walked,
) -> Result<(), PackageError> {
    for (path, file_type) in listing.entries {
        let relative = path.strip_prefix(root).expect("below the root");
        // Not even `!.venv/` in `.dkignore` bundles what dk makes and trusts beside a package.
        if (dir == root && relative.to_str().is_some_and(is_managed))
            || ignored(rules, &path, relative, file_type.is_dir())
        {
            continue;
        }
        let name = relative
            .to_str()
            .ok_or_else(|| {
                PackageError::Invalid(format!("{}: not a UTF-8 path", relative.display()))
            })?
            .replace('\\', "/");
        if file_type.is_dir() {
            walked.folders.push(name);
            // A sub-folder's own ignore files apply below it, before the ones above.
            let listing = Listing::read(&path)?;
            let own = ignore_rules(&path, &[], &listing)?;
            let pushed = own.is_some();
            rules.extend(own);
            let result = walk_entries(root, &path, listing, rules, walked);
            if pushed {
                rules.pop();
            }
            result?;
        } else if file_type.is_symlink() {
            let target = std::fs::read_link(&path).map_err(|err| PackageError::io(&path, err))?;
            let target = target.to_str().unwrap_or("/").to_owned();
            walked.entries.push(Selected {
                path: name,
                source: path,
                link: Some(target),
            });
        } else if file_type.is_file() {
            walked.entries.push(Selected {
                path: name,
                source: path,
                link: None,
            });
        }
    }
    Ok(())
}

/// Whether a path belongs in the manifests layer: `dk.yaml` and the kind folders.
pub fn is_manifest(path: &str) -> bool {
    if path == "dk.yaml" {
        return true;
    }
    let top = path.split('/').next().unwrap_or_default();
    path.contains('/')
        && Kind::ALL
            .iter()
            .any(|kind| kind.folder() == Some(top) || kind.plural_folder() == Some(top))
}

/// Writes `entries` as a reproducible tar.gz blob into the layout.
fn write_layer(
    layout: &Layout,
    entries: &[&Entry],
    epoch: u64,
    title: &str,
    progress: &dyn Fn(u64),
) -> Result<Descriptor, PackageError> {
    let blob = layout.blob_writer()?;
    let gzip = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(blob, Compression::fast());
    let mut tar = tar::Builder::new(gzip);
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(epoch);
        let failed = |err: std::io::Error| PackageError::io(&entry.source, err);
        match &entry.kind {
            EntryKind::File { size, executable } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(if *executable { 0o755 } else { 0o644 });
                header.set_size(*size);
                // A regular file, never a FIFO swapped in since the walk.
                let (file, _) = dk_fs::open_regular(&entry.source, u64::MAX)
                    .map_err(|err| PackageError::fs(&entry.source, err))?;
                // Exactly the size announced: a file that grows meanwhile cannot corrupt the tar.
                let reader = std::io::Read::take(file, *size);
                tar.append_data(&mut header, &entry.path, reader)
                    .map_err(failed)?;
                progress(*size);
            }
            EntryKind::Symlink { target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                tar.append_link(&mut header, &entry.path, target)
                    .map_err(failed)?;
            }
        }
    }
    let gzip = tar
        .into_inner()
        .map_err(|err| PackageError::io(layout.root(), err))?;
    let mut blob = gzip
        .finish()
        .map_err(|err| PackageError::io(layout.root(), err))?;
    blob.flush()
        .map_err(|err| PackageError::io(layout.root(), err))?;
    let (digest, size) = blob.commit()?;
    Ok(Descriptor {
        media_type: LAYER_MEDIA_TYPE.to_owned(),
        digest,
        size,
        artifact_type: None,
        annotations: BTreeMap::from([(TITLE.to_owned(), title.to_owned())]),
    })
}

/// RFC 3339 (UTC) of seconds since the epoch.
fn rfc3339(epoch: u64) -> String {
    chrono::DateTime::from_timestamp(i64::try_from(epoch).unwrap_or(i64::MAX), 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Whether a path belongs in the wheels layer.
pub(crate) fn is_wheel(path: &str) -> bool {
    path.strip_prefix(crate::wheels::DIR)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// Bundles `entries` (a package's [`select`]ion, and its [`crate::wheels::download`]ed wheels)
/// into `layout`. `progress` is called with the bytes of each file as it is written.
pub fn bundle(
    entries: &[Entry],
    spec: &BundleSpec,
    layout: &Layout,
    progress: &dyn Fn(u64),
) -> Result<Built, PackageError> {
    let (wheels, files): (Vec<&Entry>, Vec<&Entry>) =
        entries.iter().partition(|entry| is_wheel(&entry.path));
    let (manifests, content): (Vec<&Entry>, Vec<&Entry>) = files
        .into_iter()
        .partition(|entry| is_manifest(&entry.path));
    let mut layers = vec![
        write_layer(layout, &manifests, spec.epoch, MANIFESTS_LAYER, progress)?,
        write_layer(layout, &content, spec.epoch, CONTENT_LAYER, progress)?,
    ];
    // Only when there are wheels: a package without them keeps its two layers and its digest.
    if !wheels.is_empty() {
        layers.push(write_layer(
            layout,
            &wheels,
            spec.epoch,
            crate::wheels::LAYER,
            progress,
        )?);
    }
    let created = rfc3339(spec.epoch);
    let config = json!({
        "apiVersion": "datakit.infoblox.dev/v1alpha1",
        "kind": "Transform",
        "name": spec.name,
        "namespace": spec.namespace,
        "version": spec.tag,
        "transform": spec.transform,
        "build": {
            "dk": spec.dk_version,
            "sourceDateEpoch": spec.epoch,
            "revision": spec.revision,
        },
    });
    let config_bytes = serde_json::to_vec(&config).expect("JSON");
    let (config_digest, config_size) = layout.put_blob(&config_bytes)?;
    let mut annotations = BTreeMap::from([
        ("org.opencontainers.image.created".to_owned(), created),
        (
            "org.opencontainers.image.title".to_owned(),
            spec.name.clone(),
        ),
        (
            "org.opencontainers.image.version".to_owned(),
            spec.tag.clone(),
        ),
        ("dev.datakit.namespace".to_owned(), spec.namespace.clone()),
    ]);
    if let Some(revision) = &spec.revision {
        annotations.insert("org.opencontainers.image.revision".into(), revision.clone());
    }
    if let Some(source) = &spec.source {
        annotations.insert("org.opencontainers.image.source".into(), source.clone());
    }
    annotations.extend(spec.annotations.clone());
    let manifest = Manifest {
        schema_version: 2,
        media_type: MANIFEST_MEDIA_TYPE.to_owned(),
        artifact_type: Some(ARTIFACT_TYPE.to_owned()),
        config: Descriptor {
            media_type: CONFIG_MEDIA_TYPE.to_owned(),
            digest: config_digest,
            size: config_size,
            artifact_type: None,
            annotations: BTreeMap::new(),
        },
        layers,
        annotations,
    };
    let manifest_bytes = serde_json::to_vec(&manifest).expect("JSON");
    let (digest, size) = layout.put_blob(&manifest_bytes)?;
    Ok(Built {
        descriptor: Descriptor {
            media_type: MANIFEST_MEDIA_TYPE.to_owned(),
            digest,
            size,
            artifact_type: Some(ARTIFACT_TYPE.to_owned()),
            annotations: BTreeMap::new(),
        },
        manifest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_764_115_200), "2025-11-26T00:00:00Z");
    }

    #[test]
    fn manifests_go_to_the_first_layer() {
        assert!(is_manifest("dk.yaml"));
        assert!(is_manifest("dataset/a.yaml"));
        assert!(is_manifest("stores/b.yaml"));
        assert!(!is_manifest("main.py"));
        assert!(!is_manifest("dataset"));
        assert!(!is_manifest("data/input.csv"));
    }

    /// The files `select` bundles from a folder holding `written` (relative paths, with their
    /// contents).
    fn files(written: &[(&str, &str)]) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        for (file, text) in written {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        select(dir.path())
            .unwrap()
            .into_iter()
            .map(|e| e.path)
            .collect()
    }

    /// What dk makes beside a package stays out of its artifact, even when `.dkignore`
    /// re-includes it (a pull would refuse the artifact).
    #[test]
    fn folders_dk_makes_are_never_bundled() {
        let bundled = files(&[
            ("main.py", "x"),
            (".venv/bin/python", "x"),
            (".dk-wheels/a-1.0-py3-none-any.whl", "x"),
            (".dk/config.yaml", "x"),
            ("lib/.venv/keep.txt", "x"),
            (IGNORE_FILE, "!.venv/\n!/.dk-wheels/\n!.dk/\n!lib/.venv/\n"),
        ]);
        assert_eq!(bundled, [".dkignore", "lib/.venv/keep.txt", "main.py"]);
    }

    /// A dbt project's build output stays out under the names its `dbt_project.yml` gives.
    #[test]
    fn a_dbt_projects_own_target_path_is_left_out() {
        let bundled = files(&[
            (
                "dbt_project.yml",
                "name: shop\ntarget-path: build/dbt\nlog-path: dbt_logs\n",
            ),
            ("models/a.sql", "select 1"),
            ("build/dbt/manifest.json", "{}"),
            ("build/notes.md", "kept"),
            ("dbt_logs/dbt.log", "log"),
        ]);
        assert_eq!(
            bundled,
            ["build/notes.md", "dbt_project.yml", "models/a.sql"]
        );
    }

    #[test]
    fn wheels_go_to_a_layer_of_their_own() {
        assert!(is_wheel(".dk-wheels/a-1.0-py3-none-any.whl"));
        assert!(!is_wheel(".dk-wheelsx/a.whl"));
        assert!(!is_wheel("wheels/a.whl"));
    }
}
