//! The manifest of a media package: the package as JSON, written beside its media on the
//! unit and sent wherever the package is published. Secrets a request gave in
//! `publishingOverrides` never reach it. Serialisation only: where it is written belongs
//! to the package store and the publishers, which get it ready-made in their job.

use crate::model::MediaPackage;

/// The package's `manifest.json`, which goes wherever the package is published: secrets
/// given in its request's `publishingOverrides` are left out, not even masked.
#[expect(clippy::expect_used, reason = "invariant: packages serialise")]
pub(crate) fn manifest(package: &MediaPackage) -> Vec<u8> {
    let mut package = package.clone();
    if let Some(overrides) = &package.request.publishing_overrides {
        package.request.publishing_overrides = Some(super::overrides::without_secrets(overrides));
    }
    serde_json::to_vec_pretty(&package).expect("packages serialise")
}
