//! "Did you mean" suggestions for misspelt names, keys and values.

/// The candidate closest to `input`, when it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let input_lower = input.to_ascii_lowercase();
    let similarity = |text: &str| strsim::normalized_damerau_levenshtein(&input_lower, text);
    candidates
        .into_iter()
        .map(|candidate| {
            let lower = candidate.to_ascii_lowercase();
            // A typo of one part of a compound name (`pyhton` for `generic-python`) counts too,
            // slightly below a match of the whole name.
            let best_part = lower
                .split(['-', '_', '.'])
                .filter(|part| part.len() >= 3 && part.len() < lower.len())
                .map(|part| similarity(part) * 0.95)
                .fold(0.0, f64::max);
            // One edit away is a typo even in words too short for the similarity threshold.
            let one_edit =
                input_lower.len() >= 2 && strsim::damerau_levenshtein(&input_lower, &lower) == 1;
            let score = similarity(&lower).max(best_part);
            (if one_edit { score.max(0.7) } else { score }, candidate)
        })
        .filter(|(score, _)| *score >= 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let fields = ["dataset", "tags", "version", "cell"];
        assert_eq!(did_you_mean("datset", fields), Some("dataset"));
        assert_eq!(did_you_mean("Dataset", fields), Some("dataset"));
        assert_eq!(did_you_mean("owner", fields), None);
        assert_eq!(
            did_you_mean("generic-pyhton", ["generic-python", "generic-go", "dbt"]),
            Some("generic-python")
        );
        assert_eq!(did_you_mean("x", std::iter::empty()), None);
    }

    #[test]
    fn a_typo_of_one_part_of_a_compound_name() {
        let runtimes = ["cloudquery", "generic-go", "generic-python", "dbt"];
        assert_eq!(did_you_mean("pyhton", runtimes), Some("generic-python"));
        assert_eq!(did_you_mean("go", runtimes), None);
        assert_eq!(did_you_mean("pi", ["pii", "package", "store"]), Some("pii"));
        assert_eq!(did_you_mean("x", ["y"]), None);
    }
}
