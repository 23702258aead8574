//! DK119: files `dk build` would bundle that look like credentials. The selection (ignore
//! files) and the detector are dk-package's, the ones `dk build` refuses with, so that lint and
//! build never disagree.

use dk_manifest::discover::Package;
use dk_manifest::yaml::{Location, Source};
use dk_package::{bundle, secrets};

use crate::{Finding, rules};

pub(crate) fn check_package(package: &Package, findings: &mut Vec<Finding>) {
    let Some(transform) = &package.transform else {
        return;
    };
    let allow = transform
        .manifest
        .spec
        .build
        .as_ref()
        .map(|build| build.allow.clone())
        .unwrap_or_default();
    // A package that cannot be selected (a link leading out) is `dk build`'s error to report.
    let Ok(entries) = bundle::select(&package.dir) else {
        return;
    };
    let Ok(suspects) = secrets::credential_files(&entries, &allow) else {
        return;
    };
    for suspect in suspects {
        // The location names the file, never its content.
        let source = Source::file(package.dir.join(&suspect.path), "");
        findings.push(
            Finding::new(
                &rules::CREDENTIAL_FILE,
                format!(
                    "{} looks like a credential ({}); dk build refuses to bundle it",
                    suspect.path, suspect.reason
                ),
                Location::file_start(source),
            )
            .with_hint(secrets::HINT),
        );
    }
}
