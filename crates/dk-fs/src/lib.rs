//! The one way dk reads files it was handed and writes into trees it did not create.
//!
//! Manifests, config files, spool entries and GitOps values come from folders that somebody
//! else controls: a cloned repository, a pulled artifact, a pull request. Two helpers keep that
//! somebody from hanging or steering dk:
//! - [`read`] opens only regular files (a FIFO would block `open`, `/dev/zero` never ends) and
//!   never reads past a cap, even when the file grows while it is read;
//! - [`AtomicFile`] (and [`write_atomic`]) writes a temporary sibling, fsyncs it, renames it over
//!   the target and fsyncs the folder, so readers and crashes see the old file or the new one,
//!   never a part. The final name is replaced, never followed, and [`AtomicFile::create_beneath`]
//!   refuses a link anywhere below the trusted root, so a symlinked folder cannot redirect a write.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

/// Why a file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is {kind}, not a regular file", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{} is larger than {limit} bytes", path.display())]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{} is a symbolic link; dk does not write through links", path.display())]
    Link { path: PathBuf },
    #[error("{} is not a plain relative path below {}", relative.display(), root.display())]
    OutsideRoot { root: PathBuf, relative: PathBuf },
}

impl FsError {
    fn io(path: &Path, source: impl Into<io::Error>) -> Self {
        FsError::Io {
            path: path.to_owned(),
            source: source.into(),
        }
    }

    /// The path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            FsError::Io { path, .. }
            | FsError::NotRegular { path, .. }
            | FsError::TooLarge { path, .. }
            | FsError::Link { path } => path,
            FsError::OutsideRoot { relative, .. } => relative,
        }
    }

    /// The underlying I/O error kind, where there is one (`NotFound` is often not an error).
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            FsError::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }
}

fn kind_name(kind: FileType) -> &'static str {
    match kind {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Unknown => "of an unknown type",
    }
}

/// Opens `path` for reading if it is a regular file (following links, as any reader would)
/// and no larger than `limit` bytes. The open never blocks: a FIFO is refused, not waited on.
pub fn open_regular(path: &Path, limit: u64) -> Result<(File, u64), FsError> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )
    .map_err(|err| FsError::io(path, err))?;
    let stat = rustix::fs::fstat(&fd).map_err(|err| FsError::io(path, err))?;
    let kind = FileType::from_raw_mode(stat.st_mode);
    if kind != FileType::RegularFile {
        return Err(FsError::NotRegular {
            path: path.to_owned(),
            kind: kind_name(kind),
        });
    }
    let size = u64::try_from(stat.st_size).unwrap_or(0);
    if size > limit {
        return Err(FsError::TooLarge {
            path: path.to_owned(),
            limit,
        });
    }
    Ok((File::from(fd), size))
}

/// The bytes of the regular file at `path`, at most `limit` of them (see [`open_regular`]).
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>, FsError> {
    let (file, size) = open_regular(path, limit)?;
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // One byte past the cap tells a file that grew after fstat from one that fits.
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|err| FsError::io(path, err))?;
    if bytes.len() as u64 > limit {
        return Err(FsError::TooLarge {
            path: path.to_owned(),
            limit,
        });
    }
    Ok(bytes)
}

/// The UTF-8 text of the regular file at `path`, at most `limit` bytes (see [`read`]).
pub fn read_to_string(path: &Path, limit: u64) -> Result<String, FsError> {
    String::from_utf8(read(path, limit)?)
        .map_err(|err| FsError::io(path, io::Error::new(io::ErrorKind::InvalidData, err)))
}

/// Writes `bytes` to `path` atomically (see [`AtomicFile::create`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)
        .map_err(|err| FsError::io(path, err))?;
    file.commit()
}

/// Writes `bytes` to `root/relative` atomically without following any link below `root`
/// (see [`AtomicFile::create_beneath`]).
pub fn write_atomic_beneath(root: &Path, relative: &Path, bytes: &[u8]) -> Result<(), FsError> {
    let mut file = AtomicFile::create_beneath(root, relative)?;
    file.write_all(bytes)
        .map_err(|err| FsError::io(&root.join(relative), err))?;
    file.commit()
}

