//! Units written in manifests and config: durations (`30m`, `1h30m`) and Kubernetes resource
//! quantities (`500m`, `2Gi`).

use std::time::Duration;

/// Parses a duration written as one or more number-unit pairs: `500ms`, `2s`, `30m`, `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || {
        format!(
            "`{text}` is not a duration; write a number and a unit (ms, s, m, h), e.g. 30s, 5m, 1h30m"
        )
    };
    if text.is_empty() {
        return Err(invalid());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let amount: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let millis = match &rest[..unit] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(invalid()),
        };
        total += Duration::from_millis(amount.saturating_mul(millis));
        rest = &rest[unit..];
    }
    Ok(total)
}

/// Whether `text` is a Kubernetes quantity such as `1`, `0.5`, `500m`, `512Mi`, `2G`, `1e3`.
pub fn is_quantity(text: &str) -> bool {
    const SUFFIXES: &[&str] = &[
        "", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
    ];
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(number_end);
    let number_ok = !number.is_empty()
        && number.chars().filter(|c| *c == '.').count() <= 1
        && number.chars().any(|c| c.is_ascii_digit());
    let exponent_ok = suffix.strip_prefix(['e', 'E']).is_some_and(|exp| {
        let exp = exp.strip_prefix(['+', '-']).unwrap_or(exp);
        !exp.is_empty() && exp.chars().all(|c| c.is_ascii_digit())
    });
    number_ok && (SUFFIXES.contains(&suffix) || exponent_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        for bad in ["", "30", "m", "1d", "1.5h", "2 s", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quantities() {
        for good in ["1", "0.5", "500m", "512Mi", "2Gi", "1G", "1e3", "100"] {
            assert!(is_quantity(good), "{good}");
        }
        for bad in ["", "1GB", "two", "1..2", "Mi", "1 Gi"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }
}
