//! Finding packages and projects on disk and reading their manifests.
//!
//! A package is a directory with a `dk.yaml` (the Transform) and optional kind folders
//! (`connector/ store/ dataset/ dataset-group/`, plural names too, and `datasets/<name>/dataset.yaml`).
//! A project is the directory tree holding packages; its root (the nearest ancestor with `.git`
//! or a `.dk/` folder) may hold the same kind folders, shared by every package.

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use crate::load::{
    AnyManifest, Broken, Loaded, Problem, read_manifest, read_manifests, read_source,
};
use crate::model::{Connector, DataSet, DataSetGroup, Kind, Manifest, Store, Transform};
use crate::overrides::Overrides;
use crate::yaml::{self, Source};

/// The Transform manifest of every package.
pub const MANIFEST_FILE: &str = "dk.yaml";

/// Folder names never searched for packages: version control, dependencies, build output.
const SKIPPED_DIRS: &[&str] = &[
    "node_modules",
    "target",
    "venv",
    "__pycache__",
    "dbt_packages",
];

const KINDS_IN_FOLDERS: [Kind; 4] = [
    Kind::Connector,
    Kind::Store,
    Kind::DataSet,
    Kind::DataSetGroup,
];

/// The non-Transform manifests of one scope (a package or a project root), indexed by name.
#[derive(Debug, Default)]
pub struct Catalog {
    datasets: Vec<Loaded<DataSet>>,
    groups: Vec<Loaded<DataSetGroup>>,
    stores: Vec<Loaded<Store>>,
    connectors: Vec<Loaded<Connector>>,
    /// Position of each manifest in its kind's list, by name: lookups are on every reference.
    index: HashMap<Kind, HashMap<String, usize>>,
    broken: Vec<Broken>,
    /// Manifest files read for this scope.
    pub files: usize,
}

/// One file of a kind folder, parsed (possibly on another thread) but not yet in a catalog.
struct ParsedFile {
    path: PathBuf,
    kind: Kind,
    folder: &'static str,
    manifests: Vec<Result<AnyManifest, Broken>>,
    problems: Vec<Problem>,
    read: bool,
}

impl ParsedFile {
    fn parse(path: PathBuf, kind: Kind, folder: &'static str) -> ParsedFile {
        let mut problems = Vec::new();
        let (manifests, read) = match read_source(&path) {
            Ok(source) => (read_manifests(&source, &mut problems), true),
            Err(problem) => {
                problems.push(problem);
                (Vec::new(), false)
            }
        };
        ParsedFile {
            path,
            kind,
            folder,
            manifests,
            problems,
            read,
        }
    }
}

impl Catalog {
    pub fn datasets(&self) -> &[Loaded<DataSet>] {
        &self.datasets
    }

    pub fn groups(&self) -> &[Loaded<DataSetGroup>] {
        &self.groups
    }

    pub fn stores(&self) -> &[Loaded<Store>] {
        &self.stores
    }

    pub fn connectors(&self) -> &[Loaded<Connector>] {
        &self.connectors
    }

    /// Manifests that failed to load, by kind and name.
    pub fn broken(&self) -> &[Broken] {
        &self.broken
    }

    /// Where the manifest of `kind` named `name` is in its kind's list.
    pub fn position(&self, kind: Kind, name: &str) -> Option<usize> {
        self.index.get(&kind)?.get(name).copied()
    }

