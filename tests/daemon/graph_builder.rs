//! The graph builder through HTTP: a graph built node by node, checked as it grows, saved
//! across a restart, copied, and recorded from while it is being edited.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::capture::{ffprobe, finished_package, stream};
use crate::common::{Options, TestDaemon};

async fn post(d: &TestDaemon, path: &str, form: &[(&str, &str)]) -> crate::common::Reply {
    d.post(&format!("/api/1/graphBuilder{path}"))
        .admin()
        .form(form)
        .send()
        .await
}

async fn add(d: &TestDaemon, graph: &str, node: Value) -> Value {
    let text = node.to_string();
    let reply = post(
        d,
        &format!("/graphs/{graph}/nodes"),
        &[("node", text.as_str())],
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.body
}

#[tokio::test]
async fn a_graph_is_built_checked_saved_copied_and_recorded_from() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let mut d = TestDaemon::start_in(&dir, &Options::default());

    let summary = d.get("/api/1/graphBuilder").admin().send().await.body;
    let types = summary["processorTypes"].as_array().unwrap();
    assert_eq!(types.len(), 13);
    let encoder = types.iter().find(|t| t["type"] == "h264Encoder").unwrap();
    assert_eq!(encoder["produces"], "H.264");
    assert_eq!(
        encoder["options"]["properties"]["bitrate"]["type"],
        "integer"
    );

    let root = json!({"id": "rec", "type": "fileRecorder"}).to_string();
    let created = post(
        &d,
        "/graphs",
        &[("root", root.as_str()), ("name", "Hall 3")],
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let g = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(created.body["root"], "rec");
    assert_eq!(
        created.body["nodes"][0]["options"]["container"], "mp4",
        "defaults filled in"
    );

    add(&d, &g, json!({"id": "venc", "type": "h264Encoder", "options": {"bitrate": 400, "preset": "ultrafast"}, "children": ["rec"]})).await;
    add(&d, &g, json!({"id": "cam", "type": "testVideo", "options": {"width": 320, "height": 180}, "children": ["venc"]})).await;
    add(
        &d,
        &g,
        json!({"id": "aenc", "type": "aacEncoder", "children": ["rec"]}),
    )
    .await;
    let mic = add(
        &d,
        &g,
        json!({"id": "mic", "type": "testAudio", "children": ["aenc"]}),
    )
    .await;
    assert_eq!(mic["children"], json!(["aenc"]));
    let spare = add(&d, &g, json!({"type": "preview", "parents": ["cam"]})).await;
    let spare_id = spare["id"].as_str().unwrap().to_string();
    assert!(spare_id.starts_with("node-"), "{spare}");

    // Checked as it grows: bad options, unknown links, cycles, the root.
    let bad = json!({"id": "x", "type": "h264Encoder", "options": {"bitrate": "fast"}}).to_string();
    let reply = post(&d, &format!("/graphs/{g}/nodes"), &[("node", bad.as_str())]).await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text
    );
    assert_eq!(reply.code(), "graph.invalid_option");
    assert_eq!(reply.body["params"]["option"], "bitrate");
    let dangling = json!({"id": "y", "type": "testVideo", "children": ["nowhere"]}).to_string();
    let reply = post(
        &d,
        &format!("/graphs/{g}/nodes"),
        &[("node", dangling.as_str())],
    )
    .await;
    assert_eq!(reply.code(), "graph.invalid", "{}", reply.text);
    let reply = post(
        &d,
        &format!("/graphs/{g}/nodes/cam/attach"),
        &[("parents", "[\"rec\"]")],
    )
    .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text);
    assert_eq!(reply.code(), "graph.cycle");
    let reply = d
        .delete(&format!("/api/1/graphBuilder/graphs/{g}/nodes/rec"))
        .admin()
        .send()
        .await;
    assert_eq!(reply.code(), "graph.root");
    let reply = d
        .get(&format!("/api/1/graphBuilder/graphs/{g}/nodes/ghost"))
        .admin()
        .send()
        .await;
    assert_eq!(reply.code(), "graph.node_not_found");
    let reply = d
        .get("/api/1/graphBuilder/graphs/graph-00000000")
        .admin()
        .send()
        .await;
    assert_eq!(reply.code(), "graph.not_found");

    // Options with their schema; configuring checks the whole node.
    let options = d
        .get(&format!(
            "/api/1/graphBuilder/graphs/{g}/nodes/venc/options"
        ))
        .admin()
        .send()
        .await
        .body;
    assert_eq!(options["options"]["bitrate"], 400);
    assert!(
        options["schema"]["properties"]["preset"]["enum"].is_array(),
        "{options}"
    );
    let reply = post(
        &d,
        &format!("/graphs/{g}/nodes/venc/options"),
        &[("options", "{\"keyframeInterval\": 9999}")],
    )
    .await;
    assert_eq!(reply.code(), "graph.invalid_option", "{}", reply.text);
    let reply = post(
        &d,
        &format!("/graphs/{g}/nodes/venc/options"),
        &[("options", "{\"keyframeInterval\": 1}")],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.body["options"]["keyframeInterval"].as_f64(),
        Some(1.0)
    );
    assert_eq!(reply.body["options"]["bitrate"], 400, "other options kept");

    // Removing a node takes its links along.
    let reply = d
        .delete(&format!("/api/1/graphBuilder/graphs/{g}/nodes/{spare_id}"))
        .admin()
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let cam = d
        .get(&format!("/api/1/graphBuilder/graphs/{g}/nodes/cam"))
        .admin()
        .send()
        .await
        .body;
    assert_eq!(cam["children"], json!(["venc"]));

    // Saved graphs are listed and survive a restart; copies get their own id and root.
    assert_eq!(
        d.get("/api/1/graphBuilder/graphs")
            .admin()
            .send()
            .await
            .body,
        json!([])
    );
    let saved = post(&d, &format!("/graphs/{g}/save"), &[]).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);
    let copy = post(&d, &format!("/graphs/{g}/copy"), &[("root", "venc")]).await;
    assert_eq!(copy.status, StatusCode::OK, "{}", copy.text);
    assert_ne!(copy.body["id"], g);
    assert_eq!(copy.body["root"], "venc");
    d.stop_within(Duration::from_secs(10));
    let d = TestDaemon::start_in(&dir, &Options::default());
    let listed = d
        .get("/api/1/graphBuilder/graphs")
        .admin()
        .send()
        .await
        .body;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["id"], g);
    assert_eq!(listed[0]["name"], "Hall 3");
    let whole = d
        .get(&format!("/api/1/graphBuilder/graphs/{g}"))
        .admin()
        .send()
        .await
        .body;
    assert_eq!(whole["nodes"].as_array().unwrap().len(), 5);

    // A session starts at a recorder only, records the graph, and edits do not disturb it.
    let reply = post(&d, &format!("/graphs/{g}/nodes/cam/session/start"), &[]).await;
    assert_eq!(reply.code(), "graph.invalid", "{}", reply.text);
    let started = post(
        &d,
        &format!("/graphs/{g}/nodes/rec/session/start"),
        &[("captureRequest", "{\"title\":\"Built by hand\"}")],
    )
    .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    assert_eq!(started.body["templateID"], g);
    let package_id = started.body["mediaPackageID"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let reply = post(
        &d,
        &format!("/graphs/{g}/nodes/cam/options"),
        &[("options", "{\"width\": 640, \"height\": 360}")],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let reply = d
        .delete(&format!("/api/1/graphBuilder/graphs/{g}/nodes/mic"))
        .admin()
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status = d.get("/api/1/status/capture").admin().send().await.body;
    assert_eq!(status["state"], "capturing", "{status}");
    let stopped = post(&d, &format!("/graphs/{g}/nodes/rec/session/stop"), &[]).await;
    assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.text);
    let again = post(&d, &format!("/graphs/{g}/nodes/rec/session/stop"), &[]).await;
    assert_eq!(again.code(), "capture.idle");

    let package = finished_package(&d, &package_id).await;
    assert_eq!(package["state"], "complete", "{package}");
    assert_eq!(package["title"], "Built by hand");
    let file = std::path::Path::new(package["root"].as_str().unwrap())
        .join(package["outputs"]["rec"]["file"].as_str().unwrap());
    let probe = ffprobe(&file);
    let video = stream(&probe, "video");
    assert_eq!(
        (video["width"].as_i64(), video["height"].as_i64()),
        (Some(320), Some(180)),
        "recorded as compiled at the start"
    );
    assert_eq!(
        stream(&probe, "audio")["codec_name"],
        "aac",
        "the removed microphone was still recorded"
    );
}
