//! The route table: every route of the API with the guard it requires, in one place.
//!
//! A route exists only if it is listed here, and listing it is what documents it, so the
//! router, the OpenAPI document and the permission-matrix test cannot drift apart.
//!
//! Things castd files under an API group (`/capture/templates`) also answer at the short
//! paths of the vendor's resource-URL convention (`/templates`, `/templates/{id}`): the
//! same handlers behind the same guard, documented as a reference to the group path's
//! entry, so an alias can never answer or be documented differently from its original.

use axum::middleware::from_fn_with_state;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use super::auth::{self, Guard};
use super::handlers::{
    backup, capture, devices, events, graph, live, maintenance, meta, metrics, opencast, packages,
    plugins, publishing, scheduler, session, settings, speakers, status, templates, users,
};
use super::openapi;
use crate::auth::Permission;
use crate::daemon::Daemon;

/// (group path, short path): the short paths of the resource-URL convention.
const ALIASES: &[(&str, &str)] = &[
    ("/capture/templates", "/templates"),
    ("/capture/templates/{id}", "/templates/{id}"),
    ("/capture/mediaPackages", "/mediaPackages"),
    ("/capture/mediaPackages/{id}", "/mediaPackages/{id}"),
];

struct Table {
    daemon: Daemon,
    router: OpenApiRouter<Daemon>,
}

impl Table {
    /// Adds routes that share one guard (and their short paths, if they have any).
    fn add(mut self, guard: Guard, routes: UtoipaMethodRouter<Daemon>) -> Table {
        let (schemas, paths, methods) = routes;
        let aliases: Vec<(&str, &str)> = ALIASES
            .iter()
            .copied()
            .filter(|(path, _)| paths.paths.contains_key(*path))
            .collect();
        let mut group = OpenApiRouter::new().routes((schemas, paths, methods.clone()));
        openapi::mark(group.get_openapi_mut(), guard);
        for (path, alias) in aliases {
            group = group.route(alias, methods.clone());
            openapi::alias(group.get_openapi_mut(), alias, path);
        }
        if guard != Guard::Require(Permission::None) {
            group = group.route_layer(from_fn_with_state(
                (self.daemon.clone(), guard),
                auth::require,
            ));
        }
        self.router = self.router.merge(group);
        self
    }
}

/// All routes (without the `/api/1` prefix) and their OpenAPI description.
pub(crate) fn table(daemon: &Daemon) -> OpenApiRouter<Daemon> {
    let mut table = Table {
        daemon: daemon.clone(),
        router: OpenApiRouter::with_openapi(openapi::base()),
    };
    for &(guard, routes) in TABLE.iter().copied().flatten() {
        table = table.add(guard, routes());
    }
    table.router
}

/// One row: the guard, and the handlers that answer one path (one handler per method).
/// Each handler's `#[utoipa::path]` gives its method, path and operation id, and handlers
/// are named after their operation ids, so a row names its operation.
type Row = (Guard, fn() -> UtoipaMethodRouter<Daemon>);

const OPEN: Guard = Guard::Require(Permission::None);
const ANY_USER: Guard = Guard::Require(Permission::AnyUser);
const VIEW: Guard = Guard::Require(Permission::View);
const SCHEDULE: Guard = Guard::Require(Permission::ManageSchedule);
const MEDIA: Guard = Guard::Require(Permission::ManageMedia);
const ADMIN: Guard = Guard::Require(Permission::Admin);
const STATUS_VIEW: Guard = Guard::StatusView;

/// Every route, resource by resource in the order of the API document.
const TABLE: &[&[Row]] = &[
    DOCS,
    STATUS,
    CAPTURE,
    TEMPLATES,
    MEDIA_PACKAGES,
    PUBLISHING,
    OPENCAST,
    SESSIONS,
    LIVE,
    DEVICES,
    GRAPH_BUILDER,
    PLUGINS,
    SCHEDULER,
    EVENTS_AND_METRICS,
    MAINTENANCE,
    SPEAKERS,
    BACKUP,
    SETTINGS,
    USERS,
];

/// The API document and its rendered page.
const DOCS: &[Row] = &[
    (OPEN, || routes!(meta::openapi)),
    (OPEN, || routes!(meta::docs)),
];

