//! No input makes manifest loading panic: arbitrary text, YAML-shaped token soup, and random
//! mutations of a valid package manifest all either load or produce problems.

use dk_manifest::load::read_manifests;
use dk_manifest::overrides::{Overrides, parse_path};
use dk_manifest::yaml::{self, Source};
use proptest::prelude::*;

const VALID: &str = "\
apiVersion: datakit.infoblox.dev/v1alpha1
kind: Transform
metadata:
  name: demo
  labels: {team: a}
spec:
  runtime: generic-python
  inputs:
    - dataset: raw
  outputs:
    - dataset: clean
  schedule:
    cron: \"0 * * * *\"
  env:
    - name: A
      value: \"1\"
---
apiVersion: datakit.infoblox.dev/v1alpha1
kind: DataSet
metadata:
  name: raw
spec:
  store: files
  path: a.csv
  schema:
    - {name: email, type: string, pii: true, from: x.y}
  dev:
    seed:
      inline: [{a: 1}, &row {b: [1, 2]}, *row]
";

fn load(text: &str) {
    let mut problems = Vec::new();
    let manifests = read_manifests(&Source::file("fuzz.yaml", text), &mut problems);
    // Every problem must be describable, with a location that renders.
    for problem in &problems {
        let _ = problem.to_string();
        if let Some(location) = problem.location() {
            let _ = location.to_string();
            let _ = location.source.line(location.pos.line);
        }
    }
    drop(manifests);
}

fn token() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "apiVersion: datakit.infoblox.dev/v1alpha1\n",
        "kind: Transform\n",
        "kind: DataSet\n",
        "metadata:\n",
        "  name: x\n",
        "spec:\n",
        "  runtime: dbt\n",
        "  inputs:\n",
        "    - dataset: a\n",
        "- ",
        ": ",
        "? ",
        "[",
        "]",
        "{",
        "}",
        ",",
        "&a ",
        "*a ",
        "!!str ",
        "!!int ",
        "<<: ",
        "|\n",
        ">-\n",
        "\"",
        "'",
        "#",
        "\n",
        "  ",
        "\t",
        "---\n",
        "...\n",
        "~",
        "null",
        "true",
        "1.5",
        "0x1F",
        "é",
        "\u{FEFF}",
        "%YAML 1.2\n",
    ])
}

proptest! {
    #[test]
    fn arbitrary_text(text in any::<String>()) {
        load(&text);
    }

    #[test]
    fn yaml_token_soup(tokens in prop::collection::vec(token(), 0..60)) {
        load(&tokens.concat());
    }

    #[test]
    fn mutated_manifests(edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<char>()), 1..8)) {
        let mut text: Vec<char> = VALID.chars().collect();
        for (index, operation, c) in edits {
            let at = index.index(text.len() + 1);
            match operation {
                0 if at < text.len() => { text.remove(at); }
                1 => text.insert(at, c),
                _ if at < text.len() => text[at] = c,
                _ => {}
            }
        }
        load(&text.into_iter().collect::<String>());
    }

    #[test]
    fn overrides_and_edits(path in "[a-z.\\[\\]0-9\"]{0,20}", value in "[ -~]{0,20}") {
        let _ = parse_path(&path);
        if let Ok(overrides) = Overrides::parse(&[] as &[&str], &[format!("{path}={value}")]) {
            let mut node = yaml::parse_documents(&Source::file("dk.yaml", VALID)).unwrap().remove(0);
            let _ = overrides.apply(&mut node);
        }
        if let Ok(segments) = parse_path(&path) {
            let _ = yaml::set_value("a:\n  b: 1 # c\nlist: [1]\n", &segments, &serde_json::json!(value));
            let _ = yaml::remove_value("a:\n  b: 1 # c\nlist: [1]\n", &segments);
        }
    }
}
