//! Lineage is private to its user: events carry dataset locations, SQL and error messages, and
//! the store and spool are dk's own state. Folders are made 0700 and files 0600, and ones an
//! older dk (or a loose umask) left readable by others are tightened when opened.

use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

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

/// [`file`] for a path that may not exist, without following a link, and without opening it: the
/// store's own files are open in SQLite connections of this process, and closing any other
/// descriptor of them would drop the POSIX locks those connections hold (SQLite's "how to
/// corrupt a database"), letting another process write under them.
pub fn path(path: &Path) -> std::io::Result<()> {
    let stat = match rustix::fs::statat(rustix::fs::CWD, path, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(err) => return Err(err.into()),
    };
    let mode = stat.st_mode;
    if FileType::from_raw_mode(mode) != FileType::RegularFile || mode & GROUP_AND_OTHERS == 0 {
        return Ok(());
    }
    rustix::fs::chmodat(
        rustix::fs::CWD,
        path,
        Mode::from_raw_mode(mode & 0o7777 & !GROUP_AND_OTHERS),
        AtFlags::empty(),
    )?;
    Ok(())
}
