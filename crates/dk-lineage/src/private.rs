//! Lineage is private to its user: events carry dataset locations, SQL and error messages, and
//! the store and spool are dk's own state. Folders are made 0700 and files 0600, and ones an
//! older dk (or a loose umask) left readable by others are tightened when opened.

use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use rustix::fs::{Mode, OFlags};

const GROUP_AND_OTHERS: u32 = 0o077;

/// Creates `dir` and its missing parents (0700), and takes group and other permissions off
/// `dir` itself. A link in its place (a lineage folder moved to another disk) is its owner's to
/// protect and is left as it is.
pub fn dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    match rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => file(&File::from(fd)),
        Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => Ok(()),
        Err(err) => Err(err.into()),
    }
}

/// Takes group and other permissions off an open file or folder.
pub fn file(file: &File) -> std::io::Result<()> {
    let mode = file.metadata()?.permissions().mode();
    if mode & GROUP_AND_OTHERS != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(
            mode & 0o7777 & !GROUP_AND_OTHERS,
        ))?;
    }
    Ok(())
}

/// [`file`] for a path that may not exist, without following a link.
pub fn path(path: &Path) -> std::io::Result<()> {
    match rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    ) {
        Ok(fd) => file(&File::from(fd)),
        Err(rustix::io::Errno::NOENT | rustix::io::Errno::LOOP) => Ok(()),
        Err(err) => Err(err.into()),
    }
}
