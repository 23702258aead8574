//! Reading manifest files into typed manifests.
//!
//! Loading never stops at the first mistake: every problem found (syntax, unknown field, wrong
//! type, unknown kind, ...) is recorded with its location, and the remaining documents are still
//! read. `dk-validate` turns these problems into findings with stable codes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::model::{
    API_VERSION, Connector, DataSet, DataSetGroup, Kind, Manifest, Store, Transform,
};
use crate::suggest::did_you_mean;
use crate::yaml::{self, DeError, Location, Node, Source, SyntaxError, UnknownField};

/// A manifest together with the YAML tree it was read from, so rules can point at any field.
#[derive(Debug, Clone)]
pub struct Loaded<T> {
    pub manifest: T,
    pub node: Node,
}

impl<T> Loaded<T> {
    pub fn source(&self) -> &Arc<Source> {
        &self.node.source
    }

    /// Where the field at `path` is written (see [`Node::locate`]).
    pub fn locate(&self, path: &[yaml::Seg]) -> Location {
        self.node.locate(path)
    }
}

impl<S> Loaded<Manifest<S>> {
    pub fn name(&self) -> &str {
        self.manifest.name()
    }
}

/// A manifest of any kind.
#[derive(Debug, Clone)]
pub enum AnyManifest {
    Transform(Loaded<Transform>),
    DataSet(Loaded<DataSet>),
    DataSetGroup(Loaded<DataSetGroup>),
    Store(Loaded<Store>),
    Connector(Loaded<Connector>),
}

/// A document that names a manifest but could not be read as one. Its name is kept so that
/// references to it are not reported a second time as unknown names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub kind: Kind,
    pub name: Option<String>,
}

/// Something wrong found while reading manifests.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("{path}: cannot read file: {message}")]
    Unreadable { path: PathBuf, message: String },
    #[error("{0}")]
    Syntax(#[from] SyntaxError),
    #[error("unknown field `{}`", .0.key)]
    UnknownField(UnknownField),
    #[error("{0}")]
    Invalid(DeError),
    #[error("a manifest must be a mapping with apiVersion, kind, metadata and spec")]
    NotAMapping { location: Location },
    #[error("missing `kind`")]
    MissingKind { location: Location },
    #[error("unknown kind `{found}`")]
    UnknownKind {
        found: String,
        location: Location,
        suggestion: Option<&'static str>,
    },
    #[error("unsupported apiVersion `{found}`")]
    ApiVersion { found: String, location: Location },
    #[error("{kind} manifest in the {folder}/ folder")]
    MisplacedKind {
        kind: Kind,
        folder: String,
        location: Location,
    },
    #[error("dk.yaml must hold a Transform{}", found.map_or(String::new(), |kind| format!(", found a {kind}")))]
    NotATransform {
        found: Option<Kind>,
        location: Location,
    },
    #[error(transparent)]
    Override(crate::overrides::OverrideError),
    #[error("{kind} `{name}` is defined twice")]
    DuplicateName {
        kind: Kind,
        name: String,
        location: Location,
        first: Location,
    },
}

impl Problem {
    /// Where the problem is, when it has a place in a file.
    pub fn location(&self) -> Option<&Location> {
        match self {
            Problem::Unreadable { .. } | Problem::Override(_) => None,
            Problem::Syntax(err) => Some(&err.location),
            Problem::UnknownField(field) => Some(&field.location),
            Problem::Invalid(err) => err.location.as_ref(),
            Problem::NotAMapping { location }
            | Problem::MissingKind { location }
            | Problem::UnknownKind { location, .. }
            | Problem::ApiVersion { location, .. }
            | Problem::MisplacedKind { location, .. }
            | Problem::NotATransform { location, .. }
            | Problem::DuplicateName { location, .. } => Some(location),
        }
    }
}

/// The largest manifest file dk reads: the most YAML it parses at once.
pub const MANIFEST_MAX_BYTES: u64 = yaml::MAX_TEXT_BYTES as u64;

/// Reads a manifest file (see [`read_yaml`]).
pub fn read_source(path: &Path) -> Result<Arc<Source>, Problem> {
    read_yaml(path, MANIFEST_MAX_BYTES)
}

