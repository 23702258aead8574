//! Unpacking an artifact's layers into a directory, refusing anything that could write outside
//! it: absolute paths, `..`, links whose *resolved* target leaves the directory, hard links to
//! anything but a regular file unpacked before from the same artifact, devices. Nothing is ever
//! written through a link: every folder of an entry must be a real folder unpacked before, and
//! links are resolved against what is already unpacked (a chain `l1 -> l0/..` is followed as the
//! kernel would), never by their text alone. Decompression is capped (see [`Limits`]).
//! Everything is unpacked into a temporary sibling first and moved into place at the end, so an
//! invalid artifact writes nothing.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use crate::PackageError;

/// Why an archive entry was refused.
fn unsafe_entry(path: &str, why: &str) -> PackageError {
    PackageError::Unsafe {
        path: path.to_owned(),
        reason: why.to_owned(),
    }
}

/// Folders dk makes beside a package and then trusts: the virtualenv it built for
/// `requirements.txt` (reused when its marker names the requirements), the wheels of the wheels
/// layer, dk's own settings. An artifact that ships one in its content would plant an
/// interpreter, wheels or settings dk takes for its own: `dk build` leaves them out whatever
/// `.dkignore` says, and `dk pull` refuses such an artifact.
pub const MANAGED: &[&str] = &[".venv", crate::wheels::DIR, ".dk"];

/// Whether `path` (relative, `/`-separated) is or lies in one of the [`MANAGED`] folders.
pub fn is_managed(path: &str) -> bool {
    let first = path
        .trim_start_matches("./")
        .split('/')
        .next()
        .unwrap_or("");
    MANAGED.contains(&first)
}

/// What an artifact's layer holds, which decides what it may unpack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerKind {
    /// The manifests or the package's files: nothing in a [`MANAGED`] folder.
    Package,
    /// The vendored wheels ([`crate::wheels::LAYER`]): only entries below [`crate::wheels::DIR`].
    Wheels,
}

impl LayerKind {
    /// Why this layer may not hold `parts`, if it may not.
    fn refuses(self, parts: &[String]) -> Option<String> {
        let first = parts.first().map(String::as_str).unwrap_or("");
        match self {
            LayerKind::Wheels if first != crate::wheels::DIR => Some(format!(
                "the wheels layer holds only {}/",
                crate::wheels::DIR
            )),
            LayerKind::Package if MANAGED.contains(&first) => Some(format!(
                "{first}/ is made by dk beside the package (a virtualenv, wheels or settings it trusts), never taken from an artifact's files"
            )),
            _ => None,
        }
    }
}

/// How far the layers of one artifact may expand when decompressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes out per compressed byte in, per layer (`pull.maxExpansion`).
    pub max_expansion: u64,
    /// Bytes out for all layers together (`pull.maxBytes`).
    pub max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_expansion: 100,
            max_bytes: 8 << 30,
        }
    }
}

/// The normal components of a relative path, or `None` if it is absolute or climbs out.
fn contained(path: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?.to_owned()),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!parts.is_empty()).then_some(parts)
}

/// What a path of the tree being checked is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir,
    File,
    Symlink(String),
}

/// A tree of folders, files and links by relative path, in which link targets are resolved as
/// the kernel would resolve them: a link met halfway is followed, then `..` applies to where it
/// led. Both `dk pull` (what is unpacked so far) and `dk build` (what is bundled) check links
/// against one.
#[derive(Debug, Default)]
pub struct Tree {
    nodes: BTreeMap<Vec<String>, Node>,
}

/// More links than this on one path is a loop (the kernel's limit is 40).
const MAX_HOPS: usize = 40;

impl Tree {
    pub fn insert(&mut self, path: Vec<String>, node: Node) {
        self.nodes.insert(path, node);
    }

    pub fn get(&self, path: &[String]) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// Where a link at `link` (components) pointing to `target` leads, as components below the
    /// root, or `None` when it leaves the root, is absolute, or loops.
    pub fn resolve(&self, link: &[String], target: &str) -> Option<Vec<String>> {
        let mut hops = 0;
        self.follow(
            link[..link.len().saturating_sub(1)].to_vec(),
            target,
            &mut hops,
        )
    }

