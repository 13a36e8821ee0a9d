//! What a client written only from the vendor's CaptureCast API v1 documentation relies on:
//! `speaker: 0` as "no speaker", field types and defaults as documented, media package
//! sources as a map, the resource-URL convention, saves that never replace another
//! template, and node ids given the same way wherever a node is created.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::capture::{action, finished_package, small_template, start};
use crate::common::{Reply, TestDaemon};
use crate::store_now;

async fn post(d: &TestDaemon, path: &str, name: &str, value: &Value) -> Reply {
    let text = value.to_string();
    d.admin_post(path, &[(name, text.as_str())]).await
}

async fn get(d: &TestDaemon, path: &str) -> Reply {
    d.get(path).admin().send().await
}

/// An event an hour (plus `offset` minutes) from now, ten minutes long.
fn event(title: &str, offset: i64, extra: Value) -> Value {
    let start = store_now() + 3_600_000 + offset * 60_000;
    let mut e = json!({"title": title, "templateID": "lecture", "startTime": start,
        "stopTime": start + 600_000});
    for (k, v) in extra.as_object().unwrap() {
        e[k] = v.clone();
    }
    e
}

async fn speaker(d: &TestDaemon, name: &str) -> Value {
    let created = post(d, "/api/1/speakers", "speaker", &json!({"name": name})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    created.body
}

/// Records about a second with `request` and returns the finished package.
async fn record(d: &TestDaemon, request: Value) -> Value {
    let started = start(d, request).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    let id = started.body["mediaPackageID"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let stopped = action(d, "stop").await;
    assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.text);
    finished_package(d, &id).await
}

#[tokio::test]
async fn speaker_zero_and_null_mean_no_speaker_wherever_a_speaker_is_named() {
    let d = TestDaemon::start().await;
    small_template(&d).await;
    let ada = speaker(&d, "Ada Lovelace").await;

    for (n, none) in [json!(0), Value::Null, json!("0")].into_iter().enumerate() {
        let e = event("No presenter", 20 * n as i64, json!({"speaker": none}));
        let created = post(&d, "/api/1/scheduler/events", "event", &e).await;
        assert_eq!(
            created.status,
            StatusCode::CREATED,
            "{none}: {}",
            created.text
        );
        assert_eq!(created.body["speaker"], 0, "{none}");
        assert_eq!(created.body["speakerInfo"], Value::Null, "{none}");
    }

    // An update naming 0 removes the speaker an event had.
    let e = event("Ada's", 100, json!({"speaker": ada["id"]}));
    let with = post(&d, "/api/1/scheduler/events", "event", &e).await;
    assert_eq!(with.body["speaker"], ada["id"], "{}", with.text);
    let id = with.body["id"].as_str().unwrap();
    let path = format!("/api/1/scheduler/events/{id}");
    let cleared = post(&d, &path, "event", &json!({"speaker": 0})).await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.text);
    assert_eq!(
        (&cleared.body["speaker"], &cleared.body["speakerInfo"]),
        (&json!(0), &Value::Null)
    );

    let group = json!({"title": "Series", "templateID": "lecture", "rrule": "FREQ=WEEKLY;COUNT=2",
        "startTime": store_now() + 86_400_000, "duration": 600_000, "speaker": 0});
    let created = post(&d, "/api/1/scheduler/groups", "group", &group).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["speaker"], 0);
    assert_eq!(created.body["events"][0]["speaker"], 0);

    // A capture request and a media package update.
    let package = record(&d, json!({"templateID": "small", "speaker": 0})).await;
    assert_eq!(package["speaker"], 0, "{package}");
    assert_eq!(package["speakerInfo"], Value::Null, "{package}");
    let path = format!(
        "/api/1/capture/mediaPackages/{}",
        package["id"].as_str().unwrap()
    );
    let named = post(
        &d,
        &path,
        "mediaPackage",
        &json!({"speaker": "Ada Lovelace"}),
    )
    .await;
    assert_eq!(named.body["speaker"], ada["id"], "{}", named.text);
    for none in [json!(0), Value::Null] {
        let changes = post(&d, &path, "mediaPackage", &json!({"speaker": none})).await;
        assert_eq!(changes.status, StatusCode::OK, "{none}: {}", changes.text);
        assert_eq!(changes.body["speaker"], 0, "{none}");
        assert_eq!(changes.body["speakerInfo"], Value::Null, "{none}");
        post(&d, &path, "mediaPackage", &json!({"speaker": ada["id"]})).await;
    }

    // A session started from the graph builder.
    let root = json!({"id": "rec", "type": "fileRecorder"});
    let graph = post(&d, "/api/1/graphBuilder/graphs", "root", &root).await;
    let g = graph.body["id"].as_str().unwrap().to_string();
    let nodes = format!("/api/1/graphBuilder/graphs/{g}/nodes");
    for node in [
        json!({"id": "enc", "type": "h264Encoder", "options": {"bitrate": 400, "preset": "ultrafast"}, "children": ["rec"]}),
        json!({"id": "aac", "type": "aacEncoder", "options": {"bitrate": 64000}, "children": ["rec"]}),
        json!({"id": "cam", "type": "videoDevice", "options": {"width": 320, "height": 180}, "children": ["enc"]}),
        json!({"id": "mic", "type": "audioDevice", "children": ["aac"]}),
    ] {
        let added = post(&d, &nodes, "node", &node).await;
        assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    }
    let started = post(
        &d,
        &format!("{nodes}/rec/session/start"),
        "captureRequest",
        &json!({"speaker": 0}),
    )
    .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    let package_id = started.body["mediaPackageID"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopped = d
        .admin_post(&format!("{nodes}/rec/session/stop"), &[])
        .await;
    assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.text);
    assert_eq!(finished_package(&d, &package_id).await["speaker"], 0);
}