/// Reads a YAML file of at most `limit` bytes; `path` is kept as given, since it is how
/// messages name the file. Only regular files are read, so a FIFO or a link to `/dev/zero` is
/// an unreadable file rather than a hang; a file over the limit is a limit exceeded.
pub fn read_yaml(path: &Path, limit: u64) -> Result<Arc<Source>, Problem> {
    match dk_fs::read_to_string(path, limit) {
        Ok(text) => Ok(Source::file(path, text)),
        Err(dk_fs::FsError::TooLarge { limit, .. }) => Err(Problem::Syntax(SyntaxError::limit(
            format!("the file is larger than {limit} bytes"),
            Location::file_start(Source::file(path, "")),
        ))),
        Err(err) => Err(Problem::Unreadable {
            path: path.to_owned(),
            message: unreadable_reason(&err),
        }),
    }
}

/// Why a file could not be read, without repeating its path (messages name it already).
pub fn unreadable_reason(err: &dk_fs::FsError) -> String {
    match err {
        dk_fs::FsError::Io { source, .. } => source.to_string(),
        dk_fs::FsError::NotRegular { kind, .. } => format!("it is {kind}, not a regular file"),
        other => other.to_string(),
    }
}

/// Reads every document of a source as a manifest. Documents that fail are returned as
/// [`Broken`] (when their kind is known) and their problems appended to `problems`.
pub fn read_manifests(
    source: &Arc<Source>,
    problems: &mut Vec<Problem>,
) -> Vec<Result<AnyManifest, Broken>> {
    match yaml::parse_documents(source) {
        Ok(documents) => documents
            .into_iter()
            .filter_map(|node| read_manifest(node, problems))
            .collect(),
        Err(err) => {
            problems.push(Problem::Syntax(err));
            Vec::new()
        }
    }
}

/// Reads one document as a manifest of whatever kind it declares; a document whose kind cannot
/// be determined yields `None`.
pub fn read_manifest(
    node: Node,
    problems: &mut Vec<Problem>,
) -> Option<Result<AnyManifest, Broken>> {
    if node.as_map().is_none() {
        problems.push(Problem::NotAMapping {
            location: node.location(),
        });
        return None;
    }
    let kind = match node.get("kind") {
        None => {
            problems.push(Problem::MissingKind {
                location: node.location(),
            });
            return None;
        }
        Some(kind_node) => {
            let found = kind_node.as_str().unwrap_or_default();
            match found.parse::<Kind>() {
                Ok(kind) => kind,
                Err(_) => {
                    problems.push(Problem::UnknownKind {
                        found: found.to_owned(),
                        location: kind_node.location(),
                        suggestion: did_you_mean(found, Kind::NAMES.iter().copied()),
                    });
                    return None;
                }
            }
        }
    };
    if let Some(version) = node.get("apiVersion") {
        let found = version.as_str().unwrap_or_default();
        if found != API_VERSION {
            problems.push(Problem::ApiVersion {
                found: found.to_owned(),
                location: version.location(),
            });
        }
    }
    Some(typed(kind, node, problems))
}

fn typed(kind: Kind, node: Node, problems: &mut Vec<Problem>) -> Result<AnyManifest, Broken> {
    fn read<T: serde::de::DeserializeOwned>(
        node: Node,
        problems: &mut Vec<Problem>,
    ) -> Result<Loaded<T>, DeError> {
        let mut unknown = Vec::new();
        let result = yaml::from_node(&node, &mut unknown);
        problems.extend(unknown.into_iter().map(Problem::UnknownField));
        result.map(|manifest| Loaded { manifest, node })
    }
    let name = node
        .at(&crate::path!["metadata", "name"])
        .and_then(Node::as_str)
        .map(str::to_owned);
    let result = match kind {
        Kind::Transform => read(node, problems).map(AnyManifest::Transform),
        Kind::DataSet => read(node, problems).map(AnyManifest::DataSet),
        Kind::DataSetGroup => read(node, problems).map(AnyManifest::DataSetGroup),
        Kind::Store => read(node, problems).map(AnyManifest::Store),
        Kind::Connector => read(node, problems).map(AnyManifest::Connector),
    };
    result.map_err(|err| {
        problems.push(Problem::Invalid(err));
        Broken { kind, name }
    })
}

