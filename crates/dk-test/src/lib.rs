//! Test support for dk's end-to-end tests.
//!
//! A [`TestContext`] is a private temporary world for one test: its own `HOME`, `DK_HOME`,
//! system config path and working directory, and nothing from the developer's environment
//! (`DK_*`, `OPENLINEAGE_URL`, colours). Commands run the real `dk` binary in it.

pub mod argocd;
pub mod forge;
pub mod openlineage;
pub mod registry;
pub mod sink;

use std::path::{Path, PathBuf};

/// An isolated home and working directory for running `dk`.
#[derive(Debug)]
pub struct TestContext {
    root: tempfile::TempDir,
    bin: PathBuf,
}

impl TestContext {
    /// `bin` is the dk binary under test: `env!("CARGO_BIN_EXE_dk")` in dk-cli's tests.
    pub fn new(bin: impl Into<PathBuf>) -> TestContext {
        let root = tempfile::Builder::new()
            .prefix("dk-test-")
            .tempdir()
            .expect("create a temporary directory");
        for dir in ["home", "work"] {
            std::fs::create_dir_all(root.path().join(dir)).expect("create test directories");
        }
        TestContext {
            root,
            bin: bin.into(),
        }
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// A name of this test's own, usable in registry paths and database names (lower case).
    pub fn unique_name(&self) -> String {
        let name = self.root().file_name().expect("a directory name");
        name.to_string_lossy().to_lowercase()
    }

    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }

    pub fn dk_home(&self) -> PathBuf {
        self.home().join(".dk")
    }

    /// The working directory commands run in.
    pub fn work(&self) -> PathBuf {
        self.root().join("work")
    }

    /// Where the system config file lives for this test (`DK_SYSTEM_CONFIG`).
    pub fn system_config(&self) -> PathBuf {
        self.root().join("etc").join("config.yaml")
    }

    /// A `dk` command in the working directory with a clean environment.
    pub fn dk(&self) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.dk_process())
    }

    /// The same command as a plain process, for tests that start dk and signal it.
    pub fn dk_process(&self) -> std::process::Command {
        let mut command = std::process::Command::new(&self.bin);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("DK_SYSTEM_CONFIG", self.system_config())
            .env("NO_COLOR", "1")
            .current_dir(self.work());
        command
    }

    /// Writes a file below the working directory, creating its folders.
    pub fn write(&self, relative: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.work().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent directories");
        }
        std::fs::write(&path, contents).expect("write test file");
        path
    }

    /// Reads a file below the working directory.
    pub fn read(&self, relative: impl AsRef<Path>) -> String {
        std::fs::read_to_string(self.work().join(relative)).expect("read test file")
    }

    /// Snapshot settings that replace this test's temporary paths with stable names.
    pub fn snapshot_settings(&self) -> insta::Settings {
        let mut settings = insta::Settings::clone_current();
        let root = self.root().display().to_string();
        let canonical = self
            .root()
            .canonicalize()
            .map(|path| path.display().to_string())
            .unwrap_or_else(|_| root.clone());
        for path in [canonical, root] {
            settings.add_filter(&regex_escape(&path), "[TMP]");
        }
        settings.set_prepend_module_to_snapshot(false);
        settings
    }
}

/// Copies a directory tree (fixtures into a test's temporary directory), leaving out files named
/// in `skip`.
pub fn copy_tree(from: &Path, to: &Path, skip: &[&str]) {
    std::fs::create_dir_all(to).expect("create the target directory");
    for entry in std::fs::read_dir(from).expect("read the fixture directory") {
        let entry = entry.expect("read a fixture entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target, skip);
        } else if !skip.iter().any(|name| entry.file_name() == *name) {
            std::fs::copy(entry.path(), &target).expect("copy a fixture file");
        }
    }
}

/// Checks that the section of a Markdown document between `<!-- NAME:start -->` and
/// `<!-- NAME:end -->` equals `generated`. With `DK_UPDATE_DOCS=1` it rewrites the section
/// instead, so code stays the single source of the tables in the docs.
pub fn check_generated_section(document: &Path, name: &str, generated: &str) {
    // Several sections of one document may be checked (and rewritten) by parallel tests.
    static DOCUMENTS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = DOCUMENTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let text = std::fs::read_to_string(document)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", document.display()));
    let (start, end) = (
        format!("<!-- {name}:start -->\n"),
        format!("<!-- {name}:end -->"),
    );
    let from = text
        .find(&start)
        .unwrap_or_else(|| panic!("{} has no `{}` marker", document.display(), start.trim()))
        + start.len();
    let to = text[from..]
        .find(&end)
        .unwrap_or_else(|| panic!("{} has no `{end}` marker", document.display()))
        + from;
    if &text[from..to] == generated {
        return;
    }
    if std::env::var_os("DK_UPDATE_DOCS").is_some() {
        let updated = format!("{}{generated}{}", &text[..from], &text[to..]);
        std::fs::write(document, updated).expect("update the document");
        return;
    }
    panic!(
        "the `{name}` section of {} is out of date; regenerate it with DK_UPDATE_DOCS=1 cargo test\n--- expected ---\n{generated}",
        document.display()
    );
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escape = "\\.+*?()|[]{}^$#&-~".contains(c);
            escape.then_some('\\').into_iter().chain(std::iter::once(c))
        })
        .collect()
}

/// The value of a variable `scripts/test-services` exports for a service (`DK_TEST_POSTGRES_URL`),
/// or `None` after printing `SKIPPED: <what> not available`. Under `scripts/test`
/// (`DK_REQUIRE_SERVICES=1`) a missing service fails the test instead: CI must not skip.
pub fn service(variable: &str, what: &str) -> Option<String> {
    use std::io::Write;
    match std::env::var(variable) {
        Ok(value) if !value.is_empty() => Some(value),
        _ => {
            assert!(
                std::env::var_os("DK_REQUIRE_SERVICES").is_none(),
                "{what} is required ({variable} is not set): see scripts/test-services"
            );
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: {what} not available (eval \"$(scripts/test-services start)\")"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_regex_metacharacters() {
        assert_eq!(regex_escape("/tmp/dk-test-a.b"), "/tmp/dk\\-test\\-a\\.b");
    }
}
