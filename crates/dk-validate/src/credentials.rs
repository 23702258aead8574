//! DK119: files `dk build` would bundle that look like credentials; DK120: links in the package
//! that resolve outside it. The selection (ignore files, links) and the detector are
//! dk-package's, the ones `dk build` refuses with, so that lint and build never disagree.

use std::collections::HashMap;
use std::path::Path;

use dk_manifest::discover::{Package, below};
use dk_manifest::yaml::{Location, Source};
use dk_package::{PackageError, secrets};

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
    // The manifests are read already: their texts are scanned as they were read.
    let catalog = &package.catalog;
    let texts: HashMap<&Path, &str> = std::iter::once(transform.source())
        .chain(catalog.datasets().iter().map(|m| m.source()))
        .chain(catalog.groups().iter().map(|m| m.source()))
        .chain(catalog.stores().iter().map(|m| m.source()))
        .chain(catalog.connectors().iter().map(|m| m.source()))
        .filter_map(|source| {
            let file = below(&package.dir, source.path()?)?;
            Some((file, source.text.as_str()))
        })
        .collect();
    let known = |path: &str| texts.get(Path::new(path)).copied();
    let suspects = match secrets::package_credentials(&package.dir, &allow, known) {
        Ok(suspects) => suspects,
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
        // Unreadable folders and files are `dk build`'s error to report.
        Err(_) => return,
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
