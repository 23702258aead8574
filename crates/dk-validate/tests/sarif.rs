//! `dk lint -o sarif` produces SARIF that validates against the SARIF 2.1.0 JSON Schema.

use std::path::{Path, PathBuf};

use dk_manifest::discover::{DiscoverOptions, load_package_project};
use dk_manifest::overrides::Overrides;

fn schema() -> serde_json::Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sarif/sarif-2.1.0-rtm.5.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn sarif_output_validates_and_carries_locations() {
    let case = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/pii-output/pkg");
    // A --set value too, so that a finding without a file location is in the log.
    let overrides = Overrides::parse(&[] as &[&str], &["spec.timeout=soon"]).unwrap();
    let project = load_package_project(&case, &overrides, &DiscoverOptions::default());
    let report = dk_validate::lint(&[project]);
    assert!(report.findings.len() >= 2, "{:?}", report.findings);
    let sarif =
        dk_validate::sarif::to_sarif(&report, "0.0.0-test", Some(Path::new("/work/project")));

    let validator = jsonschema::validator_for(&schema()).expect("the SARIF schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "SARIF does not validate:\n{}",
        errors.join("\n")
    );

    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), dk_validate::rules::ALL.len());
    let result = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "DK301")
        .unwrap();
    let index = result["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(rules[index]["id"], "DK301");
    let location = &result["locations"][0]["physicalLocation"];
    assert!(
        location["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("pkg/dataset/orders-summary.yaml")
    );
    assert_eq!(
        location["region"],
        serde_json::json!({"startLine": 8, "startColumn": 19})
    );
    assert_eq!(
        run["originalUriBaseIds"]["%SRCROOT%"]["uri"],
        "file:///work/project/"
    );
}

#[test]
fn the_schema_rejects_a_broken_log() {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    assert!(
        !validator.is_valid(&serde_json::json!({"version": "2.1.0", "runs": [{"results": []}]}))
    );
}
