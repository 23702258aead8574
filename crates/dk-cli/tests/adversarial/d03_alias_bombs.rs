//! Defect 3: a 500-byte alias bomb (nine levels of nine aliases) drove dk past 4 GiB and SIGABRT
//! as dk.yaml, a DataSet, a `-f` file, `.dk/policies.yaml` or `$DK_HOME/config.yaml`. Every
//! case runs dk with its data segment capped at 100 MiB (the promise), so that a regression
//! fails here with an allocation failure instead of exhausting the machine.

use std::process::Command;

use dk_test::TestContext;

use crate::common::{Run, context, run_ok};

/// Nine levels of nine aliases: 9^9 copies of "lol" if nothing stops it.
fn bomb() -> String {
    let mut text = String::from("a0: &a0 \"lol\"\n");
    for level in 1..=9 {
        let aliases = vec![format!("*a{}", level - 1); 9].join(", ");
        text.push_str(&format!("a{level}: &a{level} [{aliases}]\n"));
    }
    text
}

/// The line and column where the alias that crosses the node limit sits in [`bomb`].
const CROSSING: &str = "7:10";

/// `dk ARGS` with the data segment (heap and private mappings) limited to 100 MiB.
fn run_capped(ctx: &TestContext, args: &[&str]) -> Run {
    let dk = ctx.dk_process();
    let mut command = Command::new("sh");
    command
        .env_clear()
        .envs(dk.get_envs().filter_map(|(key, value)| Some((key, value?))))
        .current_dir(dk.get_current_dir().expect("dk runs in the work folder"))
        .args(["-c", "ulimit -d 102400 && exec \"$@\"", "sh"])
        .arg(dk.get_program())
        .args(args);
    Run::from_output(command.output().expect("run dk under sh"))
}

fn package(ctx: &TestContext) {
    run_ok(ctx, &["init", "pkg"], 0);
}

fn assert_limit_finding(run: &Run, place: &str) {
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(run.stdout.contains("[DK014]"), "{}", run.transcript());
    assert!(
        run.stdout.contains(&format!("--> {place}")),
        "{}",
        run.transcript()
    );
    assert!(
        run.stdout.contains("more than 100000 nodes"),
        "{}",
        run.transcript()
    );
    assert!(!run.stdout.contains("[DK001]"), "{}", run.transcript());
}

#[test]
fn a_bomb_as_dk_yaml_is_dk014_at_the_alias() {
    let ctx = context();
    package(&ctx);
    ctx.write("pkg/dk.yaml", bomb());
    let run = run_capped(&ctx, &["lint", "pkg"]);
    assert_limit_finding(&run, &format!("pkg/dk.yaml:{CROSSING}"));
}

#[test]
fn a_bomb_as_a_dataset_is_dk014_with_its_location_in_json_too() {
    let ctx = context();
    package(&ctx);
    ctx.write("pkg/dataset/laughs.yaml", bomb());
    let run = run_capped(&ctx, &["lint", "pkg"]);
    assert_limit_finding(&run, &format!("pkg/dataset/laughs.yaml:{CROSSING}"));
    let json = run_capped(&ctx, &["lint", "pkg", "-o", "json"]);
    let findings = json.json()["findings"].clone();
    let finding = findings
        .as_array()
        .unwrap()
        .iter()
        .find(|finding| finding["code"] == "DK014")
        .unwrap_or_else(|| panic!("{}", json.transcript()))
        .clone();
    assert_eq!(finding["rule"], "yaml-limits");
    assert_eq!(finding["severity"], "error");
    assert_eq!(finding["location"]["line"], 7);
    assert_eq!(finding["location"]["column"], 10);
}

#[test]
fn a_bomb_as_a_values_file_is_a_usage_error_naming_the_file() {
    let ctx = context();
    package(&ctx);
    ctx.write("values.yaml", bomb());
    for command in ["lint", "show"] {
        let run = run_capped(&ctx, &[command, "pkg", "-f", "values.yaml"]);
        assert_eq!(run.code, 2, "{}", run.transcript());
        assert!(
            run.stderr.contains(&format!(
                "values file over dk's YAML limits: values.yaml:{CROSSING}"
            )),
            "{}",
            run.transcript()
        );
    }
}

#[test]
fn a_bomb_as_the_policy_file_is_dk014() {
    let ctx = context();
    package(&ctx);
    ctx.write(".dk/policies.yaml", format!("policies: {{}}\n{}", bomb()));
    let run = run_capped(&ctx, &["lint", "pkg"]);
    assert_limit_finding(&run, "./.dk/policies.yaml:8:10");
}

#[test]
fn a_bomb_as_a_config_file_is_a_configuration_error() {
    let ctx = context();
    package(&ctx);
    let user = ctx.dk_home().join("config.yaml");
    std::fs::create_dir_all(user.parent().unwrap()).unwrap();
    std::fs::write(&user, bomb()).unwrap();
    for args in [&["config", "list"][..], &["config", "get", "registry"]] {
        let run = run_capped(&ctx, args);
        assert_eq!(run.code, 2, "{}", run.transcript());
        assert!(
            run.stderr.contains("config file over dk's YAML limits")
                && run.stderr.contains(&format!("config.yaml:{CROSSING}")),
            "{}",
            run.transcript()
        );
    }
    std::fs::remove_file(&user).unwrap();
    let system = ctx.system_config();
    std::fs::create_dir_all(system.parent().unwrap()).unwrap();
    std::fs::write(&system, bomb()).unwrap();
    let run = run_capped(&ctx, &["config", "list"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(
        run.stderr.contains("config file over dk's YAML limits"),
        "{}",
        run.transcript()
    );
}

#[test]
fn deep_nesting_and_oversized_manifests_are_dk014() {
    let ctx = context();
    package(&ctx);
    ctx.write(
        "pkg/dataset/deep.yaml",
        format!("value: {}{}\n", "[".repeat(100_000), "]".repeat(100_000)),
    );
    let run = run_capped(&ctx, &["lint", "pkg"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stdout.contains("nesting deeper than 64 levels")
            && run.stdout.contains("--> pkg/dataset/deep.yaml:1:"),
        "{}",
        run.transcript()
    );
    std::fs::remove_file(ctx.work().join("pkg/dataset/deep.yaml")).unwrap();
    let big = format!("# {}\n", "x".repeat(5 << 20));
    ctx.write("pkg/dataset/big.yaml", big);
    let run = run_capped(&ctx, &["lint", "pkg"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stdout.contains("[DK014]")
            && run.stdout.contains("larger than 4194304 bytes")
            && run.stdout.contains("--> pkg/dataset/big.yaml:1:1"),
        "{}",
        run.transcript()
    );
}