#[tokio::test]
async fn events_answer_the_documented_types_and_survive_a_get_post_round_trip() {
    let d = TestDaemon::start().await;
    let ada = speaker(&d, "Ada Lovelace").await;
    let e = event("Physics", 0, json!({"speaker": "ada lovelace"}));
    let created = post(&d, "/api/1/scheduler/events", "event", &e).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_string();
    let path = format!("/api/1/scheduler/events/{id}");
    let got = get(&d, &path).await.body;
    // The vendor's Event: speaker a number, groupID and mediaPackageID null until they
    // apply, assets an array; the whole speaker in the added speakerInfo.
    assert!(got["speaker"].is_i64(), "{got}");
    assert_eq!(got["speaker"], ada["id"]);
    assert_eq!(got["speakerInfo"], ada);
    for field in ["groupID", "mediaPackageID"] {
        assert!(got.get(field).is_some_and(Value::is_null), "{field}: {got}");
    }
    assert_eq!(got["assets"], json!([]));

    // GET → POST changes nothing, also once the speaker is gone.
    let back = post(&d, &path, "event", &got).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.text);
    assert_eq!(back.body, got);
    let deleted = d
        .delete(&format!("/api/1/speakers/{}", ada["id"]))
        .admin()
        .send()
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let back = post(&d, &path, "event", &got).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.text);
    assert_eq!(back.body, got, "the snapshot of a deleted speaker is kept");

    // A guest (a name no speaker has) is 0 with its speakerInfo, and round-trips too.
    let guest = post(&d, &path, "event", &json!({"speaker": "Guest Lecturer"})).await;
    assert_eq!(guest.body["speaker"], 0, "{}", guest.text);
    assert_eq!(guest.body["speakerInfo"]["name"], "Guest Lecturer");
    let back = post(&d, &path, "event", &guest.body).await;
    assert_eq!(back.body, guest.body);

    // A client that changes `speaker` and sends the rest back as it got it gets the new
    // speaker, not the stale speakerInfo.
    let grace = speaker(&d, "Grace Hopper").await;
    let mut changed = guest.body.clone();
    changed["speaker"] = grace["id"].clone();
    let moved = post(&d, &path, "event", &changed).await;
    assert_eq!(moved.body["speaker"], grace["id"], "{}", moved.text);
    assert_eq!(moved.body["speakerInfo"], grace);

    // The GET answer is also a valid scheduleCapture request (a copy of the event).
    let mut copy = moved.body.clone();
    let later = copy["startTime"].as_i64().unwrap() + 7_200_000;
    copy["startTime"] = json!(later);
    copy["stopTime"] = json!(later + 600_000);
    let copied = post(&d, "/api/1/scheduler/events", "event", &copy).await;
    assert_eq!(copied.status, StatusCode::CREATED, "{}", copied.text);
    assert_ne!(copied.body["id"], moved.body["id"]);
    assert_eq!(copied.body["speakerInfo"], grace);
}

