//! Whether a package on disk is still what a build of it holds: the file set, each file's mode
//! and contents, and each link's target, compared file by file. The artifact's digest cannot
//! tell: it also depends on the commit time the build took as its epoch. Vendored wheels are
//! the build's, not the package's, and are left out on both sides.

use std::collections::BTreeMap;
use std::io::Read;

use crate::PackageError;
use crate::bundle::{Entry, EntryKind, is_wheel};
use crate::layout::{HashingWriter, Layout, Manifest, TITLE};

/// One file as a build holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    File { executable: bool, sha256: String },
    Link(String),
}

/// How one path differs between the package on disk and the build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// On disk, not in the build.
    Added,
    /// In the build, no longer on disk.
    Removed,
    /// Other contents (or a link to elsewhere, or a file that became a link).
    Modified,
    /// Same contents, the executable bit differs.
    Mode,
}

impl Change {
    pub fn word(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Modified => "modified",
            Change::Mode => "mode changed",
        }
    }
}

/// The paths that differ, sorted, each with how; empty when the build is the package on disk.
pub fn compare(
    entries: &[Entry],
    layout: &Layout,
    manifest: &Manifest,
) -> Result<Vec<(String, Change)>, PackageError> {
    Ok(differ(
        &of_artifact(layout, manifest)?,
        &of_entries(entries)?,
    ))
}

/// The paths that differ from `old` to `new` (a build and the disk, or two builds), sorted.
pub fn differ(
    old: &BTreeMap<String, State>,
    new: &BTreeMap<String, State>,
) -> Vec<(String, Change)> {
    let mut changes = Vec::new();
    for (path, now) in new {
        let change = match (old.get(path), now) {
            (None, _) => Some(Change::Added),
            (Some(then), now) if then == now => None,
            (
                Some(State::File { sha256: then, .. }),
                State::File {
                    sha256: now_sha256, ..
                },
            ) if then == now_sha256 => Some(Change::Mode),
            (Some(_), _) => Some(Change::Modified),
        };
        changes.extend(change.map(|change| (path.clone(), change)));
    }
    changes.extend(
        old.keys()
            .filter(|path| !new.contains_key(*path))
            .map(|path| (path.clone(), Change::Removed)),
    );
    changes.sort_by(|a, b| a.0.cmp(&b.0));
    changes
}

/// The files of a package's selection ([`crate::bundle::select`]), hashed.
pub fn of_entries(entries: &[Entry]) -> Result<BTreeMap<String, State>, PackageError> {
    let mut states = BTreeMap::new();
    for entry in entries.iter().filter(|entry| !is_wheel(&entry.path)) {
        let state = match &entry.kind {
            EntryKind::File { size, executable } => {
                let (file, _) = dk_fs::open_regular(&entry.source, u64::MAX)
                    .map_err(|err| PackageError::fs(&entry.source, err))?;
                State::File {
                    executable: *executable,
                    sha256: sha256_of(file.take(*size))
                        .map_err(|err| PackageError::io(&entry.source, err))?,
                }
            }
            EntryKind::Symlink { target } => State::Link(target.clone()),
        };
        states.insert(entry.path.clone(), state);
    }
    Ok(states)
}

/// The files of a built artifact's layers, but its wheels.
pub fn of_artifact(
    layout: &Layout,
    manifest: &Manifest,
) -> Result<BTreeMap<String, State>, PackageError> {
    let mut states = BTreeMap::new();
    for layer in &manifest.layers {
        if layer.annotations.get(TITLE).map(String::as_str) == Some(crate::wheels::LAYER) {
            continue;
        }
        let path = layout.blob_path(&layer.digest)?;
        states.extend(crate::extract::states(&path)?);
    }
    Ok(states)
}

pub(crate) fn sha256_of(mut reader: impl Read) -> std::io::Result<String> {
    let mut hashing = HashingWriter::new(std::io::sink());
    std::io::copy(&mut reader, &mut hashing)?;
    Ok(hashing.finish().0)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::bundle::{BundleSpec, bundle, select};

    #[test]
    fn a_build_matches_its_package_until_a_file_mode_or_link_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pkg");
        std::fs::create_dir_all(dir.join("dataset")).unwrap();
        std::fs::write(dir.join("dk.yaml"), "kind: Transform\n").unwrap();
        std::fs::write(dir.join("dataset/a.yaml"), "kind: DataSet\n").unwrap();
        std::fs::write(dir.join("main.py"), "print(1)\n").unwrap();
        std::fs::write(dir.join("run.sh"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(dir.join("run.sh"), PermissionsExt::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("main.py", dir.join("entry.py")).unwrap();
        let layout = Layout::open(&tmp.path().join("registry")).unwrap();
        let spec = BundleSpec {
            name: "pkg".into(),
            namespace: "default".into(),
            tag: "v1.0.0".into(),
            transform: serde_json::json!({}),
            epoch: 0,
            revision: None,
            source: None,
            dk_version: "test".into(),
            annotations: Default::default(),
        };
        let built = bundle(&select(&dir).unwrap(), &spec, &layout, &|_| {}).unwrap();
        let now = || compare(&select(&dir).unwrap(), &layout, &built.manifest).unwrap();
        assert_eq!(now(), []);

        std::fs::write(dir.join("main.py"), "print(2)\n").unwrap();
        std::fs::write(dir.join("extra.py"), "").unwrap();
        std::fs::remove_file(dir.join("dataset/a.yaml")).unwrap();
        std::fs::set_permissions(dir.join("run.sh"), PermissionsExt::from_mode(0o644)).unwrap();
        std::fs::remove_file(dir.join("entry.py")).unwrap();
        std::os::unix::fs::symlink("run.sh", dir.join("entry.py")).unwrap();
        assert_eq!(
            now(),
            [
                ("dataset/a.yaml".to_owned(), Change::Removed),
                ("entry.py".to_owned(), Change::Modified),
                ("extra.py".to_owned(), Change::Added),
                ("main.py".to_owned(), Change::Modified),
                ("run.sh".to_owned(), Change::Mode),
            ]
        );
    }
}