    fn follow(&self, mut at: Vec<String>, target: &str, hops: &mut usize) -> Option<Vec<String>> {
        if target.starts_with('/') {
            return None;
        }
        for part in target.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    at.pop()?;
                }
                name => {
                    at.push(name.to_owned());
                    if let Some(Node::Symlink(next)) = self.nodes.get(&at) {
                        *hops += 1;
                        if *hops > MAX_HOPS {
                            return None;
                        }
                        at.pop();
                        at = self.follow(at, next, hops)?;
                    }
                }
            }
        }
        Some(at)
    }

    /// The first link (by path) whose resolved target leaves the root, with its target.
    pub fn escaping_link(&self) -> Option<(String, String)> {
        self.nodes.iter().find_map(|(path, node)| match node {
            Node::Symlink(target) if self.resolve(path, target).is_none() => {
                Some((path.join("/"), target.clone()))
            }
            _ => None,
        })
    }
}

/// What was unpacked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    pub files: usize,
    pub bytes: u64,
}

/// Counts the compressed bytes a decoder has taken from a layer file.
struct Counted<R> {
    inner: R,
    taken: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.taken.set(self.taken.get() + n as u64);
        Ok(n)
    }
}

/// A layer's decompressed stream, failing (and raising `exceeded`) once it passes `budget`
/// bytes, or `max_expansion` times the compressed bytes read so far. The ratio follows what
/// was read, not the file's size: bytes appended after the gzip stream are never read, and
/// must not raise the cap.
struct Capped<R> {
    inner: flate2::read::GzDecoder<Counted<R>>,
    taken: Rc<Cell<u64>>,
    out: u64,
    budget: u64,
    max_expansion: u64,
    exceeded: Rc<Cell<bool>>,
}

impl<R: Read> Capped<R> {
    fn new(file: R, budget: u64, max_expansion: u64) -> Self {
        let taken = Rc::new(Cell::new(0));
        Capped {
            inner: flate2::read::GzDecoder::new(Counted {
                inner: file,
                taken: taken.clone(),
            }),
            taken,
            out: 0,
            budget,
            max_expansion,
            exceeded: Rc::new(Cell::new(false)),
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out += n as u64;
        let allowed = self
            .taken
            .get()
            .saturating_mul(self.max_expansion)
            .min(self.budget);
        if self.out > allowed {
            self.exceeded.set(true);
            return Err(std::io::Error::other("decompression limit exceeded"));
        }
        Ok(n)
    }
}

/// The most a PAX or GNU long-name record may hold. The tar crate reads such a record whole
/// into memory, so dk reads the archive raw and takes them itself, capped; real ones hold a
/// path or two.
const MAX_EXTENSION_BYTES: u64 = 1 << 20;

/// Calls `visit` with each entry of `archive` and its path and link target, as PAX and GNU
/// long-name records give them. Records are read here, never past [`MAX_EXTENSION_BYTES`];
/// a PAX `size` (files over 8 GiB, which dk never bundles) is refused, since the raw reader
/// would not honour it.
fn each_entry<R: Read>(
    archive: &mut tar::Archive<R>,
    place: &Path,
    mut visit: impl FnMut(&mut tar::Entry<'_, R>, String, Option<String>) -> Result<(), PackageError>,
) -> Result<(), PackageError> {
    use tar::EntryType;
    let lossy = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes.split(|b| *b == 0).next().unwrap_or_default()).into_owned()
    };
    let (mut long_path, mut long_link) = (None, None);
    let entries = archive
        .entries()
        .map_err(|err| PackageError::io(place, err))?
        .raw(true);
    for entry in entries {
        let mut entry = entry.map_err(|err| PackageError::io(place, err))?;
        let kind = entry.header().entry_type();
        let record = matches!(
            kind,
            EntryType::XHeader
                | EntryType::XGlobalHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        );
        if !record {
            let path = long_path
                .take()
                .unwrap_or_else(|| lossy(&entry.path_bytes()));
            let link = long_link
                .take()
                .or_else(|| entry.link_name_bytes().map(|bytes| lossy(&bytes)));
            visit(&mut entry, path, link)?;
            continue;
        }
        let size = entry
            .header()
            .size()
            .map_err(|err| PackageError::io(place, err))?;
        if size > MAX_EXTENSION_BYTES {
            return Err(unsafe_entry(
                &lossy(&entry.path_bytes()),
                &format!(
                    "a {kind:?} record of {size} bytes; dk reads at most {MAX_EXTENSION_BYTES}"
                ),
            ));
        }
        match kind {
            EntryType::GNULongName | EntryType::GNULongLink => {
                let mut bytes = Vec::new();
                entry
                    .read_to_end(&mut bytes)
                    .map_err(|err| PackageError::io(place, err))?;
                let slot = if kind == EntryType::GNULongName {
                    &mut long_path
                } else {
                    &mut long_link
                };
                *slot = Some(lossy(&bytes));
            }
            EntryType::XHeader => {
                let extensions = entry
                    .pax_extensions()
                    .map_err(|err| PackageError::io(place, err))?
                    .into_iter()
                    .flatten();
                for extension in extensions {
                    let extension = extension.map_err(|err| PackageError::io(place, err))?;
                    match extension.key_bytes() {
                        b"path" => long_path = Some(lossy(extension.value_bytes())),
                        b"linkpath" => long_link = Some(lossy(extension.value_bytes())),
                        b"size" => {
                            return Err(unsafe_entry(
                                &long_path.clone().unwrap_or_default(),
                                "a PAX size record (a file over 8 GiB); dk does not bundle those",
                            ));
                        }
                        _ => {}
                    }
                }
            }
            // A global record applies to every later entry; none of its keys matters to dk.
            _ => {}
        }
    }
    Ok(())
}

