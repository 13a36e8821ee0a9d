//! Route handlers, one file per API group. A handler parses and authorises, calls one
//! method of the daemon, and maps the typed result to a response; it holds no rule of its
//! own. Each is named after its operation id (`startCapture` → `start_capture`), so the
//! code behind an operation of API.md is found by its name.

pub(crate) mod backup;
pub(crate) mod capture;
pub(crate) mod devices;
pub(crate) mod events;
pub(crate) mod graph;
pub(crate) mod live;
pub(crate) mod maintenance;
pub(crate) mod meta;
pub(crate) mod metrics;
pub(crate) mod opencast;
pub(crate) mod packages;
pub(crate) mod plugins;
pub(crate) mod publishing;
pub(crate) mod scheduler;
pub(crate) mod session;
pub(crate) mod settings;
pub(crate) mod speakers;
pub(crate) mod status;
pub(crate) mod templates;
pub(crate) mod users;

#[cfg(test)]
mod tests {
    /// The handler files, read as text: the operation id and the function it documents
    /// stand next to each other only in the source.
    const SOURCES: &[(&str, &str)] = &[
        ("backup", include_str!("backup.rs")),
        ("capture", include_str!("capture.rs")),
        ("devices", include_str!("devices.rs")),
        ("events", include_str!("events.rs")),
        ("graph", include_str!("graph.rs")),
        ("live", include_str!("live.rs")),
        ("maintenance", include_str!("maintenance.rs")),
        ("meta", include_str!("meta.rs")),
        ("metrics", include_str!("metrics.rs")),
        ("packages", include_str!("packages.rs")),
        ("plugins", include_str!("plugins.rs")),
        ("publishing", include_str!("publishing.rs")),
        ("scheduler", include_str!("scheduler.rs")),
        ("session", include_str!("session.rs")),
        ("settings", include_str!("settings.rs")),
        ("speakers", include_str!("speakers.rs")),
        ("status", include_str!("status.rs")),
        ("templates", include_str!("templates.rs")),
        ("users", include_str!("users.rs")),
    ];

    fn snake_case(id: &str) -> String {
        let mut name = String::new();
        for c in id.chars() {
            if c.is_ascii_uppercase() {
                name.push('_');
            }
            name.push(c.to_ascii_lowercase());
        }
        name
    }

    /// (operation id, name of the function that follows it) for every handler of a file.
    fn handlers(source: &str) -> Vec<(String, String)> {
        let mut found = Vec::new();
        for (at, _) in source.match_indices("operation_id = \"") {
            let rest = &source[at + "operation_id = \"".len()..];
            let id = &rest[..rest.find('"').unwrap()];
            let after_fn = &rest[rest.find("fn ").expect("a function follows") + 3..];
            let name = &after_fn[..after_fn.find(['(', '<']).unwrap()];
            found.push((id.to_string(), name.to_string()));
        }
        found
    }

    #[test]
    fn every_handler_is_named_after_its_operation_id() {
        let mut count = 0;
        for (file, source) in SOURCES {
            let handlers = handlers(source);
            assert_eq!(
                handlers.len(),
                source.matches("#[utoipa::path(").count(),
                "{file}.rs: every documented handler states its operation id"
            );
            for (id, name) in handlers {
                assert_eq!(name, snake_case(&id), "{file}.rs: the handler of {id}");
                count += 1;
            }
        }
        assert!(count >= 100, "only {count} handlers found");
    }

    #[test]
    fn the_name_of_an_operation_id_is_its_snake_case() {
        assert_eq!(snake_case("startCapture"), "start_capture");
        assert_eq!(snake_case("getMediaPackage"), "get_media_package");
        assert_eq!(
            handlers("operation_id = \"listUsers\",\n)]\npub async fn list_users(\n"),
            vec![("listUsers".to_string(), "list_users".to_string())]
        );
    }
}
