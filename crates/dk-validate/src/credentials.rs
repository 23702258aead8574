//! DK119: files `dk build` would bundle that look like credentials; DK120: links in the package
//! that resolve outside it. The selection (ignore files, links) and the detector are
//! dk-package's, the ones `dk build` refuses with, so that lint and build never disagree.

use dk_manifest::discover::Package;
use dk_manifest::yaml::{Location, Source};
use dk_package::{PackageError, bundle, secrets};

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
    let entries = match bundle::select(&package.dir) {
        Ok(entries) => entries,
        Err(PackageError::LinksOutside(links)) => {
            for link in links {
                let path = link.split(" -> ").next().unwrap_or(&link);
                let source = Source::file(package.dir.join(path), "");
                findings.push(
                    Finding::new(
                        &rules::LINK_OUTSIDE_PACKAGE,
                        format!("{link} resolves outside the package; dk build refuses it"),
                        Location::file_start(source),
                    )
                    .with_hint("copy the file in, point the link inside the package, or ignore it in .dkignore"),
                );
            }
            return;
        }
        // Unreadable folders are `dk build`'s error to report.
        Err(_) => return,
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