/// Creates `root/relative` and its missing parents as real folders, refusing a link or a file
/// anywhere below `root`.
pub fn create_dir_all_beneath(root: &Path, relative: &Path) -> Result<(), FsError> {
    open_dirs_beneath(root, &plain_components(root, relative)?).map(drop)
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A file being written: a temporary sibling of its target, renamed over the target by
/// [`commit`](AtomicFile::commit) after an fsync, with the folder fsynced after the rename.
/// Dropped without a commit, the temporary file is removed and the target is untouched.
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    dir: OwnedFd,
    name: OsString,
    temp: OsString,
    file: Option<File>,
}

impl AtomicFile {
    /// Starts writing `path`. Its folder is created if missing and is trusted as it is; the
    /// final name is replaced by the rename, so a link there is replaced, not followed.
    pub fn create(path: &Path) -> Result<Self, FsError> {
        let name = path
            .file_name()
            .ok_or_else(|| FsError::io(path, io::Error::from(io::ErrorKind::InvalidInput)))?;
        let dir_path = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir_path).map_err(|err| FsError::io(dir_path, err))?;
        let dir = rustix::fs::open(
            dir_path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|err| FsError::io(dir_path, err))?;
        Self::in_dir(dir, name, path.to_owned())
    }

    /// Starts writing `root/relative`, where `root` is trusted and `relative` is plain (no
    /// `..`, not absolute). Every folder below `root` is opened without following links and
    /// created if missing; a link or a file where a folder belongs is refused before anything
    /// is written.
    pub fn create_beneath(root: &Path, relative: &Path) -> Result<Self, FsError> {
        let mut parts = plain_components(root, relative)?;
        let name = parts.pop().ok_or_else(|| FsError::OutsideRoot {
            root: root.to_owned(),
            relative: relative.to_owned(),
        })?;
        let dir = open_dirs_beneath(root, &parts)?;
        Self::in_dir(dir, &name, root.join(relative))
    }

    fn in_dir(dir: OwnedFd, name: &OsStr, target: PathBuf) -> Result<Self, FsError> {
        let mut temp = OsString::from(".");
        temp.push(name);
        temp.push(format!(
            ".{}.{}.tmp",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let fd = rustix::fs::openat(
            &dir,
            temp.as_os_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
        .map_err(|err| FsError::io(&target, err))?;
        Ok(AtomicFile {
            target,
            dir,
            name: name.to_owned(),
            temp,
            file: Some(File::from(fd)),
        })
    }

    /// Sets the file's permission bits (0o600 for files that hold secrets) before any byte
    /// reaches the target name.
    pub fn set_mode(&self, mode: u32) -> Result<(), FsError> {
        use std::os::unix::fs::PermissionsExt;
        self.file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|err| FsError::io(&self.target, err))
    }

    /// The path this file replaces when committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    fn file(&self) -> &File {
        self.file
            .as_ref()
            .expect("an AtomicFile is used until it is committed")
    }

    /// Makes the written bytes the target's contents: fsync, rename, fsync of the folder.
    pub fn commit(self) -> Result<(), FsError> {
        self.finish(|dir, temp, name| rustix::fs::renameat(dir, temp, dir, name))
    }

    /// Like [`commit`](Self::commit), but fails with `AlreadyExists` instead of replacing an
    /// existing file (or link) of the target's name: for files that must never be overwritten,
    /// such as a private key. Check and rename are one step (`RENAME_NOREPLACE`).
    pub fn commit_new(self) -> Result<(), FsError> {
        self.finish(|dir, temp, name| {
            rustix::fs::renameat_with(dir, temp, dir, name, rustix::fs::RenameFlags::NOREPLACE)
        })
    }

    fn finish(
        mut self,
        rename: impl FnOnce(&OwnedFd, &OsStr, &OsStr) -> rustix::io::Result<()>,
    ) -> Result<(), FsError> {
        let file = self.file.take().expect("committed once");
        let finished = file
            .sync_all()
            .map_err(|err| FsError::io(&self.target, err))
            .and_then(|()| {
                rename(&self.dir, self.temp.as_os_str(), &self.name)
                    .map_err(|err| FsError::io(&self.target, err))
            });
        if finished.is_err() {
            let _ = rustix::fs::unlinkat(&self.dir, self.temp.as_os_str(), AtFlags::empty());
            return finished;
        }
        rustix::fs::fsync(&self.dir).map_err(|err| FsError::io(&self.target, err))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut file = self.file();
        file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut file = self.file();
        file.flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = rustix::fs::unlinkat(&self.dir, self.temp.as_os_str(), AtFlags::empty());
        }
    }
}

