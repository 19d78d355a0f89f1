//! Starting the fake provider and `pincer dev` as child processes.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Bearer token of the benchmark's gateway.
pub const TOKEN: &str = "bench-token";

/// The fake provider process.
pub struct Fake {
    pub addr: SocketAddr,
    _child: Child,
}

impl Fake {
    /// Starts `pincer-fake-provider` answering `tokens` words at once (no first-token or chunk
    /// delay).
    pub async fn start(bin_dir: &Path, tokens: u32) -> anyhow::Result<Self> {
        let mut child = Command::new(bin_dir.join("pincer-fake-provider"))
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--tokens",
                &tokens.to_string(),
                "--delay-ms",
                "0",
                "--chunk-delay-ms",
                "0",
            ])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await??
            .ok_or_else(|| anyhow::anyhow!("the fake provider exited"))?;
        let value: serde_json::Value = serde_json::from_str(&line)?;
        let addr = value["listening"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("unexpected fake provider banner {line}"))?
            .parse()?;
        Ok(Self {
            addr,
            _child: child,
        })
    }

    /// The fake's counters.
    pub async fn stats(&self) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
        Ok(crate::http_json::get(self.addr, "/stats")
            .await?
            .as_object()
            .cloned()
            .unwrap_or_default())
    }
}

/// `pincer dev` and its children.
pub struct Dev {
    child: Child,
    /// Where `pincer dev` writes its output.
    log_path: std::path::PathBuf,
    pub gateway_addr: SocketAddr,
    /// nats-server's monitoring endpoint (`/varz`, `/connz`).
    pub nats_monitor: SocketAddr,
}

impl Dev {
    /// Writes a config for the fake and starts `pincer dev`.
    pub async fn start(
        bin_dir: &Path,
        work: &Path,
        fake: SocketAddr,
        max_concurrent: u32,
    ) -> anyhow::Result<Self> {
        Self::start_with_channels(bin_dir, work, fake, max_concurrent, "").await
    }

    /// Like [`Dev::start`], with a `channels` section (JSON5 object body, may be empty).
    pub async fn start_with_channels(
        bin_dir: &Path,
        work: &Path,
        fake: SocketAddr,
        max_concurrent: u32,
        channels: &str,
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let monitor_port = free_port()?;
        let config = work.join("pincer.json5");
        std::fs::write(
            &config,
            format!(
                r#"{{
  gateway: {{ port: {port}, bind: "loopback", auth: {{ mode: "token", token: "{TOKEN}" }} }},
  models: {{ providers: {{ ollama: {{ baseUrl: "http://{fake}", api: "ollama", models: [{{ id: "fake-model" }}] }} }} }},
  agents: {{ defaults: {{ model: {{ primary: "ollama/fake-model" }}, timeout: 60, maxConcurrent: {max_concurrent} }} }},
  channels: {{ {channels} }},
}}"#
            ),
        )?;
        // Kept beside the run's state, so a stack that fails to start says why.
        let log_path = work.join("pincer-dev.log");
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new(bin_dir.join("pincer"))
            .arg("dev")
            .arg("--config")
            .arg(&config)
            .arg("--state-dir")
            .arg(work.join("state"))
            .arg("--nats-monitor-port")
            .arg(monitor_port.to_string())
            .env("RUST_LOG", "warn")
            .env("PINCER_WORKSPACE", work.join("workspace"))
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        Ok(Self {
            child,
            log_path,
            gateway_addr: SocketAddr::from(([127, 0, 0, 1], port)),
            nats_monitor: SocketAddr::from(([127, 0, 0, 1], monitor_port)),
        })
    }

    /// PID of `pincer dev` (the root of the measured tree).
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// Polls `/readyz` until 200.
    pub async fn wait_ready(&mut self, patience: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        loop {
            if let Ok(mut stream) = tokio::net::TcpStream::connect(self.gateway_addr).await {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let request = format!(
                    "GET /readyz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                    self.gateway_addr
                );
                if stream.write_all(request.as_bytes()).await.is_ok() {
                    let mut head = [0u8; 12];
                    if stream.read_exact(&mut head).await.is_ok()
                        && head.starts_with(b"HTTP/1.1 200")
                    {
                        return Ok(started.elapsed());
                    }
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                anyhow::bail!("pincer dev exited early: {status}; {}", self.log_tail());
            }
            anyhow::ensure!(
                started.elapsed() < patience,
                "the stack was not ready within {patience:?}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// The last lines `pincer dev` and its processes wrote, for an error message: what a stack that
    /// failed said about it.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        // NATS's start-up banner and shutdown at level INF would fill the tail.
        let mut tail: Vec<&str> = log
            .lines()
            .filter(|line| !line.contains("] [INF] "))
            .rev()
            .take(20)
            .collect();
        tail.reverse();
        format!(
            "the end of {}:\n{}",
            self.log_path.display(),
            tail.join("\n")
        )
    }

    /// SIGTERM and wait.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
    }
}

/// A loopback port free right now, not one this process handed out before (for a child process to
/// listen on).
pub use pincer_lifecycle::ports::free_port;
