//! The spool: every event is appended (and synced) to `$DK_HOME/lineage/spool/<runId>.jsonl`
//! before anything else happens to it, so that no event is lost when the store, the network or
//! the process fails. A file leaves the spool once its run has ended and all its events are
//! stored and delivered.
//!
//! Each event is one line, `dk1 <length> <crc32> <json>`: the length and checksum tell a whole
//! event from one that a crash or a full disk cut short. The newline is written last, so a last
//! line without one is an append that never finished: its writer got an error (or died), the
//! event was never recorded, and the tail is cut off the next time the file is opened. Lines of
//! plain JSON, as dk wrote them before framing, are still read.
//!
//! What cannot be read (an entry that is not a regular file, a line that is not an event, a file
//! past the size cap) is moved to `spool/bad/` with a `.reason` file beside it, and everything
//! else is still delivered. Whoever reads, repairs or appends to a spool file holds its `flock`,
//! and checks after locking that the name still leads to the file it locked: a reader never sees
//! an append half-done, and an append never lands in a file that was moved away.

use std::fs::File;
use std::io::Read;
use std::ops::{ControlFlow, Range};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use uuid::Uuid;

use crate::event::{EventHead, RunEvent};

#[derive(Debug, thiserror::Error)]
#[error("lineage spool {path}: {source}")]
pub struct SpoolError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

impl SpoolError {
    fn new(path: &Path, source: impl Into<std::io::Error>) -> SpoolError {
        SpoolError {
            path: path.to_owned(),
            source: source.into(),
        }
    }

    /// Whether the event could not be written for want of room: a full disk, a quota, a file
    /// size limit.
    pub fn is_disk_full(&self) -> bool {
        use rustix::io::Errno;
        matches!(
            Errno::from_io_error(&self.source),
            Some(Errno::NOSPC | Errno::DQUOT | Errno::FBIG)
        )
    }
}

/// The largest spool file read: a run's events are a few KiB each, and a run has a handful.
const SPOOL_FILE_LIMIT: u64 = 256 << 20;
/// The longest dk waits for another dk's lock on a spool file, which is held for one append or
/// one read.
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// Where what cannot be read goes, below the spool.
pub const BAD: &str = "bad";
const FORMAT: &[u8] = b"dk1 ";

/// The spool directory.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

/// The events of one spooled run.
#[derive(Debug)]
pub struct SpooledRun {
    pub path: PathBuf,
    pub events: Vec<SpooledEvent>,
    /// The file's length when read: it is released only if nothing was appended since.
    len: u64,
}

/// An event as spooled: its JSON, sent and stored as is, and what the store reads of it.
#[derive(Debug, Clone)]
pub struct SpooledEvent {
    pub head: EventHead,
    pub json: String,
}

/// Something moved out of the spool into `spool/bad/` because it cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Quarantined {
    /// Where it is now.
    pub path: PathBuf,
    pub reason: String,
}

/// What reading the spool found.
#[derive(Debug, Default)]
pub struct Scan {
    pub runs: Vec<SpooledRun>,
    /// What this reading moved to `spool/bad/`.
    pub quarantined: Vec<Quarantined>,
    /// Files left where they are for now, and why (a full disk can keep dk from moving or
    /// repairing one): the rest is read all the same.
    pub skipped: Vec<String>,
}

impl SpooledRun {
    /// Whether the run's terminal event (COMPLETE, FAIL or ABORT) is spooled: nothing more is
    /// appended to its file after that.
    pub fn has_ended(&self) -> bool {
        self.events.iter().any(|e| e.head.event_type.is_terminal())
    }

    /// Each event's head with its JSON.
    pub fn entries(&self) -> impl Iterator<Item = (&EventHead, &str)> {
        self.events
            .iter()
            .map(|event| (&event.head, event.json.as_str()))
    }
}

/// The line an event's JSON is spooled as.
fn frame(json: &str) -> String {
    format!("dk1 {} {:08x} {json}\n", json.len(), crc32(json.as_bytes()))
}

/// CRC-32 (IEEE), as zlib computes it.
fn crc32(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut crc = i as u32;
            let mut bit = 0;
            while bit < 8 {
                crc = if crc & 1 == 1 {
                    0xEDB8_8320 ^ (crc >> 1)
                } else {
                    crc >> 1
                };
                bit += 1;
            }
            table[i] = crc;
            i += 1;
        }
        table
    };
    !bytes.iter().fold(!0u32, |crc, &byte| {
        TABLE[((crc ^ u32::from(byte)) & 0xff) as usize] ^ (crc >> 8)
    })
}