/// The parts of `relative`, refusing `..`, absolute paths and empty ones.
fn plain_components(root: &Path, relative: &Path) -> Result<Vec<OsString>, FsError> {
    let outside = || FsError::OutsideRoot {
        root: root.to_owned(),
        relative: relative.to_owned(),
    };
    let mut parts = Vec::new();
    for component in relative.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_owned()),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(outside());
            }
        }
    }
    if parts.is_empty() && relative.as_os_str().as_bytes() != b"." {
        return Err(outside());
    }
    Ok(parts)
}

/// Opens (creating where missing) each folder of `parts` below `root` without following a
/// link, and returns the last one.
fn open_dirs_beneath(root: &Path, parts: &[OsString]) -> Result<OwnedFd, FsError> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut dir = rustix::fs::open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|err| FsError::io(root, err))?;
    let mut path = root.to_owned();
    for part in parts {
        path.push(part);
        match rustix::fs::statat(&dir, part.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => match FileType::from_raw_mode(stat.st_mode) {
                FileType::Directory => {}
                FileType::Symlink => return Err(FsError::Link { path }),
                other => {
                    return Err(FsError::NotRegular {
                        path,
                        kind: kind_name(other),
                    });
                }
            },
            Err(rustix::io::Errno::NOENT) => {
                match rustix::fs::mkdirat(&dir, part.as_os_str(), Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(err) => return Err(FsError::io(&path, err)),
                }
            }
            Err(err) => return Err(FsError::io(&path, err)),
        }
        // NOFOLLOW closes the window between the check above and this open: a folder swapped
        // for a link in between fails here instead of being entered.
        dir = rustix::fs::openat(&dir, part.as_os_str(), flags, Mode::empty()).map_err(|err| {
            if err == rustix::io::Errno::LOOP || err == rustix::io::Errno::NOTDIR {
                FsError::Link { path: path.clone() }
            } else {
                FsError::io(&path, err)
            }
        })?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn reads_refuse_fifos_without_blocking_and_cap_endless_files() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("x.yaml");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        assert!(matches!(
            read(&fifo, 1024),
            Err(FsError::NotRegular { kind: "a FIFO", .. })
        ));
        let zero = dir.path().join("zero.yaml");
        symlink("/dev/zero", &zero).unwrap();
        assert!(matches!(
            read(&zero, 1024),
            Err(FsError::NotRegular {
                kind: "a character device",
                ..
            })
        ));
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, vec![b'a'; 2048]).unwrap();
        assert!(matches!(read(&big, 1024), Err(FsError::TooLarge { .. })));
        assert_eq!(read(&big, 2048).unwrap().len(), 2048);
        assert!(matches!(
            read(dir.path(), 1024),
            Err(FsError::NotRegular {
                kind: "a directory",
                ..
            })
        ));
    }

    #[test]
    fn atomic_writes_replace_a_link_instead_of_following_it() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside.txt");
        std::fs::write(&outside, "keep").unwrap();
        let target = dir.path().join("values.yaml");
        symlink(&outside, &target).unwrap();
        write_atomic(&target, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        assert!(!std::fs::symlink_metadata(&target).unwrap().is_symlink());
    }

    #[test]
    fn writes_beneath_a_root_refuse_symlinked_folders_and_write_nothing() {
        let root = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("envs/dev/cells/c0/apps")).unwrap();
        symlink(
            elsewhere.path(),
            root.path().join("envs/dev/cells/c0/apps/pkg"),
        )
        .unwrap();
        let err = write_atomic_beneath(
            root.path(),
            Path::new("envs/dev/cells/c0/apps/pkg/values.yaml"),
            b"x",
        )
        .unwrap_err();
        assert!(matches!(err, FsError::Link { .. }), "{err}");
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);

        for bad in ["../x", "/etc/passwd", "a/../../x", ""] {
            assert!(matches!(
                write_atomic_beneath(root.path(), Path::new(bad), b"x"),
                Err(FsError::OutsideRoot { .. })
            ));
        }
        write_atomic_beneath(root.path(), Path::new("envs/int/new/values.yaml"), b"ok").unwrap();
        assert_eq!(
            std::fs::read(root.path().join("envs/int/new/values.yaml")).unwrap(),
            b"ok"
        );
    }

    #[test]
    fn an_uncommitted_file_leaves_the_target_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("config.yaml");
        std::fs::write(&target, "old").unwrap();
        {
            let mut file = AtomicFile::create(&target).unwrap();
            file.write_all(b"half").unwrap();
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let file = AtomicFile::create(&target).unwrap();
        file.set_mode(0o600).unwrap();
        file.commit().unwrap();
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(&target).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), 0);
    }
}

