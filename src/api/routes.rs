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
    backup, capture, devices, events, graph, live, maintenance, meta, metrics, packages, plugins,
    publishing, scheduler, session, settings, speakers, status, templates, users,
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
    .add(open, routes!(meta::openapi_json))
    .add(open, routes!(meta::docs_page))
    // status
    .add(open, routes!(status::health))
    .add(status, routes!(status::get_status))
    .add(status, routes!(status::get_unit_info))
    .add(status, routes!(status::get_network))
    .add(status, routes!(status::get_disk_space))
    .add(status, routes!(status::get_capture_status))
    .add(status, routes!(devices::get_status_devices))
    .add(status, routes!(scheduler::todays_schedule))
    // capture
    .add(view, routes!(capture::start))
    .add(view, routes!(capture::stop))
    .add(view, routes!(capture::pause))
    .add(view, routes!(capture::resume))
    .add(view, routes!(capture::extend))
    .add(view, routes!(capture::marker))
    .add(view, routes!(capture::device_capture_available))
    .add(view, routes!(capture::concurrent_captures_enabled))
    .add(view, routes!(templates::list))
    .add(admin, routes!(templates::save))
    .add(view, routes!(templates::get))
    .add(admin, routes!(templates::update, templates::delete))
    .add(admin, routes!(templates::test))
    .add(view, routes!(templates::preflight))
    .add(admin, routes!(templates::pipeline))
    .add(view, routes!(packages::list))
    .add(view, routes!(packages::get))
    .add(media, routes!(packages::update, packages::delete))
    .add(media, routes!(packages::attach))
    .add(view, routes!(packages::download))
    .add(media, routes!(publishing::publish))
    .add(media, routes!(publishing::test))
    .add(media, routes!(publishing::tested))
    .add(
        admin,
        routes!(
            publishing::configurations,
            publishing::update_configurations
        ),
    )
    .add(admin, routes!(publishing::update_configuration))
    .add(view, routes!(publishing::jobs))
    .add(view, routes!(publishing::job))
    .add(media, routes!(publishing::cancel))
    .add(media, routes!(publishing::retry))
    // sessionStatus, sessionOutput
    .add(view, routes!(session::status))
    .add(view, routes!(session::all))
    .add(view, routes!(session::node))
    .add(view, routes!(session::file))
    // liveStreamViewer
    .add(view, routes!(live::session))
    .add(view, routes!(live::video, live::create_video))
    .add(view, routes!(live::audio, live::create_audio))
    // devices
    .add(view, routes!(devices::get_audio_devices))
    .add(view, routes!(devices::get_video_devices))
    .add(admin, routes!(devices::redetect, devices::redetect_get))
    // graphBuilder
    .add(view, routes!(graph::summary))
    .add(view, routes!(graph::list))
    .add(admin, routes!(graph::create))
    .add(admin, routes!(graph::save))
    .add(admin, routes!(graph::copy))
    .add(view, routes!(graph::get))
    .add(admin, routes!(graph::update, graph::delete))
    .add(view, routes!(graph::nodes))
    .add(admin, routes!(graph::add_node))
    .add(view, routes!(graph::get_node))
    .add(admin, routes!(graph::update_node, graph::remove_node))
    .add(admin, routes!(graph::attach))
    .add(view, routes!(graph::options))
    .add(admin, routes!(graph::configure))
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
    .add(sched, routes!(scheduler::create_event))
    .add(view, routes!(scheduler::list_events))
    .add(view, routes!(scheduler::get_event))
    .add(
        sched,
        routes!(scheduler::update_event, scheduler::delete_event),
    )
    .add(view, routes!(scheduler::list_groups))
    .add(sched, routes!(scheduler::create_group))
    .add(view, routes!(scheduler::get_group))
    .add(
        sched,
        routes!(scheduler::update_group, scheduler::delete_group),
    )
    .add(view, routes!(scheduler::group_events))
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
    .add(view, routes!(speakers::list))
    .add(view, routes!(speakers::get))
    .add(media, routes!(speakers::create))
    .add(media, routes!(speakers::update, speakers::delete))
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
