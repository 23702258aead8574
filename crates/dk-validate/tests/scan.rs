//! `lint_scan` streams a scan's packages (read and checked on every core, each dropped once
//! checked); it must say exactly what `lint` says over the same packages loaded at once: the same
//! findings, in the same order, however far apart the packages a rule relates.

use std::path::{Path, PathBuf};

use dk_manifest::discover::{DiscoverOptions, load_projects, plan_projects};
use dk_validate::Report;

const HEADER: &str = "apiVersion: datakit.infoblox.dev/v1alpha1\n";

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, format!("{HEADER}{text}")).unwrap();
}

fn both(dir: &Path) -> (Report, Report) {
    let dirs = [dir.to_owned()];
    let options = DiscoverOptions::default();
    let loaded = dk_validate::lint(&load_projects(&dirs, &options).unwrap());
    let streamed = dk_validate::lint_scan(&plan_projects(&dirs, &options).unwrap());
    (loaded, streamed)
}

fn transform(name: &str, input: &str, output: &str) -> String {
    format!(
        "kind: Transform\nmetadata:\n  name: {name}\nspec:\n  runtime: generic-python\n  \
         owner: data-team\n  inputs:\n    - dataset: {input}\n  outputs:\n    - dataset: {output}\n"
    )
}

fn dataset(name: &str, extra: &str, fields: &str) -> String {
    format!(
        "kind: DataSet\nmetadata:\n  name: {name}\nspec:\n  store: db\n  table: public.{name}\n\
         {extra}  schema:\n{fields}"
    )
}

/// A project of `count` packages: the first and the last share a Transform name, and only the
/// last writes the project-level DataSet `out` (which has no classification).
fn project(dir: &Path, count: usize) {
    std::fs::create_dir_all(dir.join(".dk")).unwrap();
    write(
        &dir.join("store/db.yaml"),
        "kind: Store\nmetadata:\n  name: db\nspec:\n  connector: postgres\n  connection:\n    host: db\n",
    );
    let sensitive = "  classification: confidential\n  retention:\n    days: 30\n";
    write(
        &dir.join("dataset/src.yaml"),
        &dataset(
            "src",
            sensitive,
            "    - name: id\n      type: integer\n    - name: email\n      type: string\n      pii: true\n",
        ),
    );
    write(
        &dir.join("dataset/out.yaml"),
        &dataset(
            "out",
            "",
            "    - name: id\n      type: integer\n      from: src.id\n",
        ),
    );
    for index in 0..count {
        let package = dir.join(format!("p{index:03}"));
        let last = index == count - 1;
        let name = if index == 0 || last {
            "same".to_owned()
        } else {
            format!("p{index:03}")
        };
        let own = format!("p{index:03}-copy");
        let output = if last { "out" } else { own.as_str() };
        write(&package.join("dk.yaml"), &transform(&name, "src", output));
        write(
            &package.join(format!("dataset/{own}.yaml")),
            &dataset(
                &own,
                sensitive,
                "    - name: id\n      type: integer\n      from: src.id\n    - name: mail\n      \
                 type: string\n      from: src.email\n      masking: hash\n",
            ),
        );
    }
}

#[test]
fn rules_across_packages_fire_for_the_first_and_the_last_of_many() {
    let dir = tempfile::tempdir().unwrap();
    let count = 200;
    project(dir.path(), count);
    let (loaded, streamed) = both(dir.path());
    assert_eq!(streamed, loaded);
    assert_eq!(streamed.packages, count);
    assert_eq!(streamed.files, 3 + 2 * count);
    let found: Vec<(&str, String, String)> = streamed
        .findings
        .iter()
        .map(|finding| {
            let location = finding
                .location
                .as_ref()
                .expect("every finding has a place");
            let path = location.origin().to_string();
            let path = Path::new(&path)
                .strip_prefix(dir.path())
                .unwrap()
                .to_owned();
            let place = format!("{}:{}", path.display(), location.pos.line);
            (finding.code, place, finding.message.clone())
        })
        .collect();
    let first = dir.path().join("p000/dk.yaml");
    assert_eq!(
        found,
        [
            (
                "DK302",
                "dataset/out.yaml:5".to_owned(),
                "output 'out': consider adding classification".to_owned()
            ),
            (
                "DK011",
                format!("p{:03}/dk.yaml:4", count - 1),
                format!(
                    "Transform `same` is defined twice in namespace default (first at {}:4:3)",
                    first.display()
                )
            ),
        ]
    );
}

#[test]
fn findings_come_out_in_one_order_however_the_packages_are_read() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path(), 64);
    // A finding in every package, so that order across packages shows.
    for index in (0..64).step_by(3) {
        write(
            &dir.path().join(format!("p{index:03}/dataset/extra.yaml")),
            &dataset(
                "extra",
                "",
                "    - name: mail\n      type: string\n      from: src.email\n",
            ),
        );
    }
    let (loaded, first) = both(dir.path());
    assert_eq!(first, loaded);
    assert!(first.findings.len() > 20, "{first:#?}");
    for _ in 0..5 {
        assert_eq!(both(dir.path()).1, first);
    }
}

#[test]
fn every_corpus_case_streams_to_the_same_report() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut checked = 0;
    for case in std::fs::read_dir(&root).unwrap() {
        let case = case.unwrap().path();
        if case.is_dir() {
            let dir = tempfile::tempdir().unwrap();
            dk_test::copy_tree(&case, dir.path(), &["expect.yaml"]);
            let (loaded, streamed) = both(dir.path());
            assert_eq!(streamed, loaded, "{}", case.display());
            checked += 1;
        }
    }
    assert!(checked >= 40, "the corpus is missing cases");
}

/// DK119 scans the manifests lint has read from their texts, and the package's other files
/// from disk: a token in either is found, one in a file a sub-folder's `.dkignore` leaves out
/// is not, and a Transform allowing a file lets it be.
#[test]
fn credentials_are_found_in_manifests_and_in_other_files() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path(), 3);
    let package = dir.path().join("p001");
    let github = format!("ghp_{}", "a".repeat(36));
    write(
        &package.join("datasets/leak/dataset.yaml"),
        &format!(
            "kind: DataSet\nmetadata:\n  name: leak\n  labels:\n    token: {github}\nspec:\n  \
             store: db\n  table: public.leak\n"
        ),
    );
    std::fs::write(
        package.join("notes.txt"),
        "aws_access_key_id=AKIAIOSFODNN7EXAMPLE\n",
    )
    .unwrap();
    std::fs::create_dir_all(package.join("docs")).unwrap();
    std::fs::write(package.join("docs/.dkignore"), "old.txt\n").unwrap();
    std::fs::write(package.join("docs/old.txt"), format!("{github}\n")).unwrap();
    std::fs::write(package.join("docs/new.txt"), format!("{github}\n")).unwrap();
    let (loaded, streamed) = both(dir.path());
    assert_eq!(streamed, loaded);
    let credentials: Vec<String> = streamed
        .findings
        .iter()
        .filter(|finding| finding.code == "DK119")
        .map(|finding| finding.message.clone())
        .collect();
    assert_eq!(
        credentials,
        [
            "datasets/leak/dataset.yaml looks like a credential (holds a GitHub token); dk build \
             refuses to bundle it",
            "docs/new.txt looks like a credential (holds a GitHub token); dk build refuses to \
             bundle it",
            "notes.txt looks like a credential (holds an AWS access key id); dk build refuses to \
             bundle it",
        ]
    );
}