/// A spool file's contents, line by line.
#[derive(Debug, Default)]
struct Parsed {
    /// Each event with the bytes of its line.
    events: Vec<(Range<usize>, SpooledEvent)>,
    /// Lines that are not events, and why.
    bad: Vec<(Range<usize>, String)>,
    /// Where a last line without its newline starts: an append that did not finish.
    torn: Option<usize>,
}

fn parse(bytes: &[u8]) -> Parsed {
    let mut parsed = Parsed::default();
    let mut start = 0;
    while start < bytes.len() {
        let Some(end) = bytes[start..].iter().position(|&b| b == b'\n') else {
            parsed.torn = Some(start);
            break;
        };
        let range = start..start + end + 1;
        match event(&bytes[start..start + end]) {
            Ok(Some(event)) => parsed.events.push((range.clone(), event)),
            Ok(None) => {}
            Err(reason) => parsed.bad.push((range.clone(), reason)),
        }
        start = range.end;
    }
    parsed
}

/// The event on one line (without its newline); `None` for a blank line.
fn event(line: &[u8]) -> Result<Option<SpooledEvent>, String> {
    let json = match line.strip_prefix(FORMAT) {
        Some(framed) => unframe(framed)?,
        None if line.trim_ascii().is_empty() => return Ok(None),
        None => std::str::from_utf8(line).map_err(|_| "a line that is not UTF-8".to_owned())?,
    };
    let head = EventHead::parse(json)
        .map_err(|err| format!("a line that is not an OpenLineage event ({err})"))?;
    Ok(Some(SpooledEvent {
        head,
        json: json.to_owned(),
    }))
}

/// The JSON of a framed line, once its length and checksum match.
fn unframe(framed: &[u8]) -> Result<&str, String> {
    let mut parts = framed.splitn(3, |&b| b == b' ');
    let number = |part: Option<&[u8]>, radix| {
        part.and_then(|part| std::str::from_utf8(part).ok())
            .and_then(|text| u64::from_str_radix(text, radix).ok())
    };
    let (Some(length), Some(crc), Some(json)) = (
        number(parts.next(), 10),
        number(parts.next(), 16),
        parts.next(),
    ) else {
        return Err("a framed line without its length and checksum".into());
    };
    if json.len() as u64 != length {
        return Err(format!(
            "an event of {} bytes where its frame says {length}",
            json.len()
        ));
    }
    if u64::from(crc32(json)) != crc {
        return Err("an event whose checksum does not match".into());
    }
    std::str::from_utf8(json).map_err(|_| "an event that is not UTF-8".into())
}

/// Takes the spool file's lock, waiting at most [`LOCK_WAIT`].
fn lock(file: &File, path: &Path) -> Result<(), SpoolError> {
    use rustix::fs::FlockOperation;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match rustix::fs::flock(file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::WOULDBLOCK | rustix::io::Errno::INTR)
                if Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(err) => return Err(SpoolError::new(path, err)),
        }
    }
}

/// Whether `path` still names `file` (it was neither moved to `bad/`, rewritten nor released
/// while dk waited for its lock).
fn still_at(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
        _ => false,
    }
}

fn io_error(err: dk_fs::FsError) -> std::io::Error {
    std::io::Error::other(err)
}

