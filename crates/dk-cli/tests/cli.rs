mod common;

use common::{context, run_ok, snapshot};

#[test]
fn version_in_text_and_json() {
    let ctx = context();
    let flag = run_ok(&ctx, &["--version"], 0);
    assert_eq!(flag.stdout, format!("dk {}\n", env!("CARGO_PKG_VERSION")));
    let json = run_ok(&ctx, &["version", "-o", "json"], 0).json();
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn help_documents_exit_codes_and_every_command_has_examples() {
    let ctx = context();
    let help = run_ok(&ctx, &["--help"], 0);
    snapshot(&ctx, "help", &help.stdout);
    let commands: &[&[&str]] = &[
        &["init"],
        &["lint"],
        &["show"],
        &["version"],
        &["completions"],
        &["config", "get"],
        &["config", "set"],
        &["config", "unset"],
        &["config", "list"],
        &["config", "path"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let result = run_ok(&ctx, &args, 0);
        assert!(
            result.stdout.contains("Examples:"),
            "dk {} --help has no examples",
            command.join(" ")
        );
    }
}

#[test]
fn completions_for_each_shell() {
    let ctx = context();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef dk"),
        ("fish", "complete -c dk"),
    ] {
        let script = run_ok(&ctx, &["completions", shell], 0);
        assert!(
            script.stdout.contains(marker),
            "{shell}: {}",
            &script.stdout[..200.min(script.stdout.len())]
        );
    }
    let json = run_ok(&ctx, &["completions", "bash", "-o", "json"], 0).json();
    assert_eq!(json["shell"], "bash");
}

#[test]
fn usage_errors_exit_2() {
    let ctx = context();
    run_ok(&ctx, &["frobnicate"], 2);
    run_ok(&ctx, &["init", "x", "--runtime", "python"], 2);
    let yaml = run_ok(&ctx, &["version", "-o", "yaml"], 0);
    assert!(yaml.stdout.starts_with("name: dk\n"), "{}", yaml.stdout);
}

#[test]
fn color_quiet_and_verbose_flags() {
    let ctx = context();
    run_ok(&ctx, &["init", "demo"], 0);
    // NO_COLOR is set by the test context: no escapes unless --color always.
    let plain = run_ok(&ctx, &["lint", "demo"], 0);
    assert!(!plain.stdout.contains('\u{1b}'), "{}", plain.stdout);
    let colored = run_ok(&ctx, &["lint", "demo", "--color", "always"], 0);
    assert!(colored.stdout.contains("\u{1b}["), "{}", colored.stdout);
    run_ok(&ctx, &["config", "set", "registry", "r.example"], 0);
    let quiet = run_ok(&ctx, &["config", "get", "registry", "-q"], 0);
    assert_eq!(
        (quiet.stdout.as_str(), quiet.stderr.as_str()),
        ("r.example\n", "")
    );
    let verbose = run_ok(&ctx, &["lint", "demo", "-v"], 0);
    assert!(
        verbose.stderr.contains("lint finished"),
        "{}",
        verbose.stderr
    );
}
