//! Keeps one server connected: connect, wait for the connection to end (crash, hang, closed
//! stdout), back off exponentially, reconnect; until the runner shuts down.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::service::QuitReason;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::client;
use super::connect::{self, Session};
use super::slot::{Live, Slot};
use super::status::ServerState;

/// First wait before reconnecting; doubles after each failure.
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Longest wait before reconnecting.
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A connection that lived this long resets the backoff.
const STABLE: Duration = Duration::from_secs(60);
/// How long a closing connection may take (stdio: close stdin, then SIGTERM, then SIGKILL).
const CLOSE_PATIENCE: Duration = Duration::from_secs(10);

/// How a connection ended.
enum Ended {
    Shutdown,
    Failed(String),
}

/// Runs until `shutdown`; a server whose entry cannot work is marked failed and left alone.
pub(crate) async fn supervise(slot: Arc<Slot>, shutdown: CancellationToken) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let attempt = tokio::select! {
            attempt = connect::connect(&slot.name, &slot.config, slot.launcher.as_ref()) => attempt,
            () = shutdown.cancelled() => break,
        };
        let error = match attempt {
            Ok(session) => {
                let up = Instant::now();
                match run(&slot, session, &shutdown).await {
                    Ended::Shutdown => break,
                    Ended::Failed(error) => {
                        if up.elapsed() >= STABLE {
                            backoff = BACKOFF_MIN;
                        }
                        error
                    }
                }
            }
            Err(error) if error.is_permanent() => {
                tracing::error!(%error, "mcp server cannot be started; fix its config entry");
                slot.disconnected(&error.to_string(), ServerState::Failed);
                return;
            }
            Err(error) => {
                let error = error.to_string();
                slot.disconnected(&error, ServerState::Restarting);
                error
            }
        };
        tracing::warn!(%error, retry_in_s = backoff.as_secs(), "mcp server failed; restarting");
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = shutdown.cancelled() => break,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
    slot.stopped();
}

/// Serves calls over `session` until it ends, a call reports the server hung, or shutdown; then
/// closes it. The slot stops handing out the connection as soon as it is known to be over.
async fn run(slot: &Slot, session: Session, shutdown: &CancellationToken) -> Ended {
    let Session {
        service,
        tools_changed,
        tools,
        pid,
    } = session;
    let restart = Arc::new(Notify::new());
    let protocol_version = service
        .peer_info()
        .map(|info| info.protocol_version.to_string());
    tracing::info!(
        ?pid,
        listed = tools.len(),
        protocol_version = protocol_version.as_deref().unwrap_or("unknown"),
        "mcp server connected"
    );
    slot.connected(
        Live {
            peer: service.peer().clone(),
            restart: restart.clone(),
        },
        &tools,
        protocol_version,
        pid,
    );
    // Listens as long as this run lasts (dropped with it).
    let _listening = client::listen_for_tool_changes(&service, tools_changed.clone());
    let peer = service.peer().clone();
    let stop = service.cancellation_token();
    let waiting = service.waiting();
    tokio::pin!(waiting);
    let ended = loop {
        tokio::select! {
            quit = &mut waiting => {
                let why = match quit {
                    Ok(QuitReason::JoinError(error)) | Err(error) => format!("the client task failed: {error}"),
                    Ok(_) => "the connection closed (the server exited or closed its output)".to_owned(),
                };
                slot.disconnected(&why, ServerState::Restarting);
                return Ended::Failed(why);
            }
            () = restart.notified() => {
                let why = "it stopped answering calls".to_owned();
                slot.disconnected(&why, ServerState::Restarting);
                break Ended::Failed(why);
            }
            () = tools_changed.notified() => {
                // Listing again waits for the server, but never holds up a shutdown.
                tokio::select! {
                    () = relist(slot, &peer) => {}
                    () = shutdown.cancelled() => {
                        slot.stopped();
                        break Ended::Shutdown;
                    }
                }
            }
            () = shutdown.cancelled() => {
                slot.stopped();
                break Ended::Shutdown;
            }
        }
    };
    stop.cancel();
    if tokio::time::timeout(CLOSE_PATIENCE, &mut waiting)
        .await
        .is_err()
    {
        tracing::warn!("mcp server connection did not close in time; abandoning it");
    }
    ended
}

/// Lists the server's tools again after it said they changed; the model is offered the new list
/// from its next call on. A failed listing keeps the tools known so far.
async fn relist(slot: &Slot, peer: &rmcp::Peer<rmcp::RoleClient>) {
    match tokio::time::timeout(slot.config.timeout(), peer.list_all_tools()).await {
        Ok(Ok(tools)) => {
            tracing::info!(
                listed = tools.len(),
                "mcp server's tools changed; listed again"
            );
            slot.relisted(&tools);
        }
        Ok(Err(error)) => tracing::warn!(%error, "listing the changed tools failed"),
        Err(_) => tracing::warn!("listing the changed tools timed out"),
    }
}