    /// Adds a manifest; a second manifest of one kind and name is a problem and is left out.
    pub fn add(&mut self, manifest: AnyManifest, problems: &mut Vec<Problem>) {
        fn push<S>(
            list: &mut Vec<Loaded<Manifest<S>>>,
            index: &mut HashMap<String, usize>,
            item: Loaded<Manifest<S>>,
            kind: Kind,
            problems: &mut Vec<Problem>,
        ) {
            if let Some(&first) = index.get(item.name()) {
                problems.push(Problem::DuplicateName {
                    kind,
                    name: item.name().to_owned(),
                    location: item.locate(&crate::path!["metadata", "name"]),
                    first: list[first].locate(&crate::path!["metadata", "name"]),
                });
                return;
            }
            index.insert(item.name().to_owned(), list.len());
            list.push(item);
        }
        let kind = manifest.kind();
        let index = self.index.entry(kind).or_default();
        match manifest {
            AnyManifest::DataSet(m) => push(&mut self.datasets, index, m, kind, problems),
            AnyManifest::DataSetGroup(m) => push(&mut self.groups, index, m, kind, problems),
            AnyManifest::Store(m) => push(&mut self.stores, index, m, kind, problems),
            AnyManifest::Connector(m) => push(&mut self.connectors, index, m, kind, problems),
            AnyManifest::Transform(_) => unreachable!("Transforms are kept by the package"),
        }
    }

    /// Reads the kind folders of `dir` into a catalog (large folders on every core).
    pub fn read_folders(dir: &Path, problems: &mut Vec<Problem>) -> Catalog {
        let present = kind_folders_in(dir);
        let mut files = Vec::new();
        for kind in KINDS_IN_FOLDERS {
            for folder in [kind.folder(), kind.plural_folder()].into_iter().flatten() {
                if !present.as_ref().is_none_or(|names| names.contains(&folder)) {
                    continue;
                }
                files.extend(
                    manifest_files(&child(dir, folder), kind)
                        .into_iter()
                        .map(|file| (file, kind, folder)),
                );
            }
        }
        let parsed = parallel_map(files, |(path, kind, folder)| {
            ParsedFile::parse(path, kind, folder)
        });
        let mut catalog = Catalog::default();
        for file in parsed {
            catalog.absorb(file, problems);
        }
        catalog
    }

    fn absorb(&mut self, file: ParsedFile, problems: &mut Vec<Problem>) {
        if file.read {
            self.files += 1;
        }
        if file
            .problems
            .iter()
            .any(|p| matches!(p, Problem::Syntax(_)))
        {
            // The file's name is its manifest's name by convention; keeping it as broken stops
            // every reference to it from being reported a second time as an unknown name.
            self.broken.push(Broken {
                kind: file.kind,
                name: name_from_path(&file.path, file.kind),
            });
        }
        problems.extend(file.problems);
        for manifest in file.manifests {
            match manifest {
                Ok(AnyManifest::Transform(transform)) => problems.push(Problem::MisplacedKind {
                    kind: Kind::Transform,
                    folder: file.folder.to_owned(),
                    location: transform.node.location(),
                }),
                Ok(manifest) => {
                    if manifest.kind() != file.kind {
                        problems.push(Problem::MisplacedKind {
                            kind: manifest.kind(),
                            folder: file.folder.to_owned(),
                            location: manifest.node().location(),
                        });
                    }
                    self.add(manifest, problems);
                }
                Err(broken) => self.broken.push(broken),
            }
        }
    }
}

/// `f` over `items` on every core, results in the order of `items`. Threads take the next item
/// as they finish one, so a thread slowed down (by other work on the machine, or by a large
/// item) does not hold the others up. Small inputs stay on this thread: spawning costs more
/// than it saves.
pub fn parallel_map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    if items.len() < 16 {
        return items.into_iter().map(f).collect();
    }
    let threads = cores();
    if threads < 2 {
        return items.into_iter().map(f).collect();
    }
    let count = items.len();
    let queue = std::sync::Mutex::new(items.into_iter().enumerate());
    let work = || {
        let mut done = Vec::new();
        loop {
            // The lock is held for the take only, never while `f` runs.
            let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
            let Some((index, item)) = next else {
                return done;
            };
            done.push((index, f(item)));
        }
    };
    let mut slots: Vec<Option<R>> = std::iter::repeat_with(|| None).take(count).collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mine = work();
        let theirs = workers.into_iter().flat_map(|worker| {
            worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        for (index, result) in mine.into_iter().chain(theirs) {
            slots[index] = Some(result);
        }
    });
    slots
        .into_iter()
        .map(|slot| slot.expect("every item is taken once"))
        .collect()
}

