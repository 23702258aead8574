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

/// The subcommands listed in a help text's `Commands:` section.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

#[test]
fn help_documents_exit_codes_and_every_command_has_examples() {
    let ctx = context();
    let help = run_ok(&ctx, &["--help"], 0);
    snapshot(&ctx, "help", &help.stdout);
    // Every leaf command, found by walking the help itself, shows examples.
    let mut pending: Vec<Vec<String>> = subcommands(&help.stdout)
        .into_iter()
        .map(|c| vec![c])
        .collect();
    let mut leaves = 0;
    while let Some(command) = pending.pop() {
        let mut args: Vec<&str> = command.iter().map(String::as_str).collect();
        args.push("--help");
        let result = run_ok(&ctx, &args, 0);
        let children = subcommands(&result.stdout);
        leaves += usize::from(children.is_empty());
        // Groups too: a user's first `dk dataset --help` showed no example.
        assert!(
            result.stdout.contains("Examples:"),
            "dk {} --help has no examples",
            command.join(" ")
        );
        pending.extend(
            children
                .into_iter()
                .map(|child| [command.clone(), vec![child]].concat()),
        );
    }
    assert!(leaves >= 20, "only {leaves} commands found");
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

/// `-o` offers each command the views it has: another is refused while the arguments are read
/// (exit 2, before anything runs), naming the formats the command has, and each command's help
/// lists its own.
#[test]
fn output_formats_are_those_of_the_command() {
    let ctx = context();
    let refused = run_ok(&ctx, &["build", "-o", "csv", "./nowhere"], 2);
    assert_eq!(refused.stdout, "");
    snapshot(&ctx, "output_format_refused", &refused.stderr);
    // Given before the command, the same refusal.
    let before = run_ok(&ctx, &["-o", "sarif", "version"], 2);
    assert!(
        before.stderr.contains("text, json, yaml"),
        "{}",
        before.stderr
    );
    for (command, offered, absent) in [
        (&["build"][..], "json", "csv"),
        (&["lint"], "sarif", "csv"),
        (&["governance", "report"], "csv", "sarif"),
        (&["pipeline", "show"], "mermaid", "csv"),
        (&["lineage"], "dot", "sarif"),
        (&["lineage", "events"], "yaml", "dot"),
        (&["dataset", "list"], "table", "csv"),
        (&["diff"], "markdown", "csv"),
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let help = run_ok(&ctx, &args, 0).stdout;
        let formats = help
            .split("-o, --output")
            .nth(1)
            .and_then(|rest| rest.split("\n\n").nth(1).map(str::to_owned))
            .unwrap_or_default();
        let listed = |format: &str| {
            help.split("-o, --output")
                .nth(1)
                .is_some_and(|rest| rest.contains(&format!("{format}:")))
        };
        assert!(
            listed(offered),
            "dk {} --help: no {offered}\n{formats}",
            command.join(" ")
        );
        assert!(!listed(absent), "dk {} --help: {absent}", command.join(" "));
        let mut args = command.to_vec();
        args.extend(["-o", absent]);
        let refused = run_ok(&ctx, &args, 2);
        assert!(
            refused.stderr.contains(&format!("'{absent}'")) && refused.stderr.contains(offered),
            "dk {}: {}",
            args.join(" "),
            refused.stderr
        );
    }
}
