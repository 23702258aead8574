//! "Did you mean" suggestions for misspelt names, keys and values.

/// The candidate closest to `input`, when it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let input_lower = input.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|candidate| {
            let score = strsim::normalized_damerau_levenshtein(
                &input_lower,
                &candidate.to_ascii_lowercase(),
            );
            (score, candidate)
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
}
