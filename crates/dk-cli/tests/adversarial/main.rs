//! One case per defect an attacker found (issue "Security hardening"): crafted archives, a
//! registry that lies, GitOps repositories with symlinked folders, alias bombs, special files,
//! leaked secrets. Each module is named after the defect it reproduces; each case failed before
//! its fix. Modules named `i13_dNN_*` reproduce defect NN of issue 13 (durable runs and lineage).

#[path = "../common/mod.rs"]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::Run;
use dk_test::TestContext;

/// Makes a FIFO at `path`: opening it for reading blocks until a writer comes, so a reader that
/// does not refuse it hangs.
fn fifo(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .expect("mkfifo");
}

/// dk started with these variables and arguments, its output piped.
fn spawn_piped(ctx: &TestContext, env: &[(&str, &str)], args: &[&str]) -> std::process::Child {
    ctx.dk_process()
        .envs(env.iter().copied())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start dk")
}

/// Runs dk, killing it and failing the test when it has not ended within a minute (long enough
/// for any honest run): a hang fails instead of stalling the suite.
fn run_bounded(ctx: &TestContext, args: &[&str]) -> Run {
    run_bounded_with(ctx, &[], args)
}

/// [`run_bounded`] with extra environment variables.
fn run_bounded_with(ctx: &TestContext, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut child = spawn_piped(ctx, env, args);
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("poll dk").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("dk {} hung", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Run::from_output(child.wait_with_output().expect("collect dk's output"))
}

/// A tmpfs of `size` (`4m`) mounted at `path`, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// `None`, saying the test is skipped, where no tmpfs can be mounted (not root).
    fn mount(path: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "dk-test"])
            .arg(path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !mounted {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: cannot mount a tmpfs here (not root)"
            );
            return None;
        }
        Some(Tmpfs(path.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A project with a file store `files` (folder `data`) and a PostgreSQL store `warehouse` at
/// `port` on loopback.
fn project_with_stores(ctx: &TestContext, port: u16) {
    ctx.write(".dk/.keep", "");
    ctx.write(
        "store/files.yaml",
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Store\nmetadata:\n  name: files\nspec:\n  connector: file\n  connection:\n    path: data\n",
    );
    ctx.write(
        "store/warehouse.yaml",
        format!(
            "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Store\nmetadata:\n  name: warehouse\nspec:\n  connector: postgres\n  connection:\n    host: 127.0.0.1\n    port: {port}\n    database: dk\n    user: postgres\n"
        ),
    );
}

mod d01_link_chain;
mod d02_gitops_symlinks;
mod d03_alias_bombs;
mod d04_lying_registry;
mod d05_credentials;
mod d06_names;
mod d06_promote_args;
mod d06_references;
mod d07_immutability;
mod d08_connection_keys;
mod d09_forge_errors;
mod d09_registry_password;
mod d09_side_doors;
mod d10_special_files;
mod d10_spool_fifo;
mod d11_lineage_serve;
mod d12_forge;
mod d13_dev_down;
mod i13_crash;
mod i13_d01_down_backend;
mod i13_d02_bad_spool;
mod i13_d03_flush_counts;
mod i13_d04_disk_full_writes;
mod i13_d04_run_disk_full;
mod i13_d04_torn_spool;
mod i13_d05_flush_crash;
mod i13_d05_kill_dk;
mod i13_d06_signals;
mod i13_review_drop_pending;
mod i13_review_prepare_fails;
mod r5_pulled_packages;