/// Unpacks gzip-compressed tar layers into `target`, which must not exist or be empty.
pub fn extract(
    layers: &[(PathBuf, LayerKind)],
    target: &Path,
    limits: Limits,
) -> Result<Extracted, PackageError> {
    if target.exists() {
        let empty = std::fs::read_dir(target)
            .map_err(|err| PackageError::io(target, err))?
            .next()
            .is_none();
        if !empty {
            return Err(PackageError::Invalid(format!(
                "{} exists and is not empty",
                target.display()
            )));
        }
    }
    let parent = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|err| PackageError::io(&parent, err))?;
    let staging = tempfile_dir(&parent)?;
    let finished = unpack_layers(layers, &staging, limits).and_then(|extracted| {
        if target.exists() {
            std::fs::remove_dir(target).map_err(|err| PackageError::io(target, err))?;
        }
        std::fs::rename(&staging, target).map_err(|err| PackageError::io(target, err))?;
        Ok(extracted)
    });
    if finished.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    finished
}

fn unpack_layers(
    layers: &[(PathBuf, LayerKind)],
    staging: &Path,
    limits: Limits,
) -> Result<Extracted, PackageError> {
    let mut tree = Tree::default();
    let mut total = Extracted::default();
    let mut budget = limits.max_bytes;
    for (layer, kind) in layers {
        let (file, size) =
            dk_fs::open_regular(layer, u64::MAX).map_err(|err| PackageError::fs(layer, err))?;
        let reader = Capped::new(file, budget, limits.max_expansion);
        let exceeded = reader.exceeded.clone();
        let one = unpack(reader, staging, &mut tree, *kind).map_err(|err| {
            if exceeded.get() {
                PackageError::Invalid(format!(
                    "a layer of {size} bytes expands beyond {} times what was read of it or {budget} bytes (pull.maxExpansion {}, pull.maxBytes {}): refused as a decompression bomb",
                    limits.max_expansion, limits.max_expansion, limits.max_bytes
                ))
            } else {
                err
            }
        })?;
        budget = budget.saturating_sub(one.bytes);
        total.files += one.files;
        total.bytes += one.bytes;
    }
    // A link checked when it was unpacked may lead elsewhere once later entries exist.
    if let Some((path, target)) = tree.escaping_link() {
        return Err(unsafe_entry(
            &path,
            &format!("links to {target}, which resolves outside the folder"),
        ));
    }
    Ok(total)
}