impl Spool {
    pub fn new(dir: impl Into<PathBuf>) -> Spool {
        Spool { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, run: Uuid) -> PathBuf {
        self.dir.join(format!("{run}.jsonl"))
    }

    /// Opens and locks the spool file at `path`; `None` when it is gone.
    fn open_locked(&self, path: &Path, create: bool) -> Result<Option<File>, dk_fs::FsError> {
        // Each retry follows a file moved away while dk waited for it; a handful suffices.
        for _ in 0..8 {
            let file = match dk_fs::open_own(path, create) {
                Ok(file) => file,
                Err(err) if err.io_kind() == Some(std::io::ErrorKind::NotFound) && !create => {
                    return Ok(None);
                }
                Err(err) => return Err(err),
            };
            lock(&file, path).map_err(|err| dk_fs::FsError::Io {
                path: err.path,
                source: err.source,
            })?;
            if still_at(&file, path) {
                crate::private::file(&file).map_err(|err| dk_fs::FsError::Io {
                    path: path.to_owned(),
                    source: err,
                })?;
                return Ok(Some(file));
            }
        }
        Ok(None)
    }

    /// Appends an event to its run's file, syncs it to disk and returns its JSON. On an error
    /// (a full disk), nothing of the event stays in the file: it was not recorded, and the
    /// caller must say so.
    pub fn append(&self, event: &RunEvent) -> Result<String, SpoolError> {
        let json = serde_json::to_string(event)
            .map_err(|err| SpoolError::new(&self.file(event.run.run_id), err))?;
        self.append_json(event.run.run_id, json)
    }

    /// [`Spool::append`] for an event received as JSON (one line, already checked with
    /// [`crate::event::EventHead::parse_storable`]) of the run `run`: kept as it came, facets
    /// dk does not model included.
    pub fn append_json(&self, run: Uuid, json: String) -> Result<String, SpoolError> {
        let path = self.file(run);
        crate::private::dir(&self.dir).map_err(|err| SpoolError::new(&self.dir, err))?;
        let file = self
            .open_locked(&path, true)
            .map_err(|err| SpoolError::new(&path, io_error(err)))?
            .ok_or_else(|| {
                SpoolError::new(
                    &path,
                    std::io::Error::other("the file kept being moved away"),
                )
            })?;
        let mut end = file
            .metadata()
            .map_err(|err| SpoolError::new(&path, err))?
            .len();
        let mut last = [b'\n'];
        if end > 0 {
            file.read_exact_at(&mut last, end - 1)
                .map_err(|err| SpoolError::new(&path, err))?;
        }
        if last != [b'\n'] {
            // An earlier append to this run's file did not finish: cut it off, or this event
            // would be glued to it.
            let bytes = read_capped(&file, &path)?;
            let torn = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            self.cut_torn_tail(&file, &path, &bytes, torn)?;
            end = torn as u64;
        }
        let line = frame(&json);
        if let Err(err) = file
            .write_all_at(line.as_bytes(), end)
            .and_then(|()| file.sync_data())
        {
            let _ = file.set_len(end).and_then(|()| file.sync_data());
            return Err(SpoolError::new(&path, err));
        }
        Ok(json)
    }

    /// Every spooled run, oldest file first, after moving what cannot be read to `bad/` and
    /// cutting off appends that did not finish.
    pub fn scan(&self) -> Result<Scan, SpoolError> {
        let mut runs = Vec::new();
        let scan = self.scan_each(|run| {
            runs.push(run);
            ControlFlow::Continue(())
        })?;
        Ok(Scan { runs, ..scan })
    }

    /// [`Spool::scan`] handing each run to `each` as soon as its file is read, until `each`
    /// breaks: a flush stores what was read while the rest is read, and never holds the whole
    /// spool in memory. The scan returned has no runs.
    pub fn scan_each(
        &self,
        mut each: impl FnMut(SpooledRun) -> ControlFlow<()>,
    ) -> Result<Scan, SpoolError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Scan::default()),
            Err(err) => return Err(SpoolError::new(&self.dir, err)),
        };
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| !sweep_stale_temporary(path))
            .filter(|path| path.extension().is_some_and(|ext| ext == "jsonl"))
            .collect();
        // UUIDv7 file names sort by time.
        paths.sort();
        let mut scan = Scan::default();
        for path in paths {
            match self.read_run(&path, &mut scan.quarantined) {
                Ok(Some(run)) => {
                    if each(run).is_break() {
                        break;
                    }
                }
                Ok(None) => {}
                Err(err) => scan.skipped.push(format!("{err}; left in place")),
            }
        }
        Ok(scan)
    }

    fn read_run(
        &self,
        path: &Path,
        quarantined: &mut Vec<Quarantined>,
    ) -> Result<Option<SpooledRun>, SpoolError> {
        let file = match self.open_locked(path, false) {
            Ok(Some(file)) => file,
            Ok(None) => return Ok(None),
            // Not something dk spooled (a link, a folder, a FIFO), or not readable.
            Err(dk_fs::FsError::NotRegular { kind, .. }) => {
                quarantined.push(self.quarantine_entry(path, &format!("{kind}, not a file"))?);
                return Ok(None);
            }
            Err(err) if err.io_kind() == Some(std::io::ErrorKind::PermissionDenied) => {
                quarantined.push(self.quarantine_entry(path, &format!("cannot be read: {err}"))?);
                return Ok(None);
            }
            // Anything else (too many open files, a lock held too long) may pass.
            Err(err) => return Err(SpoolError::new(path, io_error(err))),
        };
        let len = file
            .metadata()
            .map_err(|err| SpoolError::new(path, err))?
            .len();
        if len > SPOOL_FILE_LIMIT {
            let reason = format!(
                "larger than {} MiB, not a spool file dk wrote",
                SPOOL_FILE_LIMIT >> 20
            );
            quarantined.push(self.quarantine_entry(path, &reason)?);
            return Ok(None);
        }
        let bytes = read_capped(&file, path)?;
        let parsed = parse(&bytes);
        let mut kept = bytes.len();
        if let Some(torn) = parsed.torn {
            quarantined.push(self.cut_torn_tail(&file, path, &bytes, torn)?);
            kept = torn;
        }
        if !parsed.bad.is_empty() {
            for (range, reason) in &parsed.bad {
                quarantined.push(self.quarantine_bytes(
                    &format!("{}.at-{}", file_name(path), range.start),
                    &bytes[range.clone()],
                    reason,
                )?);
            }
            // The file is rewritten with its events only; an append waiting for the lock finds
            // the new file by its name.
            let good: Vec<u8> = parsed
                .events
                .iter()
                .flat_map(|(range, _)| bytes[range.clone()].iter().copied())
                .collect();
            dk_fs::write_atomic(path, &good).map_err(|err| SpoolError::new(path, io_error(err)))?;
            kept = good.len();
        }
        if parsed.events.is_empty() {
            // Emptied, or nothing in it could be read: nothing is pending in it.
            remove(path)?;
            return Ok(None);
        }
        Ok(Some(SpooledRun {
            path: path.to_owned(),
            events: parsed.events.into_iter().map(|(_, event)| event).collect(),
            len: kept as u64,
        }))
    }

    /// Cuts the file at `torn`, keeping what was cut in `bad/`.
    fn cut_torn_tail(
        &self,
        file: &File,
        path: &Path,
        bytes: &[u8],
        torn: usize,
    ) -> Result<Quarantined, SpoolError> {
        let quarantined = self.quarantine_bytes(
            &format!("{}.at-{torn}", file_name(path)),
            &bytes[torn..],
            "an append that did not finish (the writer failed or was killed): the event was never recorded",
        )?;
        file.set_len(torn as u64)
            .and_then(|()| file.sync_data())
            .map_err(|err| SpoolError::new(path, err))?;
        Ok(quarantined)
    }

    /// A name in `bad/` that is not taken yet.
    fn bad_name(&self, name: &str) -> Result<(PathBuf, String), SpoolError> {
        let bad = self.dir.join(BAD);
        dk_fs::create_dir_all_beneath(&self.dir, Path::new(BAD))
            .map_err(|err| SpoolError::new(&bad, io_error(err)))?;
        for n in 0..1000 {
            let candidate = match n {
                0 => name.to_owned(),
                n => format!("{name}.{n}"),
            };
            let taken = |name: &str| std::fs::symlink_metadata(bad.join(name)).is_ok();
            if !taken(&candidate) && !taken(&format!("{candidate}.reason")) {
                return Ok((bad.join(&candidate), candidate));
            }
        }
        Err(SpoolError::new(
            &bad,
            std::io::Error::other(format!("1000 quarantined entries named {name}")),
        ))
    }

    fn write_reason(
        &self,
        name: &str,
        path: PathBuf,
        reason: &str,
    ) -> Result<Quarantined, SpoolError> {
        let relative = Path::new(BAD).join(format!("{name}.reason"));
        dk_fs::write_atomic_beneath(&self.dir, &relative, format!("{reason}\n").as_bytes())
            .map_err(|err| SpoolError::new(&self.dir.join(&relative), io_error(err)))?;
        Ok(Quarantined {
            path,
            reason: reason.to_owned(),
        })
    }

    fn quarantine_bytes(
        &self,
        name: &str,
        bytes: &[u8],
        reason: &str,
    ) -> Result<Quarantined, SpoolError> {
        let (path, name) = self.bad_name(name)?;
        dk_fs::write_atomic_beneath(&self.dir, &Path::new(BAD).join(&name), bytes)
            .map_err(|err| SpoolError::new(&path, io_error(err)))?;
        self.write_reason(&name, path, reason)
    }

    /// Moves a spool entry (whatever it is: it is renamed, never opened) to `bad/`.
    fn quarantine_entry(&self, path: &Path, reason: &str) -> Result<Quarantined, SpoolError> {
        let (target, name) = self.bad_name(&file_name(path))?;
        std::fs::rename(path, &target).map_err(|err| SpoolError::new(path, err))?;
        self.write_reason(&name, target, reason)
    }

    /// What is in `bad/`, by name, with why it is there.
    pub fn quarantine(&self) -> Result<Vec<Quarantined>, SpoolError> {
        let bad = self.dir.join(BAD);
        let entries = match std::fs::read_dir(&bad) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(SpoolError::new(&bad, err)),
        };
        let mut found: Vec<Quarantined> = entries
            .flatten()
            .filter_map(|entry| {
                let reason_file = entry.path();
                let item = reason_file
                    .to_str()?
                    .strip_suffix(".reason")
                    .map(PathBuf::from)?;
                let reason = dk_fs::read_to_string(&reason_file, 64 << 10).ok()?;
                Some(Quarantined {
                    path: item,
                    reason: reason.trim_end().to_owned(),
                })
            })
            .collect();
        found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(found)
    }

    /// Removes a run's file once nothing in it is pending, unless an event was appended since
    /// it was read.
    pub fn release(&self, run: &SpooledRun) -> Result<bool, SpoolError> {
        let file = match self.open_locked(&run.path, false) {
            Ok(Some(file)) => file,
            Ok(None) => return Ok(true),
            Err(err) => return Err(SpoolError::new(&run.path, io_error(err))),
        };
        let len = file
            .metadata()
            .map_err(|err| SpoolError::new(&run.path, err))?
            .len();
        if len != run.len {
            return Ok(false);
        }
        remove(&run.path)?;
        Ok(true)
    }

    /// [`Spool::release`] of many runs; how many files were removed. Removing a file waits on
    /// the disk (freeing its blocks, a discard on filesystems mounted with one), not the CPU:
    /// a flush of a large backlog spent most of its time in these waits one after another, so
    /// they run [`RELEASE_THREADS`] at a time.
    pub fn release_all(&self, runs: &[&SpooledRun]) -> Result<usize, SpoolError> {
        if runs.is_empty() {
            return Ok(0);
        }
        let chunk = runs.len().div_ceil(RELEASE_THREADS);
        std::thread::scope(|scope| {
            let workers: Vec<_> = runs
                .chunks(chunk)
                .map(|runs| {
                    scope.spawn(move || {
                        runs.iter().try_fold(0, |released, run| {
                            Ok(released + usize::from(self.release(run)?))
                        })
                    })
                })
                .collect();
            workers.into_iter().try_fold(0, |released, worker| {
                let done: Result<usize, SpoolError> = worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                Ok(released + done?)
            })
        })
    }
}