#[tokio::test]
async fn media_package_sources_are_an_object_keyed_by_node_id() {
    let d = TestDaemon::start().await;
    small_template(&d).await;
    let package = record(&d, json!({"templateID": "small"})).await;
    let sources = package["sources"].as_object().unwrap_or_else(|| {
        panic!("sources is not an object: {package}");
    });
    let mut keys: Vec<&str> = sources.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["camera", "microphone"], "{package}");
    for (key, source) in sources {
        assert_eq!(source["nodeID"], key.as_str(), "{source}");
        assert!(source["name"].is_string(), "{source}");
    }
    let path = format!(
        "/api/1/capture/mediaPackages/{}",
        package["id"].as_str().unwrap()
    );
    let listed = get(&d, "/api/1/capture/mediaPackages").await.body;
    assert_eq!(listed[0]["sources"], package["sources"]);
    assert_eq!(get(&d, &path).await.body["sources"], package["sources"]);
}

const FLAGS: [&str; 5] = [
    "publishing",
    "publishingRedundantCopies",
    "publishingSpeakerFiles",
    "publishingSpeakerInformation",
    "publishingTableOfContents",
];

#[tokio::test]
async fn publishing_flags_default_to_true() {
    let d = TestDaemon::start().await;
    small_template(&d).await;
    let created = post(
        &d,
        "/api/1/scheduler/events",
        "event",
        &event("Flags", 0, json!({})),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    for flag in FLAGS {
        assert_eq!(created.body[flag], true, "event {flag}: {}", created.text);
    }
    // One flag sent false stays false; the others keep their default.
    let id = created.body["id"].as_str().unwrap();
    let changed = post(
        &d,
        &format!("/api/1/scheduler/events/{id}"),
        "event",
        &json!({"publishingSpeakerFiles": false}),
    )
    .await;
    assert_eq!(changed.body["publishingSpeakerFiles"], false);
    assert_eq!(changed.body["publishingTableOfContents"], true);

    let group = json!({"title": "Series", "templateID": "lecture", "rrule": "FREQ=WEEKLY;COUNT=2",
        "startTime": store_now() + 86_400_000, "duration": 600_000});
    let created = post(&d, "/api/1/scheduler/groups", "group", &group).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    for flag in FLAGS {
        assert_eq!(created.body[flag], true, "group {flag}: {}", created.text);
        assert_eq!(created.body["events"][1][flag], true, "group event {flag}");
    }

    // The capture request a package keeps.
    let package = record(&d, json!({"templateID": "small"})).await;
    for flag in FLAGS {
        assert_eq!(package["request"][flag], true, "request {flag}: {package}");
    }
}

/// Every short path the vendor's convention names, with the group path it stands for.
const SHORT: [(&str, &str); 4] = [
    ("/templates", "/capture/templates"),
    ("/templates/{id}", "/capture/templates/{id}"),
    ("/mediaPackages", "/capture/mediaPackages"),
    ("/mediaPackages/{id}", "/capture/mediaPackages/{id}"),
];

#[tokio::test]
async fn every_resource_answers_at_the_vendor_resource_urls() {
    let d = TestDaemon::start().await;
    small_template(&d).await;

    // Templates: list, read, create, update, delete at the short paths, and update at the
    // group path (it was 405).
    let listed = get(&d, "/api/1/templates").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(listed.body, get(&d, "/api/1/capture/templates").await.body);
    assert_eq!(
        get(&d, "/api/templates/Lecture").await.body["id"],
        "lecture"
    );
    let mut copy = get(&d, "/api/1/templates/small").await.body;
    copy["id"] = json!("");
    copy["name"] = json!("Small copy");
    let created = post(&d, "/api/1/templates", "template", &copy).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    let new_id = created.body["id"].as_str().unwrap().to_string();
    copy["name"] = json!("Small copy, renamed");
    copy["description"] = json!("via the group path");
    let updated = post(
        &d,
        &format!("/api/1/capture/templates/{new_id}"),
        "template",
        &copy,
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);
    assert_eq!(
        (&updated.body["id"], &updated.body["name"]),
        (&json!(new_id), &json!("Small copy, renamed"))
    );
    copy["description"] = json!("via the short path");
    let updated = post(&d, &format!("/api/1/templates/{new_id}"), "template", &copy).await;
    assert_eq!(updated.body["description"], "via the short path");
    let missing = post(&d, "/api/1/templates/no-such-template", "template", &copy).await;
    assert_eq!(missing.code(), "templates.not_found");
    let deleted = d
        .delete(&format!("/api/1/templates/{new_id}"))
        .admin()
        .send()
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);

    // Media packages: list, read, update, delete.
    let package = record(&d, json!({"templateID": "small", "title": "Short"})).await;
    let id = package["id"].as_str().unwrap();
    let listed = get(&d, "/api/1/mediaPackages").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(listed.headers["x-total-count"], "1");
    assert_eq!(
        get(&d, &format!("/api/1/mediaPackages/{id}")).await.body,
        package
    );
    let renamed = post(
        &d,
        &format!("/api/mediaPackages/{id}"),
        "mediaPackage",
        &json!({"title": "Renamed"}),
    )
    .await;
    assert_eq!(renamed.body["title"], "Renamed", "{}", renamed.text);
    let deleted = d
        .delete(&format!("/api/1/mediaPackages/{id}"))
        .admin()
        .send()
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);

    // Speakers and users by id (both were 405), groups as a list.
    let ada = speaker(&d, "Ada Lovelace").await;
    let one = get(&d, &format!("/api/1/speakers/{}", ada["id"])).await;
    assert_eq!((one.status, &one.body), (StatusCode::OK, &ada));
    assert_eq!(
        get(&d, "/api/1/speakers/424242").await.code(),
        "speakers.not_found"
    );
    let user_id = d.create_user("panel", "Presenter", "panel-password").await;
    let user = get(&d, &format!("/api/1/users/{user_id}")).await;
    assert_eq!(
        user.body,
        json!({"id": user_id, "username": "panel", "roles": ["Presenter"]})
    );
    let group = json!({"title": "Series", "templateID": "lecture", "rrule": "FREQ=WEEKLY;COUNT=2",
        "startTime": store_now() + 86_400_000, "duration": 600_000});
    let group = post(&d, "/api/1/scheduler/groups", "group", &group)
        .await
        .body;
    let groups = get(&d, "/api/1/scheduler/groups").await;
    assert_eq!(groups.status, StatusCode::OK, "{}", groups.text);
    assert_eq!(groups.body, json!([group]));

    // Plugins by id.
    let plugin = get(&d, "/api/1/plugins/test").await;
    assert_eq!(plugin.body["id"], "test", "{}", plugin.text);
    assert_eq!(
        get(&d, "/api/1/plugins/nope").await.code(),
        "plugins.not_found"
    );

    // Graphs: update and delete; nodes: list and update.
    let root = json!({"id": "rec", "type": "fileRecorder"});
    let graph = post(&d, "/api/1/graphBuilder/graphs", "root", &root)
        .await
        .body;
    let g = graph["id"].as_str().unwrap();
    let path = format!("/api/1/graphBuilder/graphs/{g}");
    let enc = json!({"id": "enc", "type": "h264Encoder", "children": ["rec"]});
    post(&d, &format!("{path}/nodes"), "node", &enc).await;
    let nodes = get(&d, &format!("{path}/nodes")).await;
    let ids: Vec<&str> = nodes
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["rec", "enc"], "{}", nodes.text);
    let renamed = post(&d, &path, "graph", &json!({"name": "Hall 3"})).await;
    assert_eq!(renamed.body["name"], "Hall 3", "{}", renamed.text);
    let node = post(
        &d,
        &format!("{path}/nodes/enc"),
        "node",
        &json!({"options": {"bitrate": 800}}),
    )
    .await;
    assert_eq!(node.body["options"]["bitrate"], 800, "{}", node.text);
    let deleted = d.delete(&path).admin().send().await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(get(&d, &path).await.code(), "graph.not_found");

    // Each short path is documented as the entry of its group path.
    let doc = get(&d, "/api/1/openapi.json").await.body;
    for (short, long) in SHORT {
        let pointer = long
            .replace('/', "~1")
            .replace('{', "%7B")
            .replace('}', "%7D");
        assert_eq!(
            doc["paths"][short]["$ref"],
            format!("#/paths/{pointer}"),
            "{short}"
        );
        assert!(doc["paths"][long]["get"].is_object(), "{long}");
    }
    // …and guarded like it: a Presenter may read but not delete.
    let reply = d
        .request(Method::DELETE, "/api/1/templates/lecture")
        .auth("panel", "panel-password")
        .send()
        .await;
    assert_eq!(reply.code(), "auth.forbidden");
}

