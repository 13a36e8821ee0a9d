//! Starting captures: from a template (`startCapture`) and from a graph being edited
//! (`startSession`), each with the same steps before the engine is asked: the caller's
//! `publishingOverrides` vetted against its role, the speaker settled into the whole
//! speaker as it is now. The engine then applies its own preflight and disk guard.

use serde_json::Map;

use super::{Daemon, OperationError};
use crate::auth::Permission;
use crate::engine::Origin;
use crate::model::{CaptureRequest, CaptureStatus, Template, TemplateDefaults, User};

impl Daemon {
    /// Starts a capture for `user`. Holds off a template's deletion until the engine
    /// answers, so a template is never deleted while a capture of it is starting.
    pub async fn start_capture(
        &self,
        user: &User,
        request: CaptureRequest,
    ) -> Result<CaptureStatus, OperationError> {
        let _template_stays = self.0.template_use.read().await;
        let (request, overrides_by_administrator) = self.prepare_request(user, request).await?;
        let origin = Origin {
            overrides_by_administrator,
            ..Origin::default()
        };
        Ok(self.0.engine.start_capture(request, origin).await?)
    }

    /// Records with graph `graph_id` as it is now, rooted at `node`; the session's
    /// template id is the graph id.
    pub async fn start_graph_session(
        &self,
        user: &User,
        graph_id: &str,
        node: &str,
        request: Option<CaptureRequest>,
    ) -> Result<CaptureStatus, OperationError> {
        let graph = self.0.graphs.session_graph(graph_id, node).await?;
        let template = Template {
            id: graph_id.to_string(),
            name: if graph.name.is_empty() {
                graph_id.to_string()
            } else {
                graph.name.clone()
            },
            description: String::new(),
            graph,
            publishing: Vec::new(),
            defaults: TemplateDefaults::default(),
            options: Map::new(),
        };
        let mut request = request.unwrap_or_default();
        request.template_id = Some(graph_id.to_string());
        let (request, overrides_by_administrator) = self.prepare_request(user, request).await?;
        let origin = Origin {
            template: Some(Box::new(template)),
            overrides_by_administrator,
            ..Origin::default()
        };
        Ok(self.0.engine.start_capture(request, origin).await?)
    }

    /// Stops the running session started from graph (or template) `graph_id`.
    pub async fn stop_graph_session(
        &self,
        graph_id: &str,
    ) -> Result<CaptureStatus, OperationError> {
        let session = self
            .0
            .engine
            .session_of(graph_id)
            .ok_or(crate::engine::CaptureError::Idle)?;
        Ok(self.0.engine.stop(Some(session)).await?)
    }

    /// The steps every capture request takes before the engine: its
    /// `publishingOverrides` held to the caller's role (see `publish::overrides`; true
    /// when they come from an Administrator, which the package records so that publishing
    /// applies them whole), and its speaker settled: the package keeps the whole speaker
    /// as it is now, not a reference that may go away.
    async fn prepare_request(
        &self,
        user: &User,
        mut request: CaptureRequest,
    ) -> Result<(CaptureRequest, bool), OperationError> {
        let by_administrator = Permission::Admin.granted_to(&user.roles);
        self.0
            .publishing
            .check_overrides(&request, by_administrator)
            .await?;
        (request.speaker, request.speaker_info) = self
            .0
            .speakers
            .settle(Some(&request.speaker), request.speaker_info.as_ref())
            .await?;
        Ok((request, by_administrator))
    }
}
