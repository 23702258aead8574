//! Issue 13, defect 6: a SIGINT while `dk run` seeded the second package of a scan was
//! swallowed (the handler the first pipeline's supervision installed stays, and nobody
//! listened), leaving dk hanging on a database that did not answer.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use crate::common::context;

/// The output of `child` once it ended; killed, and the test failed with `hang`, when it has
/// not ended within `limit`.
fn bounded(mut child: std::process::Child, limit: Duration, hang: &str) -> std::process::Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "{hang}\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn sigint_while_seeding_the_second_package_stops_the_run_with_130() {
    let ctx = context();
    // A "database" that accepts connections and never answers: seeding waits on it.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let (connected, accepted) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().flatten() {
            held.push(stream);
            let _ = connected.send(());
        }
    });
    crate::project_with_stores(&ctx, port);
    for name in ["origin", "middle", "last"] {
        ctx.write(
            format!("dataset/{name}.yaml"),
            format!(
                "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: DataSet\nmetadata:\n  name: {name}\nspec:\n  store: files\n  path: {name}.csv\n  format: csv\n  classification: internal\n  schema:\n    - name: id\n      type: integer\n"
            ),
        );
    }
    ctx.write(
        "dataset/customers.yaml",
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: DataSet\nmetadata:\n  name: customers\nspec:\n  store: warehouse\n  table: public.customers\n  classification: internal\n  schema:\n    - name: id\n      type: integer\n  dev:\n    seed:\n      inline:\n        - {id: 1}\n",
    );
    ctx.write("data/origin.csv", "id\n1\n");
    for (name, inputs, output) in [
        ("first", "[{dataset: origin}]", "middle"),
        (
            "second",
            "[{dataset: middle}, {dataset: customers}]",
            "last",
        ),
    ] {
        ctx.write(
            format!("{name}/dk.yaml"),
            format!(
                "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Transform\nmetadata:\n  name: {name}\nspec:\n  runtime: generic-python\n  owner: data-team\n  inputs: {inputs}\n  outputs: [{{dataset: {output}}}]\n"
            ),
        );
        ctx.write(format!("{name}/main.py"), "print('ran')\n");
    }
    let dk = ctx
        .dk_process()
        .args(["run", "--scan-dir", ".", "--no-lineage"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start dk");
    // The first package ran; the second one's seeding is connected and waiting.
    accepted
        .recv_timeout(Duration::from_secs(60))
        .expect("the second package's seeding connects");
    std::thread::sleep(Duration::from_millis(200));
    kill_process(Pid::from_child(&dk), Signal::INT).unwrap();
    let output = bounded(
        dk,
        Duration::from_secs(20),
        "SIGINT was swallowed: dk still seeding",
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("stopped by SIGINT while seeding second"),
        "{stderr}"
    );
}

/// Runs `dk ARGS` on a pseudo-terminal (script(1), from util-linux, which every Debian has),
/// typing `input`; returns what the terminal showed.
fn on_a_terminal(ctx: &dk_test::TestContext, args: &str, input: &str) -> String {
    let dk = ctx.dk_process();
    let mut script = std::process::Command::new("script");
    script
        .args(["-qec"])
        .arg(format!(
            "{} {args}; echo dk-exit=$?",
            dk.get_program().to_string_lossy()
        ))
        .arg("/dev/null")
        .env_clear()
        .envs(dk.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .current_dir(ctx.work())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = script.spawn().expect("start script(1) (util-linux)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = bounded(
        child,
        Duration::from_secs(60),
        &format!("dk {args} hung on the terminal (a pipeline stopped by SIGTTIN?)"),
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_pipeline_reads_the_terminal_and_dk_gets_it_back_for_the_next_one() {
    let ctx = context();
    ctx.write(".dk/.keep", "");
    ctx.write(
        "store/files.yaml",
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Store\nmetadata:\n  name: files\nspec:\n  connector: file\n  connection:\n    path: data\n",
    );
    for name in ["origin", "middle", "last"] {
        ctx.write(
            format!("dataset/{name}.yaml"),
            format!(
                "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: DataSet\nmetadata:\n  name: {name}\nspec:\n  store: files\n  path: {name}.csv\n  format: csv\n  classification: internal\n  schema:\n    - name: id\n      type: integer\n"
            ),
        );
    }
    let answers = ctx.work().join("answers");
    for (name, input, output) in [("first", "origin", "middle"), ("second", "middle", "last")] {
        ctx.write(
            format!("{name}/dk.yaml"),
            format!(
                "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Transform\nmetadata:\n  name: {name}\nspec:\n  runtime: generic-python\n  owner: data-team\n  inputs: [{{dataset: {input}}}]\n  outputs: [{{dataset: {output}}}]\n"
            ),
        );
        ctx.write(
            format!("{name}/main.py"),
            format!(
                "answer = input('{name}? ')\nwith open({:?}, 'a') as f:\n    f.write('{name}=' + answer + '\\n')\n",
                answers.display().to_string()
            ),
        );
    }
    let transcript = on_a_terminal(&ctx, "run --scan-dir . --no-lineage", "one\ntwo\n");
    assert!(transcript.contains("dk-exit=0"), "{transcript}");
    // The second pipeline could read too: dk had the terminal back in between.
    assert_eq!(
        std::fs::read_to_string(&answers).unwrap_or_default(),
        "first=one\nsecond=two\n",
        "{transcript}"
    );
}