/// A gzip tar layer of the local layout, read within the default decompression limits.
fn layer_archive(layer: &Path) -> Result<tar::Archive<Capped<std::fs::File>>, PackageError> {
    let limits = Limits::default();
    let (file, size) =
        dk_fs::open_regular(layer, u64::MAX).map_err(|err| PackageError::fs(layer, err))?;
    Ok(tar::Archive::new(Capped::new(
        file,
        size.saturating_mul(limits.max_expansion),
        limits.max_expansion,
    )))
}

/// The text files of one gzip tar layer, by path (the manifests layer: small YAML files).
pub fn text_files(layer: &Path) -> Result<Vec<(String, String)>, PackageError> {
    let mut archive = layer_archive(layer)?;
    let mut files = Vec::new();
    each_entry(&mut archive, layer, |entry, path, _| {
        if entry.header().entry_type() == tar::EntryType::Regular {
            let mut text = String::new();
            if entry.read_to_string(&mut text).is_ok() {
                files.push((path, text));
            }
        }
        Ok(())
    })?;
    Ok(files)
}

/// The files and links of one gzip tar layer as [`crate::drift`] compares them, by path.
pub(crate) fn states(layer: &Path) -> Result<Vec<(String, crate::drift::State)>, PackageError> {
    use crate::drift::State;
    let mut archive = layer_archive(layer)?;
    let mut states = Vec::new();
    each_entry(&mut archive, layer, |entry, path, link| {
        let state = match entry.header().entry_type() {
            tar::EntryType::Regular => State::File {
                executable: entry.header().mode().unwrap_or(0) & 0o111 != 0,
                sha256: crate::drift::sha256_of(entry)
                    .map_err(|err| PackageError::io(layer, err))?,
            },
            tar::EntryType::Symlink => State::Link(link.unwrap_or_default()),
            _ => return Ok(()),
        };
        states.push((path, state));
        Ok(())
    })?;
    Ok(states)
}

