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
