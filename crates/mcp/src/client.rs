//! Our side of a connection: who we are, and hearing that a server's tools changed
//! (`notifications/tools/list_changed`), in either protocol era. Before 2026-07-28 a server
//! sends the notification when it likes; from 2026-07-28 on only on a `subscriptions/listen`
//! stream the client opened for it. Either way the supervisor lists the tools again.

use std::sync::Arc;

use rmcp::model::{
    ClientCapabilities, ClientConfig, Implementation, ProtocolVersion, ServerNotification,
    SubscriptionFilter,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::{ClientHandler, RoleClient};
use tokio::sync::Notify;
use tokio_util::task::AbortOnDropHandle;

/// The client handler of one connection.
#[derive(Clone)]
pub(crate) struct Client {
    config: ClientConfig,
    /// Woken when the server says its tools changed.
    tools_changed: Arc<Notify>,
}

impl Client {
    /// A fresh handler for one connection attempt.
    pub(crate) fn new() -> Self {
        let mut config = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("pincer-agent-runner", env!("CARGO_PKG_VERSION")),
        );
        config.protocol_version = ProtocolVersion::LATEST_WITH_INITIALIZE;
        Self {
            config,
            tools_changed: Arc::new(Notify::new()),
        }
    }

    /// What wakes when the server's tools changed.
    pub(crate) fn tools_changed(&self) -> Arc<Notify> {
        self.tools_changed.clone()
    }
}

impl ClientHandler for Client {
    fn get_info(&self) -> ClientConfig {
        self.config.clone()
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.tools_changed.notify_one();
    }
}

/// How long the server may take to acknowledge the listen stream.
const LISTEN_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// On a 2026-07-28 connection to a server whose tools can change, opens the listen stream for
/// that notification (in a task of its own: the connection is served meanwhile) and wakes
/// `tools_changed` on each; `None` when there is nothing to listen for (an earlier protocol sends
/// it unasked: [`Client`] hears it). The task ends when the handle is dropped, with the
/// connection's run.
pub(crate) fn listen_for_tool_changes(
    service: &RunningService<RoleClient, Client>,
    tools_changed: Arc<Notify>,
) -> Option<AbortOnDropHandle<()>> {
    let info = service.peer_info()?;
    let changes = info
        .capabilities
        .tools
        .as_ref()
        .and_then(|tools| tools.list_changed)
        .unwrap_or(false);
    if !changes || info.protocol_version.has_initialize() {
        return None;
    }
    let peer = service.peer().clone();
    Some(AbortOnDropHandle::new(tokio::spawn(async move {
        let filter = SubscriptionFilter::builder().tools_list_changed().build();
        let mut subscription =
            match tokio::time::timeout(LISTEN_PATIENCE, peer.listen(filter)).await {
                Ok(Ok(subscription)) => subscription,
                Ok(Err(error)) => {
                    tracing::warn!(%error, "cannot listen for the server's tool changes");
                    return;
                }
                Err(_) => {
                    tracing::warn!("the server did not acknowledge listening for its tool changes");
                    return;
                }
            };
        loop {
            match subscription.next().await {
                Ok(Some(ServerNotification::ToolListChangedNotification(_))) => {
                    tools_changed.notify_one();
                }
                Ok(Some(_)) => {}
                Ok(None) => return,
                Err(error) => {
                    tracing::debug!(%error, "listen stream ended");
                    return;
                }
            }
        }
    })))
}