fn tempfile_dir(parent: &Path) -> Result<PathBuf, PackageError> {
    for attempt in 0..100u32 {
        let dir = parent.join(format!(".dk-pull-{}-{attempt}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(PackageError::io(&dir, err)),
        }
    }
    Err(PackageError::Invalid(format!(
        "cannot create a staging folder in {}",
        parent.display()
    )))
}

fn unpack(
    reader: impl Read,
    root: &Path,
    tree: &mut Tree,
    layer: LayerKind,
) -> Result<Extracted, PackageError> {
    let mut archive = tar::Archive::new(reader);
    let mut extracted = Extracted::default();
    each_entry(&mut archive, root, |entry, name, link| {
        let kind = entry.header().entry_type();
        let parts = contained(&name)
            .ok_or_else(|| unsafe_entry(&name, "absolute, or leaves the folder through .."))?;
        if let Some(why) = layer.refuses(&parts) {
            return Err(unsafe_entry(&name, &why));
        }
        let relative: PathBuf = parts.iter().collect();
        let path = root.join(&relative);
        // Every folder of the entry must be a real folder: a link placed earlier must not
        // redirect it, and a file must not be opened as a folder.
        for depth in 1..parts.len() {
            match tree.get(&parts[..depth]) {
                Some(Node::Symlink(_)) => {
                    return Err(unsafe_entry(&name, "its folder is a link"));
                }
                Some(Node::File) => return Err(unsafe_entry(&name, "its folder is a file")),
                Some(Node::Dir) => {}
                None => tree.insert(parts[..depth].to_vec(), Node::Dir),
            }
        }
        let existing = tree.get(&parts).cloned();
        if existing.is_some() && !(existing == Some(Node::Dir) && kind.is_dir()) {
            return Err(unsafe_entry(&name, "appears twice in the artifact"));
        }
        if let Some(parent) = relative.parent().filter(|p| !p.as_os_str().is_empty()) {
            dk_fs::create_dir_all_beneath(root, parent)
                .map_err(|err| PackageError::fs(&path, err))?;
        }
        match kind {
            tar::EntryType::Directory => {
                dk_fs::create_dir_all_beneath(root, &relative)
                    .map_err(|err| PackageError::fs(&path, err))?;
                tree.insert(parts, Node::Dir);
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let executable = entry.header().mode().unwrap_or(0o644) & 0o111 != 0;
                let mut file = dk_fs::AtomicFile::create_beneath(root, &relative)
                    .map_err(|err| PackageError::fs(&path, err))?;
                file.set_mode(if executable { 0o755 } else { 0o644 })
                    .map_err(|err| PackageError::fs(&path, err))?;
                extracted.bytes +=
                    std::io::copy(entry, &mut file).map_err(|err| PackageError::io(&path, err))?;
                file.flush().map_err(|err| PackageError::io(&path, err))?;
                file.commit().map_err(|err| PackageError::fs(&path, err))?;
                tree.insert(parts, Node::File);
                extracted.files += 1;
            }
            tar::EntryType::Symlink => {
                let target = link.clone().unwrap_or_default();
                if tree.resolve(&parts, &target).is_none() {
                    return Err(unsafe_entry(
                        &name,
                        &format!("links to {target}, which resolves outside the folder"),
                    ));
                }
                std::os::unix::fs::symlink(&target, &path)
                    .map_err(|err| PackageError::io(&path, err))?;
                tree.insert(parts, Node::Symlink(target));
                extracted.files += 1;
            }
            tar::EntryType::Link => {
                let target = link.clone().unwrap_or_default();
                // Only a regular file this artifact unpacked before: never through a link, never
                // anything already on the disk.
                let source = contained(&target)
                    .filter(|source| tree.get(source) == Some(&Node::File))
                    .ok_or_else(|| {
                        unsafe_entry(
                            &name,
                            &format!(
                                "a hard link to {target}, which is not a regular file unpacked before from this artifact"
                            ),
                        )
                    })?;
                let source_path = root.join(source.iter().collect::<PathBuf>());
                std::fs::hard_link(&source_path, &path)
                    .map_err(|err| PackageError::io(&path, err))?;
                tree.insert(parts, Node::File);
                extracted.files += 1;
            }
            other => {
                return Err(unsafe_entry(
                    &name,
                    &format!("a {other:?} entry; only files, folders and links are unpacked"),
                ));
            }
        }
        Ok(())
    })?;
    Ok(extracted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> Vec<String> {
        text.split('/').map(str::to_owned).collect()
    }

    #[test]
    fn links_resolve_through_links_already_there() {
        let mut tree = Tree::default();
        tree.insert(path("a"), Node::Dir);
        assert!(tree.resolve(&path("a/b"), "c").is_some());
        assert!(tree.resolve(&path("a/b"), "../c").is_some());
        assert!(tree.resolve(&path("a/b"), "../../c").is_none());
        assert!(tree.resolve(&path("a"), "/etc/passwd").is_none());
        assert!(tree.resolve(&path("a/b/c"), "./../d/./e").is_some());
        tree.insert(path("l0"), Node::Symlink(".".into()));
        assert_eq!(tree.resolve(&path("l1"), "l0"), Some(vec![]));
        assert_eq!(tree.resolve(&path("l1"), "l0/.."), None, "l0 is the root");
        tree.insert(path("a/up"), Node::Symlink("..".into()));
        assert_eq!(tree.resolve(&path("x"), "a/up/a"), Some(path("a")));
        assert_eq!(tree.resolve(&path("x"), "a/up/.."), None);
        tree.insert(path("loop"), Node::Symlink("loop".into()));
        assert_eq!(tree.resolve(&path("x"), "loop"), None);
    }

    #[test]
    fn paths_must_be_relative_and_contained() {
        assert_eq!(contained("a/./b"), Some(vec!["a".into(), "b".into()]));
        assert_eq!(contained("/etc/passwd"), None);
        assert_eq!(contained("a/../../b"), None);
        assert_eq!(contained("."), None);
    }

    use dk_test::registry::{Crafted, link_chain as chain};

    fn layer(dir: &Path, entries: &[Crafted]) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let file = dir.join(format!("layer-{}.tar.gz", entries.len()));
        std::fs::write(&file, dk_test::registry::layer(entries)).unwrap();
        file
    }

    /// A crafted artifact must not plant the virtualenv dk would reuse (its marker names the
    /// requirements), wheels it would install from, or dk settings: refused, nothing unpacked.
    #[test]
    fn folders_dk_makes_are_refused_in_an_artifacts_files() {
        let dir = tempfile::tempdir().unwrap();
        let planted = [
            Crafted::File(".venv/bin/python".into(), b"#!/bin/sh\n".to_vec()),
            Crafted::File(".venv/.dk-requirements-sha256".into(), b"0".to_vec()),
            Crafted::File(
                "./.dk-wheels/evil-1.0-py3-none-any.whl".into(),
                b"PK".to_vec(),
            ),
            Crafted::File(".dk/config.yaml".into(), b"{}".to_vec()),
            Crafted::Dir(".venv".into()),
            Crafted::Symlink(".venv".into(), "lib".into()),
        ];
        for (i, entry) in planted.into_iter().enumerate() {
            let entries = [Crafted::File("main.py".into(), b"print(1)".to_vec()), entry];
            let layer = layer(&dir.path().join(i.to_string()), &entries);
            let out = dir.path().join(format!("out-{i}"));
            let err = extract(&[(layer, LayerKind::Package)], &out, Limits::default()).unwrap_err();
            assert!(err.to_string().contains("made by dk"), "{i}: {err}");
            assert!(!out.exists(), "{i}: something was unpacked");
        }
        let wheel = Crafted::File(".dk-wheels/a-1.0-py3-none-any.whl".into(), b"PK".to_vec());
        let wheels = layer(&dir.path().join("w"), std::slice::from_ref(&wheel));
        let out = dir.path().join("out-wheels");
        extract(&[(wheels, LayerKind::Wheels)], &out, Limits::default()).unwrap();
        assert!(out.join(".dk-wheels/a-1.0-py3-none-any.whl").is_file());
        let mixed = layer(
            &dir.path().join("m"),
            &[wheel, Crafted::File(".venv/bin/python".into(), Vec::new())],
        );
        let err = extract(
            &[(mixed, LayerKind::Wheels)],
            &dir.path().join("out-mixed"),
            Limits::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("wheels layer holds only"), "{err}");
        assert!(is_managed(".venv/bin/python") && is_managed(".dk") && !is_managed("venv.py"));
    }

    #[test]
    fn a_chain_of_links_reaching_out_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut entries = chain();
        entries.push(Crafted::HardLink("passwd".into(), "l15/etc/passwd".into()));
        let layer = layer(dir.path(), &entries);
        let target = dir.path().join("out");
        let err = extract(&[(layer, LayerKind::Package)], &target, Limits::default()).unwrap_err();
        assert!(err.to_string().contains("l1:"), "{err}");
        assert!(!target.exists(), "nothing written");
    }

    #[test]
    fn hard_links_only_to_files_unpacked_before() {
        let dir = tempfile::tempdir().unwrap();
        let good = layer(
            dir.path(),
            &[
                Crafted::File("a/data.csv".into(), b"x,y\n".to_vec()),
                Crafted::HardLink("copy.csv".into(), "a/data.csv".into()),
            ],
        );
        let out = dir.path().join("good");
        let extracted = extract(&[(good, LayerKind::Package)], &out, Limits::default()).unwrap();
        assert_eq!(extracted.files, 2);
        assert_eq!(std::fs::read(out.join("copy.csv")).unwrap(), b"x,y\n");
        for bad in [
            vec![
                Crafted::Symlink("l".into(), "a".into()),
                Crafted::File("a/f".into(), b"f".to_vec()),
                Crafted::HardLink("h".into(), "l/f".into()),
            ],
            vec![Crafted::HardLink("h".into(), "missing".into())],
            vec![
                Crafted::Dir("d".into()),
                Crafted::HardLink("h".into(), "d".into()),
            ],
        ] {
            let layer = layer(dir.path(), &bad);
            let out = dir.path().join("bad");
            assert!(
                extract(&[(layer, LayerKind::Package)], &out, Limits::default()).is_err(),
                "{bad:?}"
            );
            assert!(!out.exists());
        }
    }

    #[test]
    fn a_link_made_to_escape_by_a_later_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        // `a -> x/..` looks like the root while x is missing; `x -> .` makes it the parent.
        let layer = layer(
            dir.path(),
            &[
                Crafted::Symlink("a".into(), "x/..".into()),
                Crafted::Symlink("x".into(), ".".into()),
            ],
        );
        let err = extract(
            &[(layer, LayerKind::Package)],
            &dir.path().join("out"),
            Limits::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("refused a"), "{err}");
    }

    #[test]
    fn bytes_after_the_gzip_stream_do_not_raise_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes =
            dk_test::registry::layer(&[Crafted::File("zeros".into(), vec![0; 4 << 20])]);
        // Never decompressed, but 40 MiB of file would allow 4 GiB at 100 times its size.
        bytes.resize(bytes.len() + (40 << 20), 0);
        let file = dir.path().join("padded.tar.gz");
        std::fs::write(&file, bytes).unwrap();
        let err = extract(
            &[(file, LayerKind::Package)],
            &dir.path().join("out"),
            Limits::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("decompression bomb"), "{err}");
    }

    /// A tar of one `kind` record of `size` bytes (compressing to almost nothing), then a file.
    fn record_layer(dir: &Path, kind: tar::EntryType, data: &[u8]) -> PathBuf {
        let gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let mut tar = tar::Builder::new(gzip);
        let mut record = tar::Header::new_gnu();
        record.set_entry_type(kind);
        record.set_size(data.len() as u64);
        record.set_cksum();
        tar.append(&record, data).unwrap();
        let mut file = tar::Header::new_gnu();
        file.set_entry_type(tar::EntryType::Regular);
        file.set_mode(0o644);
        file.set_size(2);
        tar.append_data(&mut file, "short", &b"ok"[..]).unwrap();
        let bytes = tar.into_inner().unwrap().finish().unwrap();
        let path = dir.join(format!("record-{}.tar.gz", data.len()));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn pax_and_long_name_records_are_capped_and_honoured() {
        let dir = tempfile::tempdir().unwrap();
        for kind in [
            tar::EntryType::XHeader,
            tar::EntryType::GNULongName,
            tar::EntryType::XGlobalHeader,
        ] {
            // The tar crate would hold all 64 MiB in memory before dk saw the entry.
            let huge = record_layer(dir.path(), kind, &vec![b'a'; 64 << 20]);
            let err = extract(
                &[(huge, LayerKind::Package)],
                &dir.path().join("out"),
                Limits::default(),
            )
            .unwrap_err();
            assert!(
                err.to_string().contains("dk reads at most"),
                "{kind:?}: {err}"
            );
            assert!(!dir.path().join("out").exists());
        }
        let long = format!("{}/file.csv", "d".repeat(150));
        let pax = format!("{} path={long}\n", long.len() + 7);
        let pax = format!("{} path={long}\n", pax.len());
        let named = record_layer(dir.path(), tar::EntryType::XHeader, pax.as_bytes());
        let out = dir.path().join("pax");
        extract(&[(named, LayerKind::Package)], &out, Limits::default()).unwrap();
        assert_eq!(std::fs::read(out.join(&long)).unwrap(), b"ok");
        let gnu = record_layer(
            dir.path(),
            tar::EntryType::GNULongName,
            format!("{long}\0").as_bytes(),
        );
        let out = dir.path().join("gnu");
        extract(&[(gnu, LayerKind::Package)], &out, Limits::default()).unwrap();
        assert_eq!(std::fs::read(out.join(&long)).unwrap(), b"ok");
        let escaping = record_layer(dir.path(), tar::EntryType::GNULongName, b"../../escape\0");
        let err = extract(
            &[(escaping, LayerKind::Package)],
            &dir.path().join("esc"),
            Limits::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("../../escape"), "{err}");
    }

    #[test]
    fn decompression_is_capped() {
        let dir = tempfile::tempdir().unwrap();
        let layer = layer(
            dir.path(),
            &[Crafted::File("zeros".into(), vec![0; 4 << 20])],
        );
        let limits = Limits {
            max_expansion: 100,
            max_bytes: 1 << 40,
        };
        let err = extract(
            &[(layer.clone(), LayerKind::Package)],
            &dir.path().join("out"),
            limits,
        )
        .unwrap_err();
        assert!(err.to_string().contains("decompression bomb"), "{err}");
        let total = Limits {
            max_expansion: 1 << 20,
            max_bytes: 1 << 20,
        };
        assert!(
            extract(
                &[(layer.clone(), LayerKind::Package)],
                &dir.path().join("out"),
                total
            )
            .is_err()
        );
        let generous = Limits {
            max_expansion: 1 << 20,
            max_bytes: 1 << 30,
        };
        assert!(
            extract(
                &[(layer, LayerKind::Package)],
                &dir.path().join("out"),
                generous
            )
            .is_ok()
        );
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        fn name() -> impl Strategy<Value = String> {
            prop::collection::vec(
                prop_oneof![
                    Just("a".to_owned()),
                    Just("b".to_owned()),
                    Just("..".to_owned()),
                    Just(".".to_owned()),
                    Just("".to_owned()),
                    Just("l0".to_owned()),
                    Just("l1".to_owned()),
                    Just("etc".to_owned()),
                ],
                1..5,
            )
            .prop_map(|parts| parts.join("/"))
        }

        fn entry() -> impl Strategy<Value = Crafted> {
            prop_oneof![
                (name(), prop::collection::vec(any::<u8>(), 0..8))
                    .prop_map(|(n, d)| Crafted::File(n, d)),
                name().prop_map(Crafted::Dir),
                (name(), name()).prop_map(|(n, t)| Crafted::Symlink(n, t)),
                (
                    name(),
                    prop_oneof![name(), name().prop_map(|n| format!("/{n}"))]
                )
                    .prop_map(|(n, t)| Crafted::Symlink(n, t)),
                (name(), name()).prop_map(|(n, t)| Crafted::HardLink(n, t)),
            ]
        }

        /// Every path below `dir`, without following links, with what each link resolves to.
        fn escapes(root: &Path, dir: &Path) -> Vec<String> {
            let mut found = Vec::new();
            for item in std::fs::read_dir(dir).unwrap() {
                let path = item.unwrap().path();
                let meta = std::fs::symlink_metadata(&path).unwrap();
                if meta.is_dir() {
                    found.extend(escapes(root, &path));
                } else if meta.file_type().is_symlink() {
                    // The kernel's answer: where the link leads, if anywhere.
                    if let Ok(real) = path.canonicalize()
                        && !real.starts_with(root)
                    {
                        found.push(format!("{} -> {}", path.display(), real.display()));
                    }
                }
            }
            found
        }

        proptest! {
            // PROPTEST_CASES raises the number of cases (default 256).
            #[test]
            fn nothing_is_created_outside_the_target(
                entries in prop::collection::vec(entry(), 1..12),
                prefix_chain in any::<bool>(),
            ) {
                let dir = tempfile::tempdir().unwrap();
                let sandbox = dir.path().join("sandbox");
                std::fs::create_dir(&sandbox).unwrap();
                let outside = dir.path().join("outside");
                std::fs::create_dir(&outside).unwrap();
                std::fs::write(outside.join("secret"), b"s").unwrap();
                let mut all = if prefix_chain { chain() } else { Vec::new() };
                all.extend(entries);
                let layer = layer(dir.path(), &all);
                let out = sandbox.join("out");
                let result = extract(&[(layer, LayerKind::Package)], &out, Limits::default());
                let root = sandbox.canonicalize().unwrap().join("out");
                let mut names: Vec<_> = std::fs::read_dir(dir.path()).unwrap()
                    .map(|e| e.unwrap().file_name().into_string().unwrap())
                    .filter(|n| !n.starts_with("layer-"))
                    .collect();
                names.sort();
                prop_assert_eq!(names, vec!["outside".to_owned(), "sandbox".to_owned()]);
                prop_assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);
                let meta = std::fs::metadata(outside.join("secret")).unwrap();
                prop_assert_eq!(std::os::unix::fs::MetadataExt::nlink(&meta), 1);
                let sandbox_names: Vec<_> = std::fs::read_dir(&sandbox).unwrap()
                    .map(|e| e.unwrap().file_name())
                    .collect();
                match result {
                    Ok(_) => {
                        prop_assert_eq!(sandbox_names.len(), 1);
                        prop_assert_eq!(escapes(&root, &out), Vec::<String>::new());
                    }
                    Err(_) => prop_assert!(sandbox_names.is_empty(), "nothing left behind"),
                }
            }
        }
    }
}