/// Unit status: the health check always open, the rest also open while `publicStatus` is on.
const STATUS: &[Row] = &[
    (OPEN, || routes!(status::health)),
    (STATUS_VIEW, || routes!(status::get_status)),
    (STATUS_VIEW, || routes!(status::get_unit_info)),
    (STATUS_VIEW, || routes!(status::get_network)),
    (STATUS_VIEW, || routes!(status::get_disk_space)),
    (STATUS_VIEW, || routes!(status::get_capture_status)),
    (STATUS_VIEW, || routes!(devices::get_status_devices)),
    (STATUS_VIEW, || routes!(scheduler::get_todays_schedule)),
];

/// capture: the capture itself.
const CAPTURE: &[Row] = &[
    (VIEW, || routes!(capture::start_capture)),
    (VIEW, || routes!(capture::stop_capture)),
    (VIEW, || routes!(capture::pause_capture)),
    (VIEW, || routes!(capture::resume_capture)),
    (VIEW, || routes!(capture::extend_capture)),
    (VIEW, || routes!(capture::add_marker)),
    (VIEW, || routes!(capture::device_capture_available)),
    (VIEW, || routes!(capture::concurrent_captures_enabled)),
];

/// capture: templates.
const TEMPLATES: &[Row] = &[
    (VIEW, || routes!(templates::get_templates)),
    (ADMIN, || routes!(templates::save_template)),
    (VIEW, || routes!(templates::get_template)),
    (ADMIN, || {
        routes!(templates::update_template, templates::delete_template)
    }),
    (ADMIN, || routes!(templates::test_template)),
    (VIEW, || routes!(templates::preflight_template)),
    (ADMIN, || routes!(templates::pipeline_preview)),
];

/// capture: media packages and their outputs.
const MEDIA_PACKAGES: &[Row] = &[
    (VIEW, || routes!(packages::get_media_packages)),
    (VIEW, || routes!(packages::get_media_package)),
    (MEDIA, || {
        routes!(
            packages::update_media_package,
            packages::delete_media_package
        )
    }),
    (MEDIA, || routes!(packages::attach_output)),
    (VIEW, || routes!(packages::download_output)),
];

/// capture: publishing and its jobs.
const PUBLISHING: &[Row] = &[
    (MEDIA, || routes!(publishing::publish_media_package)),
    (MEDIA, || routes!(publishing::test_publishing)),
    (MEDIA, || routes!(publishing::get_tested_configurations)),
    (ADMIN, || {
        routes!(
            publishing::get_publishing_configurations,
            publishing::update_publishing_configurations
        )
    }),
    (ADMIN, || {
        routes!(publishing::update_publishing_configuration)
    }),
    (VIEW, || routes!(publishing::get_publish_jobs)),
    (VIEW, || routes!(publishing::get_publish_job)),
    (MEDIA, || routes!(publishing::cancel_publish_job)),
    (MEDIA, || routes!(publishing::retry_publish_job)),
];

/// The Opencast capture-agent link: its configuration and connection test.
const OPENCAST: &[Row] = &[
    (ADMIN, || {
        routes!(
            opencast::get_opencast_config,
            opencast::update_opencast_config
        )
    }),
    (ADMIN, || routes!(opencast::test_opencast)),
    (ADMIN, || routes!(opencast::sync_opencast)),
    (VIEW, || routes!(opencast::get_opencast_status)),
];

/// sessionStatus and sessionOutput: a session's state and its files.
const SESSIONS: &[Row] = &[
    (VIEW, || routes!(session::get_session_status)),
    (VIEW, || routes!(session::get_all_outputs)),
    (VIEW, || routes!(session::get_node_outputs)),
    (VIEW, || routes!(session::get_node_output_file)),
];

/// liveStreamViewer: previews of sessions and devices.
const LIVE: &[Row] = &[
    (VIEW, || routes!(live::get_session_preview)),
    (VIEW, || {
        routes!(
            live::get_video_device_preview,
            live::create_video_device_preview
        )
    }),
    (VIEW, || {
        routes!(
            live::get_audio_device_preview,
            live::create_audio_device_preview
        )
    }),
];