/// The cores dk may use, asked once: the answer reads cgroup files, and small maps are asked
/// for it once a package.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// The kind folder names (singular or plural) present in `dir`, from one listing of it, so
/// that a package is not probed for each of the eight names. `None` when `dir` cannot be
/// listed: the folders are then opened by name, as a directory may be searchable but not
/// readable.
fn kind_folders_in(dir: &Path) -> Option<Vec<&'static str>> {
    let listing = std::fs::read_dir(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    })
    .ok()?;
    let mut present = Vec::new();
    for entry in listing.flatten() {
        let name = entry.file_name();
        let Some(folder) = KINDS_IN_FOLDERS
            .iter()
            .flat_map(|kind| [kind.folder(), kind.plural_folder()])
            .flatten()
            .find(|folder| name.as_encoded_bytes() == folder.as_bytes())
        else {
            continue;
        };
        // A link may lead to a folder: opening it decides, as before.
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            present.push(folder);
        }
    }
    Some(present)
}

/// `*.yaml`/`*.yml` files of a kind folder, plus `<sub>/<kind>.yaml` one level down, sorted so
/// that results never depend on directory order.
fn manifest_files(folder: &Path, kind: Kind) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let singular = kind.folder().unwrap_or_default();
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_dir() {
            files.extend(
                ["yaml", "yml"]
                    .iter()
                    .map(|ext| path.join(format!("{singular}.{ext}")))
                    .filter(|candidate| candidate.exists()),
            );
        } else if is_yaml(&path) {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// `dataset/orders.yaml` → `orders`; `datasets/orders/dataset.yaml` → `orders`.
fn name_from_path(path: &Path, kind: Kind) -> Option<String> {
    let stem = path.file_stem()?.to_str()?;
    if Some(stem) == kind.folder() {
        return path.parent()?.file_name()?.to_str().map(str::to_owned);
    }
    Some(stem.to_owned())
}

/// `dir/name`, without a leading `./` when `dir` is the current directory, so locations read
/// `dk.yaml:3:1` rather than `./dk.yaml:3:1`.
pub fn child(dir: &Path, name: &str) -> PathBuf {
    if dir.as_os_str().is_empty() || dir == Path::new(".") {
        PathBuf::from(name)
    } else {
        dir.join(name)
    }
}

fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|ext| ext.to_str()),
        Some("yaml" | "yml")
    )
}

/// A data package: its Transform and its own manifests.
#[derive(Debug)]
pub struct Package {
    pub dir: PathBuf,
    pub transform: Option<Loaded<Transform>>,
    pub catalog: Catalog,
    pub problems: Vec<Problem>,
}

impl Package {
    /// Reads `dir/dk.yaml`, with `overrides` applied to its Transform (in memory only), and the
    /// package's kind folders.
    pub fn read(dir: &Path, overrides: &Overrides) -> Package {
        let mut problems = Vec::new();
        let mut catalog = Catalog::read_folders(dir, &mut problems);
        let transform = match read_source(&child(dir, MANIFEST_FILE)) {
            Err(problem) => {
                problems.push(problem);
                None
            }
            Ok(source) => {
                catalog.files += 1;
                read_transform(&source, overrides, &mut catalog, &mut problems)
            }
        };
        Package {
            dir: dir.to_owned(),
            transform,
            catalog,
            problems,
        }
    }

    /// Whether `dir` holds a `dk.yaml`.
    pub fn exists_in(dir: &Path) -> bool {
        // Whatever sits at dk.yaml makes a package, so that a FIFO or a link to a device there is
        // reported as unreadable (DK009) rather than silently skipped.
        dir.join(MANIFEST_FILE).exists()
    }
}

