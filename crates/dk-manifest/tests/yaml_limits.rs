//! Property tests of the YAML limits: structured YAML with anchors, aliases, merge keys and deep
//! nesting, and arbitrary bytes, never panic and never produce a tree past the limits (the
//! tree's nodes and text are what memory holds, so they bound it). Runs proptest's default
//! number of cases (16 for the megabyte-sized ones); `PROPTEST_CASES=10000 cargo test -p
//! dk-manifest --test yaml_limits` runs more.

use dk_manifest::load::read_manifests;
use dk_manifest::yaml::{
    self, MAX_DEPTH, MAX_NODES, MAX_SCALAR_BYTES, Node, Source, SyntaxErrorKind, Value,
};
use proptest::prelude::*;

/// (nodes, scalar bytes, depth of collections) of a tree.
fn extent(node: &Node) -> (usize, usize, usize) {
    match &node.value {
        Value::Scalar(scalar) => (1, scalar.text.len(), 0),
        Value::Seq(items) => items.iter().map(extent).fold((1, 0, 1), add),
        Value::Map(entries) => entries
            .iter()
            .map(|entry| {
                let (nodes, bytes, depth) = extent(&entry.value);
                (nodes + 1, bytes + entry.key.len(), depth)
            })
            .fold((1, 0, 1), add),
    }
}

fn add(total: (usize, usize, usize), child: (usize, usize, usize)) -> (usize, usize, usize) {
    (
        total.0 + child.0,
        total.1 + child.1,
        total.2.max(child.2 + 1),
    )
}

/// Parses `text`: either a tree within the limits, or an error (a limit exceeded is one).
fn check(text: &str) {
    match yaml::parse_documents(&Source::file("fuzz.yaml", text)) {
        Ok(documents) => {
            let (nodes, bytes, depth) = documents
                .iter()
                .map(extent)
                .fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2.max(b.2)));
            assert!(nodes <= MAX_NODES, "{nodes} nodes");
            assert!(bytes <= MAX_SCALAR_BYTES + text.len(), "{bytes} bytes");
            assert!(depth <= MAX_DEPTH, "depth {depth}");
        }
        Err(err) => {
            let _ = err.to_string();
            let _ = err.location.source.line(err.location.pos.line);
        }
    }
    let mut problems = Vec::new();
    drop(read_manifests(
        &Source::file("fuzz.yaml", text),
        &mut problems,
    ));
}

/// `levels` anchors, each a collection of `fanout` aliases of the previous one: a bomb when
/// `fanout ^ levels` is large, an ordinary document when it is small.
fn laughs(levels: usize, fanout: usize, scalar: &str, block: bool, merge: bool) -> String {
    let mut text = format!("a0: &a0 {scalar:?}\n");
    for level in 1..=levels {
        let previous = level - 1;
        if merge && level > 1 {
            let keys: Vec<String> = (0..fanout).map(|i| format!("k{i}: *a{previous}")).collect();
            text.push_str(&format!("a{level}: &a{level} {{{}}}\n", keys.join(", ")));
            text.push_str(&format!("m{level}:\n  <<: *a{level}\n  extra: 1\n"));
        } else if block {
            text.push_str(&format!("a{level}: &a{level}\n"));
            for _ in 0..fanout {
                text.push_str(&format!("  - *a{previous}\n"));
            }
        } else {
            let aliases = vec![format!("*a{previous}"); fanout].join(", ");
            text.push_str(&format!("a{level}: &a{level} [{aliases}]\n"));
        }
    }
    text
}

/// Each anchor nests the previous one one level deeper: shallow text, deep tree.
fn chain(levels: usize) -> String {
    let mut text = String::from("a0: &a0 [x]\n");
    for level in 1..=levels {
        text.push_str(&format!("a{level}: &a{level} [*a{}]\n", level - 1));
    }
    text
}

proptest! {
    #[test]
    fn alias_expansion_stays_within_the_limits(
        levels in 1usize..12,
        fanout in 1usize..14,
        scalar in "[a-z]{0,64}",
        block in any::<bool>(),
        merge in any::<bool>(),
    ) {
        let text = laughs(levels, fanout, &scalar, block, merge);
        check(&text);
        let expanded = (fanout as f64).powi(levels as i32);
        if !merge && expanded > 2.0 * MAX_NODES as f64 {
            let err = yaml::parse_documents(&Source::file("b.yaml", &text)).unwrap_err();
            prop_assert_eq!(err.kind, SyntaxErrorKind::Limit);
        }
    }

    #[test]
    fn nesting_stays_within_the_limits(
        depth in 0usize..400,
        flow in any::<bool>(),
        through_aliases in any::<bool>(),
    ) {
        let text = if through_aliases {
            chain(depth)
        } else if flow {
            format!("{}{}", "[".repeat(depth), "]".repeat(depth))
        } else {
            (0..depth).map(|level| format!("{}k:\n", "  ".repeat(level))).collect()
        };
        check(&text);
        if depth > MAX_DEPTH + 1 {
            let err = yaml::parse_documents(&Source::file("d.yaml", &text)).unwrap_err();
            prop_assert_eq!(err.kind, SyntaxErrorKind::Limit);
        }
    }

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        check(&String::from_utf8_lossy(&bytes));
    }
}

/// Megabytes of scalars per case: fewer cases by default, as many as PROPTEST_CASES asks.
fn heavy_cases() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(16);
    ProptestConfig::with_cases(cases)
}

proptest! {
    #![proptest_config(heavy_cases())]

    #[test]
    fn long_scalars_copied_by_aliases_stay_within_the_limits(
        length in 0usize..(1 << 18),
        copies in 1usize..120,
    ) {
        let text = format!("a: &a {}\nb: [{}]\n", "x".repeat(length), vec!["*a"; copies].join(", "));
        check(&text);
        if length * (copies + 1) > MAX_SCALAR_BYTES {
            let err = yaml::parse_documents(&Source::file("s.yaml", &text)).unwrap_err();
            prop_assert_eq!(err.kind, SyntaxErrorKind::Limit);
        }
    }
}
