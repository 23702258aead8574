//! The JSON Schema of each command's `-o json` report, generated from the report's type into
//! `docs/schemas/COMMAND.json`. A test fails when a checked-in schema drifts from its type;
//! `DK_UPDATE_DOCS=1 cargo test -p dk-cli --bin dk schemas` regenerates them.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema};

use crate::commands::{
    catalog, completions, config, dev, gitops, governance, init, lineage, lint, package, pipeline,
    promote, run, show, status, test, trust, version,
};
use crate::promotion;

/// The schema of what `T` serializes to: fields skipped when empty are optional (a schema
/// for reading would require them).
fn output<T: JsonSchema>() -> Schema {
    SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<T>()
}

/// Each schema's file name (without `.json`) and the schema.
pub fn all() -> Vec<(&'static str, Schema)> {
    vec![
        ("version", output::<version::VersionReport>()),
        ("doctor", output::<dk_config::doctor::Report>()),
        ("init", output::<init::InitReport>()),
        ("status", output::<status::StatusReport>()),
        ("config-get", output::<config::get::GetReport>()),
        ("config-list", output::<config::list::ListReport>()),
        ("config-path", output::<config::path::PathReport>()),
        ("config-set", output::<config::set::SetReport>()),
        ("config-unset", output::<config::unset::UnsetReport>()),
        ("catalog-list", output::<catalog::ListReport>()),
        ("catalog-show", output::<catalog::ShowReport>()),
        ("catalog-create", output::<catalog::CreateReport>()),
        ("completions", output::<completions::CompletionsReport>()),
        ("lint", output::<lint::LintReport>()),
        ("lint-explain", output::<lint::ExplainReport>()),
        ("show", output::<show::ShowReport<'static>>()),
        ("run", output::<run::RunSummary>()),
        ("run-dry-run", output::<run::DryRuns>()),
        ("test", output::<test::TestReport>()),
        ("lineage", output::<lineage::LineageReport>()),
        ("lineage-open", output::<lineage::Opened>()),
        ("lineage-events", output::<lineage::EventsReport>()),
        ("lineage-flush", output::<lineage::FlushOutcome>()),
        ("lineage-serve", output::<lineage::Serving>()),
        ("lineage-migrate", output::<lineage::MigrateReport>()),
        ("governance", output::<governance::report::Report>()),
        ("pipeline", output::<pipeline::show::PipelineReport>()),
        ("build", output::<package::BuildReport>()),
        ("publish", output::<package::PublishReport>()),
        ("pull", output::<package::PullReport>()),
        ("inspect", output::<package::InspectReport>()),
        ("diff", output::<package::DiffReport>()),
        ("key-generate", output::<trust::KeyReport>()),
        ("sign", output::<trust::SignReport>()),
        ("verify", output::<trust::VerifyReport>()),
        ("promote", output::<promotion::report::PromotionReport>()),
        ("promote-state", output::<promote::PromotionState>()),
        ("promote-list", output::<promote::list::PromotionList>()),
        ("promote-close", output::<promote::close::ClosedReport>()),
        ("dev", output::<dev::StackReport>()),
        ("dev-seed", output::<dev::SeedReport>()),
        ("gitops-init", output::<gitops::init::Initialised>()),
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
