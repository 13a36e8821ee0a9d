//! The built-in publishers behind one face: which exist, their names, secrets and services,
//! and dispatch of test, publish and service calls to the right protocol module.

use serde_json::Value;

use super::job::{Delivered, Failure, Job};
use super::{flowcapture, local, opencast, s3};

/// Publisher ids in the order the API lists them.
pub(crate) const IDS: &[&str] = &[local::ID, s3::ID, flowcapture::ID, opencast::ID];

pub(crate) fn is_publisher(id: &str) -> bool {
    IDS.contains(&id)
}

pub(crate) fn name(id: &str) -> &'static str {
    match id {
        local::ID => local::NAME,
        s3::ID => s3::NAME,
        flowcapture::ID => flowcapture::NAME,
        opencast::ID => opencast::NAME,
        _ => "",
    }
}

/// Config keys of a publisher that are secrets.
pub(crate) fn secrets(id: &str) -> &'static [&'static str] {
    match id {
        local::ID => local::SECRETS,
        s3::ID => s3::SECRETS,
        flowcapture::ID => flowcapture::SECRETS,
        opencast::ID => opencast::SECRETS,
        _ => &[],
    }
}

pub(crate) fn services(id: &str) -> &'static [(&'static str, &'static str)] {
    match id {
        local::ID => local::SERVICES,
        s3::ID => s3::SERVICES,
        flowcapture::ID => flowcapture::SERVICES,
        opencast::ID => opencast::SERVICES,
        _ => &[],
    }
}

/// A publisher with a validated configuration.
#[derive(Debug, Clone)]
pub(crate) enum Publisher {
    Local(local::Config),
    S3(s3::Config),
    FlowCapture(flowcapture::Config),
    Opencast(opencast::Config),
}

impl Publisher {
    /// Validates `config` for publisher `id`; the error names the offending field.
    pub(crate) fn parse(id: &str, config: &Value) -> Result<Publisher, String> {
        match id {
            local::ID => local::parse(config).map(Publisher::Local),
            s3::ID => s3::parse(config).map(Publisher::S3),
            flowcapture::ID => flowcapture::parse(config).map(Publisher::FlowCapture),
            opencast::ID => opencast::parse(config).map(Publisher::Opencast),
            other => Err(format!("no publisher {other:?}")),
        }
    }

    pub(crate) async fn test(&self, http: &reqwest::Client) -> Result<String, Failure> {
        match self {
            Publisher::Local(c) => local::test(http, c).await,
            Publisher::S3(c) => s3::test(http, c).await,
            Publisher::FlowCapture(c) => flowcapture::test(http, c).await,
            Publisher::Opencast(c) => opencast::test(http, c).await,
        }
    }

    pub(crate) async fn publish(&self, job: &Job) -> Result<Delivered, Failure> {
        match self {
            Publisher::Local(c) => local::publish(job, c).await,
            Publisher::S3(c) => s3::publish(job, c).await,
            Publisher::FlowCapture(c) => flowcapture::publish(job, c).await,
            Publisher::Opencast(c) => opencast::publish(job, c).await,
        }
    }

    pub(crate) async fn service(
        &self,
        http: &reqwest::Client,
        name: &str,
        args: &Value,
    ) -> Result<Value, Failure> {
        match self {
            Publisher::Local(c) => local::service(http, c, name, args).await,
            Publisher::S3(c) => s3::service(http, c, name, args).await,
            Publisher::FlowCapture(c) => flowcapture::service(http, c, name, args).await,
            Publisher::Opencast(c) => opencast::service(http, c, name, args).await,
        }
    }
}