/// Reads the documents of `dk.yaml`: its Transform (with `overrides` applied) and any other
/// manifests sharing the file, which join the package catalog.
fn read_transform(
    source: &Arc<Source>,
    overrides: &Overrides,
    catalog: &mut Catalog,
    problems: &mut Vec<Problem>,
) -> Option<Loaded<Transform>> {
    let documents = match yaml::parse_documents(source) {
        Ok(documents) => documents,
        Err(err) => {
            // Unparsable: whether it holds a Transform is unknown, so nothing more is said.
            problems.push(Problem::Syntax(err));
            return None;
        }
    };
    let mut transform: Option<Loaded<Transform>> = None;
    let mut first_kind = None;
    for mut node in documents {
        let is_transform = node.get("kind").and_then(yaml::Node::as_str) == Some("Transform");
        if is_transform
            && !overrides.is_empty()
            && let Err(err) = overrides.apply(&mut node)
        {
            problems.push(Problem::Override(err));
        }
        let Some(manifest) = read_manifest(node, problems) else {
            continue;
        };
        first_kind.get_or_insert(match &manifest {
            Ok(manifest) => manifest.kind(),
            Err(broken) => broken.kind,
        });
        match manifest {
            Ok(AnyManifest::Transform(loaded)) => match &transform {
                None => transform = Some(loaded),
                Some(first) => problems.push(Problem::DuplicateName {
                    kind: Kind::Transform,
                    name: loaded.name().to_owned(),
                    location: loaded.node.location(),
                    first: first.node.location(),
                }),
            },
            // Other kinds may share dk.yaml: single-file packages are convenient.
            Ok(other) => catalog.add(other, problems),
            Err(broken) => catalog.broken.push(broken),
        }
    }
    let broken_transform = catalog
        .broken
        .iter()
        .any(|broken| broken.kind == Kind::Transform);
    if transform.is_none() && !broken_transform {
        problems.push(Problem::NotATransform {
            found: first_kind,
            location: yaml::Location::file_start(source.clone()),
        });
    }
    transform
}

/// Packages and the project-level manifests they share.
#[derive(Debug)]
pub struct Project {
    /// The project root, when one was found (as a path relative to where the search started
    /// when that was relative).
    pub root: Option<PathBuf>,
    pub shared: Catalog,
    pub shared_problems: Vec<Problem>,
    pub packages: Vec<Package>,
}

impl Project {
    /// Every manifest file read.
    pub fn files(&self) -> usize {
        self.shared.files + self.packages.iter().map(|p| p.catalog.files).sum::<usize>()
    }

    /// The package and project catalogs seen from `package`, package first.
    pub fn scope<'a>(&'a self, package: &'a Package) -> crate::resolve::Scope<'a> {
        crate::resolve::Scope {
            package: &package.catalog,
            project: Some(&self.shared),
        }
    }

    /// The project-level catalog alone (what project-level manifests can see).
    pub fn shared_scope(&self) -> crate::resolve::Scope<'_> {
        crate::resolve::Scope {
            package: &self.shared,
            project: None,
        }
    }
}

/// Where to look for project roots.
#[derive(Debug, Clone, Default)]
pub struct DiscoverOptions {
    /// dk's own home (`~/.dk`): its `.dk`-like layout must not make the home directory a project.
    pub dk_home: Option<PathBuf>,
}

/// The nearest ancestor-or-self of `start` that holds `.git` or a `.dk/` folder. The result is
/// expressed relative to `start` when `start` is relative (`demo` → `.` or `..`), so messages
/// keep the user's own way of naming paths.
pub fn find_project_root(start: &Path, options: &DiscoverOptions) -> Option<PathBuf> {
    let absolute = start.canonicalize().ok()?;
    let dk_home = options
        .dk_home
        .as_ref()
        .and_then(|home| home.canonicalize().ok());
    absolute.ancestors().enumerate().find_map(|(levels, dir)| {
        let dk_folder = dir.join(".dk");
        let marks_project = dir.join(".git").exists()
            || (dk_folder.is_dir() && dk_home.as_deref() != Some(dk_folder.as_path()));
        marks_project.then(|| ancestor_of(start, levels))
    })
}

