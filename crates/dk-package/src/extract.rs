//! Unpacking an artifact's layers into a directory, refusing anything that could write outside
//! it: absolute paths, `..`, links whose target leaves the directory, devices. Everything is
//! unpacked into a temporary sibling first and moved into place at the end, so an invalid
//! artifact writes nothing.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::PackageError;

/// Why an archive entry was refused.
fn unsafe_entry(path: &str, why: &str) -> PackageError {
    PackageError::Unsafe {
        path: path.to_owned(),
        reason: why.to_owned(),
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

/// Whether a symlink at `path` pointing to `target` resolves inside the root (lexically).
pub fn link_stays_inside(path: &str, target: &str) -> bool {
    if Path::new(target).is_absolute() {
        return false;
    }
    let mut depth: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    depth.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if depth.pop().is_none() {
                    return false;
                }
            }
            other => depth.push(other),
        }
    }
    true
}

/// What was unpacked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    pub files: usize,
    pub bytes: u64,
}

/// Unpacks gzip-compressed tar layers into `target`, which must not exist or be empty.
pub fn extract(layers: &[PathBuf], target: &Path) -> Result<Extracted, PackageError> {
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
    let result = layers
        .iter()
        .try_fold(Extracted::default(), |total, layer| {
            let file = std::fs::File::open(layer).map_err(|err| PackageError::io(layer, err))?;
            let one = unpack(flate2::read::GzDecoder::new(file), &staging)?;
            Ok(Extracted {
                files: total.files + one.files,
                bytes: total.bytes + one.bytes,
            })
        });
    let finished = result.and_then(|extracted| {
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

/// The text files of one gzip tar layer, by path (the manifests layer: small YAML files).
pub fn text_files(layer: &Path) -> Result<Vec<(String, String)>, PackageError> {
    let file = std::fs::File::open(layer).map_err(|err| PackageError::io(layer, err))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut files = Vec::new();
    for entry in archive
        .entries()
        .map_err(|err| PackageError::io(layer, err))?
    {
        let mut entry = entry.map_err(|err| PackageError::io(layer, err))?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let path = entry
            .path()
            .map_err(|err| PackageError::io(layer, err))?
            .display()
            .to_string();
        let mut text = String::new();
        if entry.read_to_string(&mut text).is_ok() {
            files.push((path, text));
        }
    }
    Ok(files)
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

fn unpack(reader: impl Read, root: &Path) -> Result<Extracted, PackageError> {
    use std::os::unix::fs::PermissionsExt;
    let mut archive = tar::Archive::new(reader);
    let mut extracted = Extracted::default();
    let entries = archive
        .entries()
        .map_err(|err| PackageError::io(root, err))?;
    for entry in entries {
        let mut entry = entry.map_err(|err| PackageError::io(root, err))?;
        let raw = entry.path().map_err(|err| PackageError::io(root, err))?;
        let name = raw.to_string_lossy().into_owned();
        let parts = contained(&name)
            .ok_or_else(|| unsafe_entry(&name, "absolute, or leaves the folder through .."))?;
        let path = parts
            .iter()
            .fold(root.to_owned(), |path, part| path.join(part));
        // A link placed earlier must not redirect this entry: every parent must be a real folder.
        let mut parent = root.to_owned();
        for part in &parts[..parts.len() - 1] {
            parent.push(part);
            match std::fs::symlink_metadata(&parent) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(unsafe_entry(&name, "its folder is a link"));
                }
                Ok(meta) if !meta.is_dir() => {
                    return Err(unsafe_entry(&name, "its folder is a file"));
                }
                Ok(_) => {}
                Err(_) => {
                    std::fs::create_dir(&parent).map_err(|err| PackageError::io(&parent, err))?
                }
            }
        }
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Directory => {
                std::fs::create_dir_all(&path).map_err(|err| PackageError::io(&path, err))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let executable = entry.header().mode().unwrap_or(0o644) & 0o111 != 0;
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .map_err(|err| PackageError::io(&path, err))?;
                extracted.bytes += std::io::copy(&mut entry, &mut file)
                    .map_err(|err| PackageError::io(&path, err))?;
                let mode = if executable { 0o755 } else { 0o644 };
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                    .map_err(|err| PackageError::io(&path, err))?;
                extracted.files += 1;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(|err| PackageError::io(&path, err))?
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if !link_stays_inside(&parts.join("/"), &target) {
                    return Err(unsafe_entry(
                        &name,
                        &format!("links to {target}, outside the folder"),
                    ));
                }
                std::os::unix::fs::symlink(&target, &path)
                    .map_err(|err| PackageError::io(&path, err))?;
                extracted.files += 1;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(|err| PackageError::io(&path, err))?
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let source = contained(&target).ok_or_else(|| {
                    unsafe_entry(&name, "a hard link to a file outside the folder")
                })?;
                let source = source.iter().fold(root.to_owned(), |p, part| p.join(part));
                let meta = std::fs::symlink_metadata(&source)
                    .map_err(|_| unsafe_entry(&name, "a hard link to a file not in the archive"))?;
                if !meta.is_file() {
                    return Err(unsafe_entry(&name, "a hard link to something not a file"));
                }
                std::fs::hard_link(&source, &path).map_err(|err| PackageError::io(&path, err))?;
                extracted.files += 1;
            }
            // PAX and GNU long-name records are consumed by the tar reader itself.
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => {}
            other => {
                return Err(unsafe_entry(
                    &name,
                    &format!("a {other:?} entry; only files, folders and links are unpacked"),
                ));
            }
        }
    }
    Ok(extracted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_must_stay_inside() {
        assert!(link_stays_inside("a/b", "c"));
        assert!(link_stays_inside("a/b", "../c"));
        assert!(!link_stays_inside("a/b", "../../c"));
        assert!(!link_stays_inside("a", "/etc/passwd"));
        assert!(link_stays_inside("a/b/c", "./../d/./e"));
    }

    #[test]
    fn paths_must_be_relative_and_contained() {
        assert_eq!(contained("a/./b"), Some(vec!["a".into(), "b".into()]));
        assert_eq!(contained("/etc/passwd"), None);
        assert_eq!(contained("a/../../b"), None);
        assert_eq!(contained("."), None);
    }
}