/// How many spool files [`Spool::release_all`] removes at once.
const RELEASE_THREADS: usize = 8;

/// Removes the temporary file of a rewrite whose dk died before renaming it
/// (`.<name>.<pid>.<n>.tmp`, see `dk_fs::AtomicFile`); whether it was one.
fn sweep_stale_temporary(path: &Path) -> bool {
    let name = file_name(path);
    let Some(pid) = name
        .strip_prefix('.')
        .and_then(|name| name.strip_suffix(".tmp"))
        .and_then(|name| name.rsplit('.').nth(1))
        .and_then(|pid| pid.parse::<u32>().ok())
    else {
        return false;
    };
    if !Path::new("/proc").join(pid.to_string()).exists() {
        let _ = std::fs::remove_file(path);
    }
    true
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn remove(path: &Path) -> Result<(), SpoolError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(SpoolError::new(path, err)),
    }
}

/// The whole of a spool file, refused past the cap.
fn read_capped(file: &File, path: &Path) -> Result<Vec<u8>, SpoolError> {
    // Sized up front: a flush reads thousands of files, and growing each buffer costs reads.
    let size = file
        .metadata()
        .map_or(0, |meta| meta.len())
        .min(SPOOL_FILE_LIMIT);
    let mut bytes = Vec::with_capacity(size as usize + 1);
    // One byte past the cap tells a file that is too large from one that fits.
    file.take(SPOOL_FILE_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| SpoolError::new(path, err))?;
    if bytes.len() as u64 > SPOOL_FILE_LIMIT {
        return Err(SpoolError::new(
            path,
            std::io::Error::other(format!(
                "grew past {} MiB while read",
                SPOOL_FILE_LIMIT >> 20
            )),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const RUN: &str = "0193a8f0-0000-7000-8000-000000000001";

    fn event(index: usize, pad: usize) -> RunEvent {
        serde_json::from_value(json!({
            "eventType": if index == 0 { "START" } else { "RUNNING" },
            "eventTime": format!("2026-01-01T00:{:02}:{:02}.{:03}Z", index / 60_000 % 60, index / 1000 % 60, index % 1000),
            "run": {"runId": RUN, "facets": {"pad": {"text": "é".repeat(pad)}}},
            "job": {"namespace": "default", "name": format!("job-{index}")},
            "producer": "https://datakit.infoblox.dev/dk/test",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        }))
        .unwrap()
    }

    fn json_of(index: usize) -> String {
        serde_json::to_string(&event(index, index % 7)).unwrap()
    }

    fn spool() -> (tempfile::TempDir, Spool, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path().join("spool"));
        std::fs::create_dir_all(spool.dir()).unwrap();
        let file = spool.dir().join(format!("{RUN}.jsonl"));
        (dir, spool, file)
    }

    fn jsons(scan: &Scan) -> Vec<String> {
        scan.runs
            .iter()
            .flat_map(|run| run.events.iter().map(|event| event.json.clone()))
            .collect()
    }

    #[test]
    fn the_checksum_is_zlibs_crc32() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    proptest! {
        /// A file cut at any byte (a crash, a full disk) gives back every event whose line was
        /// whole, and no other; the cut tail goes to bad/, and the next append starts clean.
        #[test]
        fn a_cut_anywhere_loses_only_the_event_it_cut(count in 1usize..6, cut in any::<prop::sample::Index>()) {
            let (_dir, spool, file) = spool();
            let events: Vec<String> = (0..count).map(json_of).collect();
            let bytes: String = events.iter().map(|json| frame(json)).collect();
            let cut = cut.index(bytes.len() + 1);
            std::fs::write(&file, &bytes.as_bytes()[..cut]).unwrap();
            let whole: Vec<String> = events
                .iter()
                .scan(0, |end, json| {
                    *end += frame(json).len();
                    Some((*end, json.clone()))
                })
                .filter(|(end, _)| *end <= cut)
                .map(|(_, json)| json)
                .collect();
            let at_boundary = whole.iter().map(|json| frame(json).len()).sum::<usize>() == cut;
            let scan = spool.scan().unwrap();
            prop_assert_eq!(jsons(&scan), whole.clone());
            prop_assert_eq!(scan.quarantined.len(), usize::from(!at_boundary));
            let next = spool.append(&event(count, 3)).unwrap();
            let scan = spool.scan().unwrap();
            prop_assert!(scan.quarantined.is_empty());
            let mut expected = whole;
            expected.push(next);
            prop_assert_eq!(jsons(&scan), expected);
        }

        /// A byte changed anywhere never yields an event that was not written: it costs the
        /// line it is on (or the two it joins, when it was a newline).
        #[test]
        fn a_changed_byte_never_yields_a_wrong_event(count in 1usize..5, at in any::<prop::sample::Index>(), flip in 1u8..=255) {
            let events: Vec<String> = (0..count).map(json_of).collect();
            let mut bytes: Vec<u8> = events.iter().flat_map(|json| frame(json).into_bytes()).collect();
            let at = at.index(bytes.len());
            bytes[at] ^= flip;
            let parsed = parse(&bytes);
            let read: Vec<&String> = parsed.events.iter().map(|(_, event)| &event.json).collect();
            prop_assert!(read.iter().all(|json| events.contains(json)), "{read:?}");
            prop_assert!(read.len() + 2 >= count);
            prop_assert_eq!(read.len() + parsed.bad.len() + usize::from(parsed.torn.is_some()) >= count - 1, true);
        }
    }

    #[test]
    fn plain_json_lines_of_earlier_versions_are_still_read() {
        let (_dir, spool, file) = spool();
        std::fs::write(&file, format!("{}\n{}\n", json_of(0), json_of(1))).unwrap();
        let appended = spool.append(&event(2, 0)).unwrap();
        let scan = spool.scan().unwrap();
        assert_eq!(jsons(&scan), [json_of(0), json_of(1), appended]);
        assert!(scan.quarantined.is_empty());
    }

    #[test]
    fn what_cannot_be_read_is_moved_to_bad_with_a_reason_and_the_rest_is_read() {
        let (dir, spool, file) = spool();
        let at = |name: &str| spool.dir().join(name);
        std::fs::create_dir(at("0-folder.jsonl")).unwrap();
        std::os::unix::fs::symlink("nowhere", at("1-dangling.jsonl")).unwrap();
        let outside = dir.path().join("outside.jsonl");
        std::fs::write(&outside, frame(&json_of(5))).unwrap();
        std::os::unix::fs::symlink(&outside, at("2-link.jsonl")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            at("3-fifo.jsonl"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        std::fs::write(at("4-garbage.jsonl"), b"not an event\n").unwrap();
        let mut mixed = frame(&json_of(0)).into_bytes();
        mixed.extend(b"\xff\xfe not UTF-8\n");
        mixed.extend(b"{\"eventType\": \"START\"}\n");
        mixed.extend(frame(&json_of(1)).into_bytes());
        std::fs::write(&file, &mixed).unwrap();
        std::fs::write(at("notes.txt"), b"not a spool file").unwrap();

        let scan = spool.scan().unwrap();
        assert_eq!(jsons(&scan), [json_of(0), json_of(1)]);
        let reasons: Vec<&str> = scan.quarantined.iter().map(|q| q.reason.as_str()).collect();
        assert_eq!(scan.quarantined.len(), 7, "{reasons:#?}");
        for expected in [
            "a directory, not a file",
            "a symbolic link, not a file",
            "a FIFO, not a file",
            "a line that is not UTF-8",
        ] {
            assert!(reasons.contains(&expected), "{expected}: {reasons:#?}");
        }
        assert_eq!(
            reasons
                .iter()
                .filter(|r| r.starts_with("a line that is not an OpenLineage event"))
                .count(),
            2
        );
        // Moved, never followed: the link's target is where it was.
        assert_eq!(
            std::fs::read(&outside).unwrap(),
            frame(&json_of(5)).as_bytes()
        );
        assert!(
            std::fs::symlink_metadata(at("bad/2-link.jsonl"))
                .unwrap()
                .is_symlink()
        );
        assert_eq!(
            std::fs::read(at("bad/3-fifo.jsonl.reason")).unwrap(),
            b"a FIFO, not a file\n"
        );
        assert_eq!(
            std::fs::read(at(&format!(
                "bad/{RUN}.jsonl.at-{}",
                frame(&json_of(0)).len()
            )))
            .unwrap(),
            b"\xff\xfe not UTF-8\n"
        );
        assert!(at("notes.txt").exists(), "only spool files are dk's");
        assert!(
            !at("4-garbage.jsonl").exists(),
            "a file with no event is not kept"
        );
        assert_eq!(spool.quarantine().unwrap().len(), 7);

        // Once moved aside, nothing is left to warn about.
        let again = spool.scan().unwrap();
        assert!(again.quarantined.is_empty());
        assert_eq!(jsons(&again), [json_of(0), json_of(1)]);
    }

    #[test]
    fn temporaries_of_a_dead_dk_are_swept_and_a_live_dks_kept() {
        let (_dir, spool, _) = spool();
        let dead = spool.dir().join(format!(".{RUN}.jsonl.999999999.0.tmp"));
        let live = spool
            .dir()
            .join(format!(".{RUN}.jsonl.{}.0.tmp", std::process::id()));
        std::fs::write(&dead, "x").unwrap();
        std::fs::write(&live, "x").unwrap();
        spool.scan().unwrap();
        assert!(!dead.exists());
        assert!(live.exists());
    }

    #[test]
    fn a_released_file_is_kept_when_an_event_was_appended_since_it_was_read() {
        let (_dir, spool, file) = spool();
        spool.append(&event(0, 0)).unwrap();
        let scan = spool.scan().unwrap();
        spool.append(&event(1, 0)).unwrap();
        assert!(!spool.release(&scan.runs[0]).unwrap());
        assert!(file.exists());
        let scan = spool.scan().unwrap();
        assert!(spool.release(&scan.runs[0]).unwrap());
        assert!(!file.exists());
    }

    #[test]
    fn releasing_many_runs_at_once_removes_each_file_unless_appended_to_since_it_was_read() {
        let (_dir, spool, _) = spool();
        let run = |n: usize| Uuid::parse_str(&format!("0193a8f0-0000-7000-8000-{n:012}")).unwrap();
        for n in 0..40 {
            let mut event = event(0, 0);
            event.run.run_id = run(n);
            spool.append(&event).unwrap();
        }
        let scan = spool.scan().unwrap();
        let mut late = event(1, 0);
        late.run.run_id = run(7);
        spool.append(&late).unwrap();
        let runs: Vec<&SpooledRun> = scan.runs.iter().collect();
        assert_eq!(spool.release_all(&runs).unwrap(), 39);
        let left = spool.scan().unwrap();
        assert_eq!(left.runs.len(), 1);
        assert_eq!(left.runs[0].path, spool.file(run(7)));
        assert_eq!(left.runs[0].events.len(), 2);
        assert_eq!(spool.release_all(&[]).unwrap(), 0);
    }

    /// A 64 KiB tmpfs, unmounted when dropped; `None` where mounting is not allowed.
    struct Tmpfs {
        dir: tempfile::TempDir,
    }

    impl Tmpfs {
        fn mount() -> Option<Tmpfs> {
            let dir = tempfile::tempdir().unwrap();
            let tmpfs = Tmpfs { dir };
            std::fs::create_dir(tmpfs.path()).unwrap();
            std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=64k", "dk-spool-test"])
                .arg(tmpfs.path())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
                .then_some(tmpfs)
        }

        fn path(&self) -> PathBuf {
            self.dir.path().join("small")
        }
    }

    impl Drop for Tmpfs {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg(self.path())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }

    fn skipped(what: &str) {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "SKIPPED: {what}");
    }

    /// A small filesystem that fills up: a tmpfs (as root), else a file size limit set with
    /// `prlimit` on a copy of this test; skipped when neither can be had here.
    fn fill_up(check: impl Fn(&Path)) {
        if let Some(tmpfs) = Tmpfs::mount() {
            check(&tmpfs.path());
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        // SIGXFSZ ignored (inherited through exec), so that a write past the limit fails with
        // EFBIG instead of killing the process.
        let child = std::process::Command::new("sh")
            .args([
                "-c",
                r#"trap "" XFSZ; exec prlimit --fsize=65536 "$0" "$@""#,
            ])
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "spool::tests::disk_full_under_a_size_limit",
                "--nocapture",
            ])
            .env("DK_SPOOL_TEST_FULL", dir.path())
            .output();
        match child {
            Ok(output) if output.status.success() => {}
            Ok(output) if String::from_utf8_lossy(&output.stderr).contains("prlimit") => {
                skipped("neither a tmpfs mount nor prlimit --fsize works here");
            }
            other => panic!("the size-limited test failed: {other:?}"),
        }
    }

    fn appends_until_full_keep_every_earlier_event(dir: &Path) {
        let spool = Spool::new(dir.join("spool"));
        let mut written = Vec::new();
        let error = (0..10_000)
            .find_map(|index| match spool.append(&event(index, 500)) {
                Ok(json) => {
                    written.push(json);
                    None
                }
                Err(err) => Some(err),
            })
            .expect("the disk filled up");
        assert!(error.is_disk_full(), "{error}");
        assert!(!written.is_empty());
        let scan = spool.scan().unwrap();
        assert!(scan.quarantined.is_empty(), "{:?}", scan.quarantined);
        assert_eq!(jsons(&scan), written);
    }

    #[test]
    fn an_append_that_finds_the_disk_full_fails_and_keeps_every_earlier_event() {
        fill_up(appends_until_full_keep_every_earlier_event);
    }

    /// Run by [`fill_up`] under `prlimit --fsize`; nothing otherwise.
    #[test]
    fn disk_full_under_a_size_limit() {
        if let Some(dir) = std::env::var_os("DK_SPOOL_TEST_FULL") {
            appends_until_full_keep_every_earlier_event(Path::new(&dir));
        }
    }

    /// A full disk keeps dk from moving a bad line to `bad/`: that file stays as it is, with a
    /// word, and the other files are read all the same.
    #[test]
    fn a_file_that_cannot_be_repaired_on_a_full_disk_is_left_and_the_rest_is_read() {
        use std::io::Write;
        let Some(tmpfs) = Tmpfs::mount() else {
            return skipped("cannot mount a tmpfs here");
        };
        let spool = Spool::new(tmpfs.path().join("spool"));
        let first = spool.append(&event(0, 0)).unwrap();
        let other = spool
            .dir()
            .join("0193a8f0-0000-7000-8000-000000000002.jsonl");
        std::fs::write(&other, format!("{}not an event\n", frame(&json_of(1)))).unwrap();
        let filler = tmpfs.path().join("filler");
        let mut file = File::create(&filler).unwrap();
        while file.write_all(&[0; 4096]).is_ok() {}
        drop(file);

        let scan = spool.scan().unwrap();
        assert_eq!(jsons(&scan), std::slice::from_ref(&first));
        assert_eq!(scan.skipped.len(), 1, "{:?}", scan.skipped);
        assert!(
            scan.skipped[0].contains("left in place"),
            "{:?}",
            scan.skipped
        );
        assert!(other.exists());

        std::fs::remove_file(&filler).unwrap();
        let scan = spool.scan().unwrap();
        assert_eq!(jsons(&scan), [first, json_of(1)]);
        assert_eq!(scan.quarantined.len(), 1);
    }
}
