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
pub fn table(daemon: &Daemon) -> OpenApiRouter<Daemon> {
    use Permission::{Admin, AnyUser, ManageMedia, ManageSchedule, None, View};
    let open = Guard::Require(None);
    let any = Guard::Require(AnyUser);
    let view = Guard::Require(View);
    let admin = Guard::Require(Admin);
    let media = Guard::Require(ManageMedia);
    let sched = Guard::Require(ManageSchedule);
    let status = Guard::StatusView;

    Table {
        daemon: daemon.clone(),
        router: OpenApiRouter::with_openapi(openapi::base()),
    }
    // docs
    .add(open, routes!(meta::openapi))
    .add(open, routes!(meta::docs))
    // status
    .add(open, routes!(status::health))
    .add(status, routes!(status::get_status))
    .add(status, routes!(status::get_unit_info))
    .add(status, routes!(status::get_network))
    .add(status, routes!(status::get_disk_space))
    .add(status, routes!(status::get_capture_status))
    .add(status, routes!(devices::get_status_devices))
    .add(status, routes!(scheduler::get_todays_schedule))
    // capture
    .add(view, routes!(capture::start_capture))
    .add(view, routes!(capture::stop_capture))
    .add(view, routes!(capture::pause_capture))
    .add(view, routes!(capture::resume_capture))
    .add(view, routes!(capture::extend_capture))
    .add(view, routes!(capture::add_marker))
    .add(view, routes!(capture::device_capture_available))
    .add(view, routes!(capture::concurrent_captures_enabled))
    .add(view, routes!(templates::get_templates))
    .add(admin, routes!(templates::save_template))
    .add(view, routes!(templates::get_template))
    .add(
        admin,
        routes!(templates::update_template, templates::delete_template),
    )
    .add(admin, routes!(templates::test_template))
    .add(view, routes!(templates::preflight_template))
    .add(admin, routes!(templates::pipeline_preview))
    .add(view, routes!(packages::get_media_packages))
    .add(view, routes!(packages::get_media_package))
    .add(
        media,
        routes!(
            packages::update_media_package,
            packages::delete_media_package
        ),
    )
    .add(media, routes!(packages::attach_output))
    .add(view, routes!(packages::download_output))
    .add(media, routes!(publishing::publish_media_package))
    .add(media, routes!(publishing::test_publishing))
    .add(media, routes!(publishing::get_tested_configurations))
    .add(
        admin,
        routes!(
            publishing::get_publishing_configurations,
            publishing::update_publishing_configurations
        ),
    )
    .add(admin, routes!(publishing::update_publishing_configuration))
    .add(
        admin,
        routes!(
            opencast::get_opencast_config,
            opencast::update_opencast_config
        ),
    )
    .add(admin, routes!(opencast::test_opencast))
    .add(view, routes!(publishing::get_publish_jobs))
    .add(view, routes!(publishing::get_publish_job))
    .add(media, routes!(publishing::cancel_publish_job))
    .add(media, routes!(publishing::retry_publish_job))
    // sessionStatus, sessionOutput
    .add(view, routes!(session::get_session_status))
    .add(view, routes!(session::get_all_outputs))
    .add(view, routes!(session::get_node_outputs))
    .add(view, routes!(session::get_node_output_file))
    // liveStreamViewer
    .add(view, routes!(live::get_session_preview))
    .add(
        view,
        routes!(
            live::get_video_device_preview,
            live::create_video_device_preview
        ),
    )
    .add(
        view,
        routes!(
            live::get_audio_device_preview,
            live::create_audio_device_preview
        ),
    )
    // devices
    .add(view, routes!(devices::get_audio_devices))
    .add(view, routes!(devices::get_video_devices))
    .add(
        admin,
        routes!(devices::redetect_devices, devices::redetect_devices_get),
    )
    // graphBuilder
    .add(view, routes!(graph::graph_builder))
    .add(view, routes!(graph::list_graphs))
    .add(admin, routes!(graph::new_graph))
    .add(admin, routes!(graph::save_graph))
    .add(admin, routes!(graph::copy_graph))
    .add(view, routes!(graph::get_graph_json))
    .add(admin, routes!(graph::update_graph, graph::delete_graph))
    .add(view, routes!(graph::get_nodes))
    .add(admin, routes!(graph::add_node))
    .add(view, routes!(graph::get_node))
    .add(admin, routes!(graph::update_node, graph::remove_node))
    .add(admin, routes!(graph::attach_node))
    .add(view, routes!(graph::get_node_options))
    .add(admin, routes!(graph::configure_node))
    .add(admin, routes!(graph::invoke_service))
    .add(admin, routes!(graph::start_session))
    .add(admin, routes!(graph::stop_session))
    // plugins
    .add(view, routes!(plugins::get_plugins))
    .add(view, routes!(plugins::get_plugin))
    .add(
        admin,
        routes!(
            plugins::get_plugin_settings,
            plugins::update_plugin_settings
        ),
    )
    .add(admin, routes!(plugins::invoke_plugin_service))
    // scheduler
    .add(sched, routes!(scheduler::schedule_capture))
    .add(view, routes!(scheduler::get_events))
    .add(view, routes!(scheduler::get_event))
    .add(
        sched,
        routes!(scheduler::update_event, scheduler::delete_event),
    )
    .add(view, routes!(scheduler::get_groups))
    .add(sched, routes!(scheduler::schedule_group))
    .add(view, routes!(scheduler::get_group))
    .add(
        sched,
        routes!(scheduler::update_group, scheduler::delete_group),
    )
    .add(view, routes!(scheduler::get_group_events))
    .add(view, routes!(scheduler::export_calendar))
    .add(sched, routes!(scheduler::import_calendar))
    // status: events and metrics
    .add(view, routes!(events::events))
    .add(view, routes!(metrics::metrics))
    // maintenance
    .add(admin, routes!(maintenance::reboot))
    .add(admin, routes!(maintenance::restart))
    .add(admin, routes!(maintenance::restart_media))
    // speakers
    .add(view, routes!(speakers::get_speakers))
    .add(view, routes!(speakers::get_speaker))
    .add(media, routes!(speakers::create_speaker))
    .add(
        media,
        routes!(speakers::update_speaker, speakers::delete_speaker),
    )
    // maintenance: backup, restore, audit
    .add(admin, routes!(backup::backup))
    .add(admin, routes!(backup::restore))
    .add(admin, routes!(backup::audit))
    // settings
    .add(
        admin,
        routes!(settings::get_settings, settings::update_settings),
    )
    .add(
        admin,
        routes!(settings::get_setting, settings::update_setting),
    )
    // users
    .add(admin, routes!(users::get_users, users::create_user))
    .add(any, routes!(users::current_user))
    .add(admin, routes!(users::get_user))
    .add(admin, routes!(users::update_user, users::delete_user))
    .router
}