impl AtomicFile {
    /// Commits under `name` in the same folder instead of the name given at creation: for
    /// content-addressed files, named by a digest known only once everything is written.
    pub fn commit_as(mut self, name: &OsStr) -> Result<(), FsError> {
        if name.is_empty()
            || name.as_bytes().contains(&b'/')
            || name.as_bytes() == b"."
            || name.as_bytes() == b".."
        {
            return Err(FsError::OutsideRoot {
                root: self.target.parent().unwrap_or(Path::new(".")).to_owned(),
                relative: PathBuf::from(name),
            });
        }
        self.target = self.target.with_file_name(name);
        self.name = name.to_owned();
        self.commit()
    }
}

#[cfg(test)]
mod commit_as_tests {
    use super::*;

    #[test]
    fn commits_under_a_name_known_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = AtomicFile::create(&dir.path().join("incoming")).unwrap();
        file.write_all(b"blob").unwrap();
        file.commit_as(OsStr::new("abc")).unwrap();
        assert_eq!(std::fs::read(dir.path().join("abc")).unwrap(), b"blob");
        assert!(!dir.path().join("incoming").exists());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left");
        let file = AtomicFile::create(&dir.path().join("incoming")).unwrap();
        assert!(file.commit_as(OsStr::new("../x")).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

/// Opens a file dk keeps for itself, for reading and writing, only if it is a regular file:
/// a link in its place is refused rather than followed, and a FIFO, socket or device is refused
/// without blocking. With `create`, a missing file is created (mode 0o600). For state that dk
/// appends to and repairs in place, such as the lineage spool.
pub fn open_own(path: &Path, create: bool) -> Result<File, FsError> {
    let mut flags =
        OFlags::RDWR | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    if create {
        flags |= OFlags::CREATE;
    }
    let not_regular = |kind: FileType| FsError::NotRegular {
        path: path.to_owned(),
        kind: kind_name(kind),
    };
    let fd = match rustix::fs::open(path, flags, Mode::from_raw_mode(0o600)) {
        Ok(fd) => fd,
        // What the open refused for its type (a link, a folder, a socket) is named by it.
        Err(
            err @ (rustix::io::Errno::LOOP | rustix::io::Errno::ISDIR | rustix::io::Errno::NXIO),
        ) => {
            return Err(match rustix::fs::lstat(path) {
                Ok(stat) => not_regular(FileType::from_raw_mode(stat.st_mode)),
                Err(_) => FsError::io(path, err),
            });
        }
        Err(err) => return Err(FsError::io(path, err)),
    };
    let stat = rustix::fs::fstat(&fd).map_err(|err| FsError::io(path, err))?;
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => Ok(File::from(fd)),
        other => Err(not_regular(other)),
    }
}

#[cfg(test)]
mod open_own_tests {
    use super::*;