impl AnyManifest {
    pub fn kind(&self) -> Kind {
        match self {
            AnyManifest::Transform(_) => Kind::Transform,
            AnyManifest::DataSet(_) => Kind::DataSet,
            AnyManifest::DataSetGroup(_) => Kind::DataSetGroup,
            AnyManifest::Store(_) => Kind::Store,
            AnyManifest::Connector(_) => Kind::Connector,
        }
    }

    pub fn node(&self) -> &Node {
        match self {
            AnyManifest::Transform(m) => &m.node,
            AnyManifest::DataSet(m) => &m.node,
            AnyManifest::DataSetGroup(m) => &m.node,
            AnyManifest::Store(m) => &m.node,
            AnyManifest::Connector(m) => &m.node,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            AnyManifest::Transform(m) => m.name(),
            AnyManifest::DataSet(m) => m.name(),
            AnyManifest::DataSetGroup(m) => m.name(),
            AnyManifest::Store(m) => m.name(),
            AnyManifest::Connector(m) => m.name(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::Pos;

    fn load(text: &str) -> (Vec<Result<AnyManifest, Broken>>, Vec<Problem>) {
        let mut problems = Vec::new();
        let manifests = read_manifests(&Source::file("m.yaml", text), &mut problems);
        (manifests, problems)
    }

    #[test]
    fn reads_a_dataset() {
        let (manifests, problems) = load(
            "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: DataSet\nmetadata:\n  name: users\nspec:\n  store: warehouse\n  table: public.users\n  schema:\n    - name: email\n      type: string\n      pii: true\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        let Ok(AnyManifest::DataSet(dataset)) = &manifests[0] else {
            panic!("expected a DataSet: {manifests:?}");
        };
        assert_eq!(dataset.name(), "users");
        assert_eq!(dataset.manifest.metadata.namespace, "default");
        assert_eq!(dataset.manifest.spec.pii_fields().count(), 1);
        assert_eq!(
            dataset
                .locate(&crate::path!["spec", "schema", 0, "pii"])
                .pos,
            Pos::new(11, 7)
        );
    }

    #[test]
    fn keeps_the_name_of_a_broken_manifest() {
        let (manifests, problems) = load(
            "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Store\nmetadata:\n  name: db\nspec:\n  connector: [postgres]\n",
        );
        assert_eq!(
            manifests[0].as_ref().unwrap_err(),
            &Broken {
                kind: Kind::Store,
                name: Some("db".into())
            }
        );
        assert!(matches!(&problems[0], Problem::Invalid(err) if err.path == "spec.connector"));
    }

    #[test]
    fn unknown_kinds_suggest_the_right_spelling() {
        let (manifests, problems) = load("apiVersion: x\nkind: Dataset\n");
        assert!(manifests.is_empty());
        assert!(matches!(
            &problems[0],
            Problem::UnknownKind {
                suggestion: Some("DataSet"),
                ..
            }
        ));
    }

    #[test]
    fn wrong_api_version_is_reported_and_the_manifest_still_read() {
        let (manifests, problems) = load(
            "apiVersion: data.infoblox.com/v1alpha1\nkind: Connector\nmetadata:\n  name: pg\nspec:\n  type: postgres\n  capabilities: [source]\n  protocol: postgresql\n",
        );
        assert!(manifests[0].is_ok());
        assert!(matches!(&problems[0], Problem::ApiVersion { .. }));
        assert!(matches!(&problems[1], Problem::UnknownField(f) if f.key == "protocol"));
    }

    #[test]
    fn only_regular_files_under_the_cap_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let zero = dir.path().join("zero.yaml");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        match read_source(&zero) {
            Err(Problem::Unreadable { message, .. }) => {
                assert_eq!(message, "it is a character device, not a regular file");
            }
            other => panic!("{other:?}"),
        }
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, "#".repeat(MANIFEST_MAX_BYTES as usize + 1)).unwrap();
        match read_source(&big) {
            Err(Problem::Syntax(err)) => {
                assert!(err.is_limit());
                assert_eq!(err.location.pos, Pos::new(1, 1));
            }
            other => panic!("{other:?}"),
        }
        let small = dir.path().join("small.yaml");
        std::fs::write(&small, "a: 1\n").unwrap();
        assert!(read_yaml(&small, 5).is_ok());
        assert!(read_yaml(&small, 4).is_err());
    }
}