/// `levels` directories above `path`, computed lexically so relative paths stay relative.
fn ancestor_of(path: &Path, levels: usize) -> PathBuf {
    let mut parts: Vec<Component<'_>> = path
        .components()
        .filter(|component| !matches!(component, Component::CurDir))
        .collect();
    for _ in 0..levels {
        match parts.last() {
            Some(Component::Normal(_)) => {
                parts.pop();
            }
            Some(Component::RootDir | Component::Prefix(_)) => {}
            _ => parts.push(Component::ParentDir),
        }
    }
    if parts.is_empty() {
        PathBuf::from(".")
    } else {
        parts.iter().collect()
    }
}

/// Every package directory under `dir` (a directory with `dk.yaml` is a package and is not
/// searched further), sorted.
pub fn find_packages(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        if Package::exists_in(&current) {
            found.push(current);
            continue;
        }
        let entries = match std::fs::read_dir(&current) {
            Ok(entries) => entries,
            // The starting directory must be readable; unreadable subfolders are skipped.
            Err(err) if current == dir => return Err(err),
            Err(_) => continue,
        };
        let mut folders = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || SKIPPED_DIRS.contains(&name.as_ref()) {
                continue;
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                folders.push(name.into_owned());
            }
        }
        // Depth first, each folder's names in order (popped last first): the packages come out
        // sorted as paths compare, component by component, without sorting the paths.
        folders.sort_unstable_by(|a, b| b.cmp(a));
        pending.extend(folders.iter().map(|name| child(&current, name)));
    }
    Ok(found)
}

/// Reads one package, with `overrides` applied to its Transform, and the project around it.
pub fn load_package_project(
    dir: &Path,
    overrides: &Overrides,
    options: &DiscoverOptions,
) -> Project {
    let root = find_project_root(dir, options);
    let package = Package::read(dir, overrides);
    let mut shared_problems = Vec::new();
    let shared = match &root {
        Some(root) if !same_path(root, dir) => Catalog::read_folders(root, &mut shared_problems),
        _ => Catalog::default(),
    };
    Project {
        root,
        shared,
        shared_problems,
        packages: vec![package],
    }
}

/// A project found by a scan, before its packages are read: its root, its project-level
/// manifests (which every package sees) and the directories of its packages, sorted.
#[derive(Debug)]
pub struct ProjectPlan {
    pub root: PathBuf,
    pub shared: Catalog,
    pub shared_problems: Vec<Problem>,
    pub package_dirs: Vec<PathBuf>,
}

/// Finds every package under each of `dirs`, grouped by project, and reads each project's
/// project-level manifests. A scanned directory outside any project is its own project root.
/// Packages are left unread so that a caller can stream them ([`Package::read`]).
pub fn plan_projects(
    dirs: &[PathBuf],
    options: &DiscoverOptions,
) -> std::io::Result<Vec<ProjectPlan>> {
    let mut plans: Vec<ProjectPlan> = Vec::new();
    let mut seen = HashSet::new();
    for dir in dirs {
        let root = find_project_root(dir, options).unwrap_or_else(|| dir.clone());
        let root_resolved = root.canonicalize().ok();
        // The search does not follow links below `dir`, so a package resolves to the resolved
        // `dir` and its own path below it: one resolution per scanned directory, not per package.
        let dir_resolved = dir.canonicalize().ok();
        let mut holds_root = false;
        let mut package_dirs = Vec::new();
        for package in find_packages(dir)? {
            let resolved =
                dir_resolved
                    .as_ref()
                    .zip(below(dir, &package))
                    .map(|(base, relative)| {
                        if relative.as_os_str().is_empty() {
                            base.clone()
                        } else {
                            base.join(relative)
                        }
                    });
            let is_root = match (&resolved, &root_resolved) {
                (Some(package), Some(root)) => package == root,
                _ => package == root,
            };
            if seen.insert(resolved.unwrap_or_else(|| package.clone())) {
                holds_root |= is_root;
                package_dirs.push(package);
            }
        }
        match plans.iter_mut().find(|plan| same_path(&plan.root, &root)) {
            Some(plan) => plan.package_dirs.extend(package_dirs),
            None => {
                let mut shared_problems = Vec::new();
                let shared = if holds_root {
                    Catalog::default()
                } else {
                    Catalog::read_folders(&root, &mut shared_problems)
                };
                plans.push(ProjectPlan {
                    root,
                    shared,
                    shared_problems,
                    package_dirs,
                });
            }
        }
    }
    Ok(plans)
}

