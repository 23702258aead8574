//! The smallest version a diff allows after the previous one: `v1.0.0 → v1.0.1` bug fix,
//! `→ v1.1.0` new feature, `→ v2.0.0` breaking change. Before 1.0 every number moves down one
//! place: a breaking change bumps the minor number (`0.3.1 → 0.4.0`), anything else the patch.

use semver::Version;

use crate::Level;

/// The smallest version after `previous` that a diff of `level` allows. After a pre-release,
/// its release is allowed whatever changed: a pre-release promises no compatibility (semver §9).
pub fn minimum(previous: &Version, level: Level) -> Version {
    let (major, minor, patch) = (previous.major, previous.minor, previous.patch);
    if !previous.pre.is_empty() {
        return Version::new(major, minor, patch);
    }
    match (major, level) {
        (0, Level::Breaking) => Version::new(0, minor + 1, 0),
        (0, _) | (_, Level::Patch | Level::None) => Version::new(major, minor, patch + 1),
        (_, Level::Minor) => Version::new(major, minor + 1, 0),
        (_, Level::Breaking) => Version::new(major + 1, 0, 0),
    }
}

/// Whether `version` is at least `minimum`. A pre-release counts as the release it leads to
/// (`2.0.0-rc.1` is a breaking bump from `1.4.0`), since it is how a breaking version starts.
pub fn allows(version: &Version, minimum: &Version) -> bool {
    (version.major, version.minor, version.patch) >= (minimum.major, minimum.minor, minimum.patch)
}

/// The highest of `versions` that precedes `version`: the one a new version is checked
/// against. Build metadata does not count (`1.0.0+build.1` is `1.0.0` again, as semver says).
pub fn previous<'a>(
    version: &Version,
    versions: impl IntoIterator<Item = &'a Version>,
) -> Option<&'a Version> {
    versions
        .into_iter()
        .filter(|v| v.cmp_precedence(version).is_lt())
        .max_by(|a, b| a.cmp_precedence(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    #[test]
    fn the_faq_rule_and_its_pre_1_0_shift() {
        assert_eq!(minimum(&v("1.0.0"), Level::Patch), v("1.0.1"));
        assert_eq!(minimum(&v("1.0.0"), Level::Minor), v("1.1.0"));
        assert_eq!(minimum(&v("1.0.3"), Level::Breaking), v("2.0.0"));
        assert_eq!(minimum(&v("0.3.1"), Level::Breaking), v("0.4.0"));
        assert_eq!(minimum(&v("0.3.1"), Level::Minor), v("0.3.2"));
        assert_eq!(minimum(&v("1.2.3"), Level::None), v("1.2.4"));
        assert!(allows(&v("2.0.0-rc.1"), &v("2.0.0")));
        assert_eq!(minimum(&v("2.0.0-rc.1"), Level::Breaking), v("2.0.0"));
        assert!(!allows(&v("1.9.0"), &v("2.0.0")));
        let all = [v("1.0.0"), v("1.2.0"), v("2.0.0")];
        assert_eq!(previous(&v("1.3.0"), &all), Some(&all[1]));
        assert_eq!(previous(&v("0.1.0"), &all), None);
        assert_eq!(previous(&v("1.0.0+build.1"), &all), None);
    }
}