/// Capture devices.
const DEVICES: &[Row] = &[
    (VIEW, || routes!(devices::get_audio_devices)),
    (VIEW, || routes!(devices::get_video_devices)),
    (ADMIN, || {
        routes!(devices::redetect_devices, devices::redetect_devices_get)
    }),
];

/// graphBuilder: graphs, their nodes, and sessions started from them.
const GRAPH_BUILDER: &[Row] = &[
    (VIEW, || routes!(graph::graph_builder)),
    (VIEW, || routes!(graph::list_graphs)),
    (ADMIN, || routes!(graph::new_graph)),
    (ADMIN, || routes!(graph::save_graph)),
    (ADMIN, || routes!(graph::copy_graph)),
    (VIEW, || routes!(graph::get_graph_json)),
    (ADMIN, || routes!(graph::update_graph, graph::delete_graph)),
    (VIEW, || routes!(graph::get_nodes)),
    (ADMIN, || routes!(graph::add_node)),
    (VIEW, || routes!(graph::get_node)),
    (ADMIN, || routes!(graph::update_node, graph::remove_node)),
    (ADMIN, || routes!(graph::attach_node)),
    (VIEW, || routes!(graph::get_node_options)),
    (ADMIN, || routes!(graph::configure_node)),
    (ADMIN, || routes!(graph::invoke_service)),
    (ADMIN, || routes!(graph::start_session)),
    (ADMIN, || routes!(graph::stop_session)),
];

/// Plugins (the publishers) and their services.
const PLUGINS: &[Row] = &[
    (VIEW, || routes!(plugins::get_plugins)),
    (VIEW, || routes!(plugins::get_plugin)),
    (ADMIN, || {
        routes!(
            plugins::get_plugin_settings,
            plugins::update_plugin_settings
        )
    }),
    (ADMIN, || routes!(plugins::invoke_plugin_service)),
];

/// The schedule: events, groups and calendars.
const SCHEDULER: &[Row] = &[
    (SCHEDULE, || routes!(scheduler::schedule_capture)),
    (VIEW, || routes!(scheduler::get_events)),
    (VIEW, || routes!(scheduler::get_event)),
    (SCHEDULE, || {
        routes!(scheduler::update_event, scheduler::delete_event)
    }),
    (VIEW, || routes!(scheduler::get_groups)),
    (SCHEDULE, || routes!(scheduler::schedule_group)),
    (VIEW, || routes!(scheduler::get_group)),
    (SCHEDULE, || {
        routes!(scheduler::update_group, scheduler::delete_group)
    }),
    (VIEW, || routes!(scheduler::get_group_events)),
    (VIEW, || routes!(scheduler::export_calendar)),
    (SCHEDULE, || routes!(scheduler::import_calendar)),
];

/// status: the event stream and the metrics scrape.
const EVENTS_AND_METRICS: &[Row] = &[
    (VIEW, || routes!(events::events)),
    (VIEW, || routes!(metrics::metrics)),
];

/// maintenance: reboot and restarts.
const MAINTENANCE: &[Row] = &[
    (ADMIN, || routes!(maintenance::reboot)),
    (ADMIN, || routes!(maintenance::restart)),
    (ADMIN, || routes!(maintenance::restart_media)),
];

/// Speakers.
const SPEAKERS: &[Row] = &[
    (VIEW, || routes!(speakers::get_speakers)),
    (VIEW, || routes!(speakers::get_speaker)),
    (MEDIA, || routes!(speakers::create_speaker)),
    (MEDIA, || {
        routes!(speakers::update_speaker, speakers::delete_speaker)
    }),
];

/// maintenance: backup, restore and the audit trail.
const BACKUP: &[Row] = &[
    (ADMIN, || routes!(backup::backup)),
    (ADMIN, || routes!(backup::restore)),
    (ADMIN, || routes!(backup::audit)),
];

/// Settings.
const SETTINGS: &[Row] = &[
    (ADMIN, || {
        routes!(settings::get_settings, settings::update_settings)
    }),
    (ADMIN, || {
        routes!(settings::get_setting, settings::update_setting)
    }),
];

/// Users.
const USERS: &[Row] = &[
    (ADMIN, || routes!(users::get_users, users::create_user)),
    (ANY_USER, || routes!(users::current_user)),
    (ADMIN, || routes!(users::get_user)),
    (ADMIN, || routes!(users::update_user, users::delete_user)),
];