/// `path` relative to `dir`, for a path found under `dir` ([`find_packages`], a package's
/// files), which leave out the `./` of the current directory ([`child`]).
pub fn below<'a>(dir: &Path, path: &'a Path) -> Option<&'a Path> {
    if dir.as_os_str().is_empty() || dir == Path::new(".") {
        Some(path.strip_prefix(".").unwrap_or(path))
    } else {
        path.strip_prefix(dir).ok()
    }
}

/// Reads every package under each of `dirs`, grouped by project (see [`plan_projects`]).
pub fn load_projects(dirs: &[PathBuf], options: &DiscoverOptions) -> std::io::Result<Vec<Project>> {
    Ok(read_projects(plan_projects(dirs, options)?))
}

/// Reads the packages of planned projects (on every core).
pub fn read_projects(plans: Vec<ProjectPlan>) -> Vec<Project> {
    plans
        .into_iter()
        .map(|plan| Project {
            packages: parallel_map(plan.package_dirs.iter().collect(), |dir| {
                Package::read(dir, &Overrides::default())
            }),
            root: Some(plan.root),
            shared: plan.shared,
            shared_problems: plan.shared_problems,
        })
        .collect()
}

/// Whether two paths name the same file or directory (after resolving links and `..`).
pub fn same_path(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_paths() {
        assert_eq!(
            name_from_path(Path::new("p/dataset/orders.yaml"), Kind::DataSet).as_deref(),
            Some("orders")
        );
        assert_eq!(
            name_from_path(Path::new("p/datasets/orders/dataset.yaml"), Kind::DataSet).as_deref(),
            Some("orders")
        );
    }

    /// Packages come out in the order of their paths compared component by component: `a/x`
    /// before `a-b`, though `-` sorts before `/` as a byte.
    #[test]
    fn packages_are_found_in_path_order() {
        let dir = tempfile::tempdir().unwrap();
        for package in ["a-b", "a/x", "a/c/d", "b", "a.b"] {
            let package = dir.path().join(package);
            std::fs::create_dir_all(&package).unwrap();
            std::fs::write(package.join(MANIFEST_FILE), "").unwrap();
        }
        let found = find_packages(dir.path()).unwrap();
        let mut sorted = found.clone();
        sorted.sort();
        assert_eq!(found, sorted);
        assert_eq!(found.len(), 5);
    }

    /// However the threads share the work, results come back in the order of the items.
    #[test]
    fn parallel_results_keep_the_order_of_the_items() {
        let items: Vec<usize> = (0..1000).collect();
        let mapped = parallel_map(items, |item| {
            if item % 7 == 0 {
                std::thread::yield_now();
            }
            item * 2
        });
        assert_eq!(mapped, (0..1000).map(|item| item * 2).collect::<Vec<_>>());
    }

    #[test]
    fn ancestors_stay_relative() {
        assert_eq!(ancestor_of(Path::new("demo"), 0), PathBuf::from("demo"));
        assert_eq!(ancestor_of(Path::new("demo"), 1), PathBuf::from("."));
        assert_eq!(ancestor_of(Path::new("demo"), 2), PathBuf::from(".."));
        assert_eq!(ancestor_of(Path::new("./a/b"), 1), PathBuf::from("a"));
        assert_eq!(ancestor_of(Path::new("../x"), 1), PathBuf::from(".."));
        assert_eq!(ancestor_of(Path::new("/srv/p/q"), 2), PathBuf::from("/srv"));
        assert_eq!(ancestor_of(Path::new("/srv"), 3), PathBuf::from("/"));
    }
}