    #[test]
    fn opens_and_creates_regular_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state");
        let mut opened = open_own(&file, true).unwrap();
        opened.write_all(b"x").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"x");
        assert!(open_own(&dir.path().join("missing"), false).is_err());

        std::os::unix::fs::symlink(&file, dir.path().join("link")).unwrap();
        std::os::unix::fs::symlink("nowhere", dir.path().join("dangling")).unwrap();
        std::fs::create_dir(dir.path().join("folder")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            dir.path().join("fifo"),
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        for (name, kind) in [
            ("link", "a symbolic link"),
            ("dangling", "a symbolic link"),
            ("folder", "a directory"),
            ("fifo", "a FIFO"),
        ] {
            match open_own(&dir.path().join(name), true) {
                Err(FsError::NotRegular { kind: found, .. }) => assert_eq!(found, kind, "{name}"),
                other => panic!("{name}: {other:?}"),
            }
        }
        assert!(!dir.path().join("nowhere").exists(), "a link was followed");
    }
}

/// Removes the temporary files that [`AtomicFile`] left in `dir` when its writer was killed
/// (SIGKILL, a crash), and temporary folders named the same way: the writer's pid is in their
/// name, and only those whose writer is gone are removed, so a concurrent live writer keeps its
/// own. Returns how many were removed.
pub fn sweep_stale_temporaries(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|entry| temporary_writer(&entry.file_name()).is_some_and(|pid| !process_runs(pid)))
        .filter(|entry| match entry.file_type() {
            Ok(kind) if kind.is_file() => std::fs::remove_file(entry.path()).is_ok(),
            Ok(kind) if kind.is_dir() => std::fs::remove_dir_all(entry.path()).is_ok(),
            _ => false,
        })
        .count()
}

/// The writer's pid of a temporary `.NAME.PID.N.tmp`.
fn temporary_writer(name: &OsStr) -> Option<i32> {
    let name = name.to_str()?.strip_prefix('.')?.strip_suffix(".tmp")?;
    let mut parts = name.rsplitn(3, '.');
    let (_counter, pid) = (parts.next()?.parse::<u64>().ok()?, parts.next()?);
    parts.next().filter(|rest| !rest.is_empty())?;
    pid.parse().ok()
}

fn process_runs(pid: i32) -> bool {
    rustix::process::Pid::from_raw(pid).is_some_and(|pid| {
        // EPERM: it runs, as another user's.
        matches!(
            rustix::process::test_kill_process(pid),
            Ok(()) | Err(rustix::io::Errno::PERM)
        )
    })
}

#[cfg(test)]
mod sweep_tests {
    use super::*;

    #[test]
    fn temporaries_of_dead_writers_go_and_live_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let stale = dir.path().join(format!(".incoming.{dead}.0.tmp"));
        let live = dir
            .path()
            .join(format!(".incoming.{}.7.tmp", std::process::id()));
        let blob = dir.path().join("abc");
        for path in [&stale, &live, &blob] {
            std::fs::write(path, b"x").unwrap();
        }
        let stale_folder = dir.path().join(format!(".run.{dead}.0.tmp"));
        std::fs::create_dir(&stale_folder).unwrap();
        std::fs::write(stale_folder.join("owner.json"), b"x").unwrap();
        let open = AtomicFile::create(&dir.path().join("incoming")).unwrap();
        assert_eq!(sweep_stale_temporaries(dir.path()), 2);
        assert!(!stale.exists() && !stale_folder.exists());
        assert!(live.exists() && blob.exists());
        open.commit().unwrap();
        assert!(
            dir.path().join("incoming").exists(),
            "a live writer's file survived"
        );
        assert_eq!(temporary_writer(OsStr::new(".a.b.12.3.tmp")), Some(12));
        assert_eq!(temporary_writer(OsStr::new(".12.3.tmp")), None);
        assert_eq!(temporary_writer(OsStr::new("a.12.3.tmp")), None);
    }
}
