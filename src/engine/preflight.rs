//! Preflight: can a template record now? Checked from device state, encoders, disk space
//! and the graph itself, without running any media.

use crate::devices::{Devices, Selector};
use crate::graph::compile;
use crate::graph::plan::MediaEnv;
use crate::model::{
    Check, CheckLevel, DeviceType, Graph, Node, NodeType, Preflight, Signal, Template,
};

fn check(code: &str, level: CheckLevel, message: String, node: Option<&str>) -> Check {
    Check {
        code: code.into(),
        level,
        message,
        node_id: node.map(str::to_string),
    }
}

/// Runs the checks. `usable` is the disk space recordings may use, in bytes.
pub fn preflight(
    template: &Template,
    devices: &Devices,
    env: &MediaEnv,
    usable: u64,
    duration_ms: Option<i64>,
) -> Preflight {
    let mut checks = Vec::new();
    let graph = match crate::graph::validate(&template.graph) {
        Ok(g) => g,
        Err(e) => {
            checks.push(check(
                "template.invalid",
                CheckLevel::Red,
                e.to_string(),
                e.node(),
            ));
            return finish(template, checks);
        }
    };
    let resolved = super::sources::resolve(&graph, devices);
    if let Err(e) = compile::compile(
        &graph,
        &resolved.specs,
        env,
        std::path::Path::new("/nonexistent"),
        1000,
    ) {
        checks.push(check(
            "template.unsupported",
            CheckLevel::Red,
            e.to_string(),
            None,
        ));
    }
    check_devices(&graph, devices, &mut checks);
    checks.push(encoder_check(env));
    checks.push(disk_check(&graph, usable, duration_ms));
    checks.push(publishing_check(template));
    finish(template, checks)
}

/// One check per device node: present, with a signal, free; network streams are unchecked.
fn check_devices(graph: &Graph, devices: &Devices, checks: &mut Vec<Check>) {
    for node in &graph.nodes {
        let kind = match node.kind {
            NodeType::VideoDevice => DeviceType::Video,
            NodeType::AudioDevice => DeviceType::Audio,
            NodeType::NetworkSource => {
                checks.push(check(
                    "network.unchecked",
                    CheckLevel::Yellow,
                    "network streams are only known to work once a test capture ran".into(),
                    Some(&node.id),
                ));
                continue;
            }
            _ => continue,
        };
        checks.push(device_check(node, kind, devices));
    }
}

/// The check of one device node's device.
fn device_check(node: &Node, kind: DeviceType, devices: &Devices) -> Check {
    let selector = node
        .options
        .get("device")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let device = selector
        .parse::<Selector>()
        .map_err(|e| e.to_string())
        .and_then(|s| devices.resolve(&s, kind).map_err(|e| e.to_string()));
    match device {
        Err(reason) => check(
            "device.missing",
            CheckLevel::Red,
            format!("{reason}: the recording would show the slate"),
            Some(&node.id),
        ),
        Ok(d) if d.signal == Signal::None => check(
            "device.no_signal",
            CheckLevel::Red,
            format!("{} has no signal", d.name),
            Some(&node.id),
        ),
        Ok(d) if d.signal == Signal::Unstable => check(
            "device.unstable",
            CheckLevel::Yellow,
            format!("{}: the signal does not lock", d.name),
            Some(&node.id),
        ),
        Ok(d) if d.in_use && !matches!(d.plugin.as_str(), "test" | "network") => check(
            "device.in_use",
            CheckLevel::Yellow,
            format!(
                "{} is in use (by castd's ready pipeline or another program)",
                d.name
            ),
            Some(&node.id),
        ),
        Ok(d) => check(
            "device.ok",
            CheckLevel::Green,
            format!("{} is ready", d.name),
            Some(&node.id),
        ),
    }
}

fn encoder_check(env: &MediaEnv) -> Check {
    let hardware = env.h264 != crate::graph::plan::H264Encoder::X264;
    check(
        "encoder.available",
        CheckLevel::Green,
        format!(
            "H.264 by {} ({}), AAC by {}",
            env.h264.factory(),
            if hardware { "hardware" } else { "software" },
            env.aac
        ),
        None,
    )
}

fn finish(template: &Template, checks: Vec<Check>) -> Preflight {
    Preflight {
        template_id: template.id.clone(),
        overall: checks
            .iter()
            .map(|c| c.level)
            .max()
            .unwrap_or(CheckLevel::Green),
        checks,
    }
}

/// Room on the disk for the duration (two hours when open-ended).
fn disk_check(graph: &Graph, usable: u64, duration_ms: Option<i64>) -> Check {
    let bitrate = super::request::graph_bitrate(graph);
    let seconds = duration_ms.map_or(7200, |d| (d.max(0) / 1000) as u64);
    let needed = bitrate / 8 * seconds;
    let (level, code) = if usable < needed {
        (CheckLevel::Red, "disk.low")
    } else if usable < needed * 2 {
        (CheckLevel::Yellow, "disk.tight")
    } else {
        (CheckLevel::Green, "disk.ok")
    };
    check(
        code,
        level,
        format!(
            "{} MB needed for {} min, {} MB usable",
            needed / 1_000_000,
            seconds / 60,
            usable / 1_000_000
        ),
        None,
    )
}

fn publishing_check(template: &Template) -> Check {
    if template.publishing.is_empty() {
        check(
            "publish.none",
            CheckLevel::Green,
            "recordings stay on the unit".into(),
            None,
        )
    } else {
        check(
            "publish.unchecked",
            CheckLevel::Yellow,
            "publishing targets are checked with testPublishing".into(),
            None,
        )
    }
}
