//! Writing new manifests for `dk dataset|store|connector create`: canonical YAML (apiVersion,
//! kind, metadata, spec; block style) in the kind's folder of a package or project root.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::discover::child;
use crate::model::{Kind, Manifest, is_dns_label};
use crate::yaml::render_block;

#[derive(Debug, thiserror::Error)]
pub enum AuthoringError {
    #[error("`{name}` is not a DNS label")]
    InvalidName { name: String },
    #[error("{} already exists", path.display())]
    Exists { path: PathBuf },
    #[error("cannot write {0}")]
    Io(#[from] dk_fs::FsError),
}

/// A manifest as dk writes it.
pub fn render<S: Serialize>(manifest: &Manifest<S>) -> String {
    let value = serde_json::to_value(manifest).unwrap_or_default();
    render_block(&value, 0)
}

/// Where a manifest of `kind` named `name` lives below `dir` (a package or a project root).
/// The name becomes a file name, so only a DNS label is accepted: it can neither leave the
/// folder (`../x`) nor hide in it (`.x`), and lint would refuse anything else anyway.
pub fn manifest_path(dir: &Path, kind: Kind, name: &str) -> Result<PathBuf, AuthoringError> {
    if !is_dns_label(name) {
        return Err(AuthoringError::InvalidName {
            name: name.escape_debug().to_string(),
        });
    }
    let folder = kind.folder().unwrap_or_default();
    Ok(child(dir, folder).join(format!("{name}.yaml")))
}

/// Writes `text` to `path`, refusing to replace an existing file (or link) unless `force`. The
/// write is atomic and replaces a link at `path` rather than writing through it.
pub fn write(path: &Path, text: &str, force: bool) -> Result<(), AuthoringError> {
    if path.symlink_metadata().is_ok() && !force {
        return Err(AuthoringError::Exists {
            path: path.to_owned(),
        });
    }
    Ok(dk_fs::write_atomic(path, text.as_bytes())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{AnyManifest, read_manifests};
    use crate::model::builtin_connector;
    use crate::yaml::Source;

    #[test]
    fn rendered_manifests_read_back_unchanged() {
        let connector = builtin_connector("postgres").unwrap();
        let text = render(&connector);
        assert!(text.starts_with("apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Connector\nmetadata:\n  name: postgres\n"), "{text}");
        let mut problems = Vec::new();
        let manifests = read_manifests(&Source::file("c.yaml", text), &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let Some(Ok(AnyManifest::Connector(read))) = manifests.into_iter().next() else {
            panic!()
        };
        assert_eq!(read.manifest, connector);
    }

    #[test]
    fn writing_refuses_to_replace_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let path = manifest_path(dir.path(), Kind::Store, "db").unwrap();
        for name in ["../db", "a/../b", "", "a\nb", "🦀", "Db", ".db"] {
            assert!(matches!(
                manifest_path(dir.path(), Kind::Store, name),
                Err(AuthoringError::InvalidName { .. })
            ));
        }
        write(&path, "a: 1\n", false).unwrap();
        assert!(matches!(
            write(&path, "a: 2\n", false),
            Err(AuthoringError::Exists { .. })
        ));
        write(&path, "a: 2\n", true).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a: 2\n");
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1,
            "no staging file left"
        );
    }
}
