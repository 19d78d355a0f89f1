//! A service still waiting for NATS stops at once on SIGTERM, not after its start-up patience (30 s:
//! `pincer dev` and Docker would kill it first).

mod config;

use std::io::{BufRead as _, BufReader};
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const EXE: &str = env!("CARGO_BIN_EXE_pincer-services");

/// Well under the start-up patience of 30 s.
const STOP_PATIENCE: Duration = Duration::from_secs(10);

#[test]
fn services_waiting_for_nats_stop_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = config::unanswered_model(dir.path());
    // Nothing listens there: the service keeps retrying.
    let nats = format!("nats://127.0.0.1:{}", pincer_test_support::free_port());
    for service in [
        "pincer-gateway",
        "pincer-agent-runner",
        "pincer-channel-bridge",
    ] {
        let port = |name: &'static str| {
            (
                name,
                format!("127.0.0.1:{}", pincer_test_support::free_port()),
            )
        };
        let mut child = Command::new(EXE)
            .arg0(service)
            .env("PINCER_CONFIG", &config)
            .env("PINCER_NATS_URL", &nats)
            .env(
                "PINCER_GATEWAY_PORT",
                pincer_test_support::free_port().to_string(),
            )
            .env("PINCER_GATEWAY_TOKEN", "0123456789abcdef0123456789abcdef")
            .env("PINCER_LLM_ROUTER_URL", "http://127.0.0.1:9")
            .env("PINCER_WORKSPACE", dir.path().join("workspace"))
            .envs([
                port("PINCER_AGENT_RUNNER_HEALTH_LISTEN"),
                port("PINCER_CHANNEL_BRIDGE_HEALTH_LISTEN"),
            ])
            .env("RUST_LOG", "pincer_bus=debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Its own log says when it is retrying (the retries run until the patience is over).
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            let read = stderr.read_line(&mut line).unwrap();
            assert!(read > 0, "{service} exited before it waited for NATS");
            if line.contains("not reachable yet") {
                break;
            }
        }
        // Keep reading so that its writes never block.
        let drain = std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));

        kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
        let deadline = Instant::now() + STOP_PATIENCE;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{service} still ran {STOP_PATIENCE:?} after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{service}: {status:?}");
        let _ = drain.join();
    }
}
