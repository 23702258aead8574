//! docs/configuration.md lists every config key and environment variable from the tables in
//! code; this test keeps the two in step (DK_UPDATE_DOCS=1 regenerates the document's tables).

use std::path::PathBuf;

use dk_config::env::ENV_VARS;
use dk_config::keys::KEYS;

fn document() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md")
}

#[test]
fn config_keys_are_documented() {
    let mut table =
        String::from("| Key | Type | Default | Environment | Meaning |\n|---|---|---|---|---|\n");
    for key in KEYS {
        let env = ENV_VARS
            .iter()
            .filter(|var| var.key == Some(key.pattern))
            .map(|var| format!("`{}`", var.name))
            .collect::<Vec<_>>()
            .join(", ");
        let default = key
            .default
            .map_or(String::new(), |value| format!("`{value}`"));
        table.push_str(&format!(
            "| `{}` | {} | {default} | {env} | {} |\n",
            key.pattern,
            key.kind.describe(),
            key.doc
        ));
    }
    dk_test::check_generated_section(&document(), "config-keys", &table);
}

#[test]
fn environment_variables_are_documented() {
    let mut table = String::from("| Variable | Sets | Meaning |\n|---|---|---|\n");
    for var in ENV_VARS {
        let key = var.key.map_or(String::new(), |key| format!("`{key}`"));
        table.push_str(&format!("| `{}` | {key} | {} |\n", var.name, var.doc));
    }
    dk_test::check_generated_section(&document(), "env-vars", &table);
}

/// Every `dk config set|get|unset KEY [VALUE]` the documentation shows names a key of the table
/// and, for `set`, a value of its type (a placeholder such as `<name>` or `TAG` aside).
#[test]
fn documented_config_commands_name_real_keys() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "md") {
            files.push(path);
        }
    }
    let mut checked = 0;
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (number, line) in text.lines().enumerate() {
            let mut rest = line;
            while let Some(at) = rest.find("dk config ") {
                rest = &rest[at + "dk config ".len()..];
                let words: Vec<&str> = rest
                    .split(|c: char| c.is_whitespace() || ['`', ')', ','].contains(&c))
                    .take(3)
                    .collect();
                let (verb, key) = (words[0], words.get(1).copied().unwrap_or_default());
                if !["set", "get", "unset"].contains(&verb)
                    || key.is_empty()
                    || key.starts_with('-')
                    || key.contains(['<', '*'])
                {
                    continue;
                }
                let place = format!("{}:{}: dk config {verb} {key}", file.display(), number + 1);
                let spec = dk_config::keys::spec_for(key).unwrap_or_else(|err| {
                    panic!("{place}: {err}");
                });
                if verb == "set" {
                    let value = words.get(2).copied().unwrap_or_default();
                    if value.starts_with(['<', '$'])
                        || value.chars().all(|c| c.is_ascii_uppercase())
                    {
                        continue;
                    }
                    dk_config::keys::parse_value(key, spec, value)
                        .unwrap_or_else(|err| panic!("{place} {value}: {err}"));
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 10, "only {checked} commands found");
}
