//! The JSON Schema of each command's `-o json` report, generated from the report's type into
//! `docs/schemas/COMMAND.json`. A test fails when a checked-in schema drifts from its type;
//! `DK_UPDATE_DOCS=1 cargo test -p dk-cli --bin dk schemas` regenerates them.

use schemars::{Schema, schema_for};

use crate::commands::{catalog, completions, config, init, status, version};

/// Each schema's file name (without `.json`) and the schema.
pub fn all() -> Vec<(&'static str, Schema)> {
    vec![
        ("version", schema_for!(version::VersionReport)),
        ("doctor", schema_for!(dk_config::doctor::Report)),
        ("init", schema_for!(init::InitReport)),
        ("status", schema_for!(status::StatusReport)),
        ("config-get", schema_for!(config::get::GetReport)),
        ("config-list", schema_for!(config::list::ListReport)),
        ("config-path", schema_for!(config::path::PathReport)),
        ("config-set", schema_for!(config::set::SetReport)),
        ("config-unset", schema_for!(config::unset::UnsetReport)),
        ("catalog-list", schema_for!(catalog::ListReport)),
        ("catalog-show", schema_for!(catalog::ShowReport)),
        ("catalog-create", schema_for!(catalog::CreateReport)),
        ("completions", schema_for!(completions::CompletionsReport)),
    ]
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    #[test]
    fn checked_in_schemas_match_the_report_types() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/schemas");
        let update = std::env::var_os("DK_UPDATE_DOCS").is_some();
        if update {
            std::fs::create_dir_all(&dir).unwrap();
        }
        let mut stale = Vec::new();
        for (name, schema) in super::all() {
            let path = dir.join(format!("{name}.json"));
            let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
            if update {
                std::fs::write(&path, &text).unwrap();
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(path.display().to_string());
            }
        }
        assert!(
            stale.is_empty(),
            "{stale:?} differ from the report types: DK_UPDATE_DOCS=1 cargo test -p dk-cli --bin dk schemas"
        );
    }
}