#[tokio::test]
async fn saving_a_template_without_an_id_never_replaces_another() {
    let d = TestDaemon::start().await;
    let stock = get(&d, "/api/1/capture/templates/lecture").await.body;
    let mut mine = stock.clone();
    mine.as_object_mut().unwrap().remove("id");
    mine["description"] = json!("my own lecture");
    mine["graph"]["id"] = json!("");

    // The name of another template: refused, naming the template that has it.
    let same_name = post(&d, "/api/1/capture/templates", "template", &mine).await;
    assert_eq!(
        (same_name.status, same_name.code()),
        (StatusCode::CONFLICT, "templates.duplicate_name"),
        "{}",
        same_name.text
    );
    assert_eq!(same_name.body["params"]["id"], "lecture");

    // A name whose id would be "lecture": a new template with an id of its own.
    mine["name"] = json!("LECTURE!");
    let created = post(&d, "/api/1/capture/templates", "template", &mine).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    assert_eq!(created.body["id"], "lecture-2");
    assert_eq!(created.body["description"], "my own lecture");
    assert_eq!(
        get(&d, "/api/1/capture/templates/lecture").await.body,
        stock,
        "the stock template is untouched"
    );

    // Only an explicit id updates.
    mine["id"] = json!("lecture-2");
    mine["description"] = json!("changed");
    let updated = post(&d, "/api/1/capture/templates", "template", &mine).await;
    assert_eq!(
        (&updated.body["id"], &updated.body["description"]),
        (&json!("lecture-2"), &json!("changed"))
    );
    let all = get(&d, "/api/1/capture/templates").await.body;
    assert_eq!(all.as_array().unwrap().len(), 4, "{all}");
}

#[tokio::test]
async fn new_graph_gives_a_root_without_an_id_an_id_as_add_node_does() {
    let d = TestDaemon::start().await;
    for root in [
        json!({"type": "fileRecorder"}),
        json!({"id": "", "type": "fileRecorder"}),
    ] {
        let created = post(&d, "/api/1/graphBuilder/graphs", "root", &root).await;
        assert_eq!(
            created.status,
            StatusCode::CREATED,
            "{root}: {}",
            created.text
        );
        let id = created.body["root"].as_str().unwrap().to_string();
        assert!(id.starts_with("node-"), "{id}");
        assert_eq!(created.body["nodes"][0]["id"], id.as_str());
        // A node added without an id gets one of the same form.
        let g = created.body["id"].as_str().unwrap();
        let added = post(
            &d,
            &format!("/api/1/graphBuilder/graphs/{g}/nodes"),
            "node",
            &json!({"type": "h264Encoder", "children": [id]}),
        )
        .await;
        assert!(added.body["id"].as_str().unwrap().starts_with("node-"));
    }
}
