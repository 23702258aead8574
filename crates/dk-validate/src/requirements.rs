//! DK121: a `requirements.txt` that could make pip install from somewhere the package chose (an
//! index, links, another file, a URL, a path). The reading is dk-package's, the one `dk run`,
//! `dk test` and `dk build` refuse with, so that lint and those commands never disagree.

use dk_manifest::discover::Package;
use dk_manifest::yaml::{Location, Pos, Source};
use dk_package::wheels;

use crate::{Finding, rules};

/// Requirements files are a few lines; a larger one is `dk run`'s error to report.
const LIMIT: u64 = 16 << 20;

pub(crate) fn check_package(package: &Package, findings: &mut Vec<Finding>) {
    let path = package.dir.join(wheels::REQUIREMENTS);
    let Ok(text) = dk_fs::read_to_string(&path, LIMIT) else {
        return;
    };
    let forbidden = wheels::forbidden_requirements(&text);
    let source = Source::file(path, text);
    for line in forbidden {
        findings.push(
            Finding::new(
                &rules::REQUIREMENTS_OPTION,
                format!("`{}`: {}", line.text, line.reason),
                Location::new(
                    source.clone(),
                    Pos::new(line.line as u32, line.column as u32),
                ),
            )
            .with_hint(wheels::REQUIREMENTS_HINT),
        );
    }
}
