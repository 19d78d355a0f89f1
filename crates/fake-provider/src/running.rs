//! Running the fake in-process on a socket, with shutdown on drop.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::knobs::{KnobError, Knobs};
use crate::record::{RecordedRequest, Stats};
use crate::server::router;
use crate::state::FakeState;

/// How long [`RunningFake::shutdown`] lets open responses finish before cutting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why the fake could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The initial knobs were invalid.
    #[error(transparent)]
    Knobs(#[from] KnobError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The bind error.
        #[source]
        source: std::io::Error,
    },
    /// The server stopped with an I/O error.
    #[error("server failed: {0}")]
    Serve(#[source] std::io::Error),
    /// The server did not finish within the shutdown grace period.
    #[error("server did not stop within {0:?}")]
    ShutdownTimeout(Duration),
    /// The server task panicked or was cancelled.
    #[error("server task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Entry point for running the fake in-process.
#[derive(Debug)]
pub struct FakeProvider;

impl FakeProvider {
    /// Validates `knobs`, binds `addr` (port 0 picks a free port) and serves in a background
    /// task of the current tokio runtime.
    pub async fn start(knobs: Knobs, addr: SocketAddr) -> Result<RunningFake, Error> {
        knobs.validate()?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        Self::serve(listener, FakeState::new(knobs))
    }

    /// Serves `state` on an already-bound listener in a background task.
    pub fn serve(listener: TcpListener, state: FakeState) -> Result<RunningFake, Error> {
        let addr = listener.local_addr().map_err(Error::Serve)?;
        let cancel = CancellationToken::new();
        let app = router(state.clone());
        // Streams are many small writes: disable Nagle so each chunk leaves at once.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(%err, "cannot set TCP_NODELAY");
            }
        });
        let server =
            axum::serve(listener, app).with_graceful_shutdown(cancel.clone().cancelled_owned());
        let task = tokio::spawn(async move { server.await });
        Ok(RunningFake {
            addr,
            state,
            cancel,
            task: Some(task),
        })
    }
}

/// A fake serving on [`RunningFake::addr`]; stops when dropped or on [`RunningFake::shutdown`].
#[derive(Debug)]
pub struct RunningFake {
    /// The bound address (the real port when 0 was asked for).
    pub addr: SocketAddr,
    state: FakeState,
    cancel: CancellationToken,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningFake {
    /// `http://<addr>`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The shared state (knobs and recorder).
    pub fn state(&self) -> &FakeState {
        &self.state
    }

    /// The current knobs.
    pub fn knobs(&self) -> Knobs {
        self.state.knobs()
    }

    /// Replaces the knobs for later requests (not validated; an invalid failure status
    /// answers 500).
    pub fn set_knobs(&self, knobs: Knobs) {
        self.state.set_knobs(knobs);
    }

    /// The recorded chat requests, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.recorder().requests()
    }

    /// The counters `GET /stats` serves.
    pub fn stats(&self) -> Stats {
        self.state.recorder().stats()
    }

    /// Clears counters and recorded requests (knobs are kept).
    pub fn reset(&self) {
        self.state.recorder().reset();
    }

    /// Stops accepting, lets open responses finish (up to 5 s), and waits for the server.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        self.cancel.cancel();
        let Some(mut task) = self.task.take() else {
            return Ok(());
        };
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
            Ok(joined) => joined?.map_err(Error::Serve),
            Err(_) => {
                task.abort();
                Err(Error::ShutdownTimeout(SHUTDOWN_GRACE))
            }
        }
    }
}

impl Drop for RunningFake {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
