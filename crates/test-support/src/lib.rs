//! Helpers for component and system tests (dev-dependency only).
//!
//! - [`NatsServer`]: a real `nats-server` (≥ 2.10, JetStream on) on a random loopback port, with its
//!   own store directory, killed on drop, restartable on the same store.
//! - [`eventually`], [`eventually_seen`], [`wait_http_ok`]: poll until a deadline instead of
//!   sleeping.
//! - [`init_tracing`]: test logs only when `TEST_LOG` is set.
//! - [`Terminal`]: a program on a pseudo-terminal, answered prompt by prompt.
//! - [`ask_gateway`]: one question through a running gateway's OpenAI-compatible API.
//! - [`loader_written_kib`]: whether processes share the pages the dynamic loader wrote.
//! - [`parent_pid`], [`is_zombie`]: what `/proc/<pid>/stat` says of a process.

mod nats;
mod poll;
mod proc_stat;
mod smaps;
mod terminal;
pub mod webdriver;

pub use nats::NatsServer;
pub use poll::{eventually, eventually_seen, wait_http_ok};
pub use proc_stat::{is_zombie, parent_pid};
pub use smaps::loader_written_kib;
pub use terminal::Terminal;

/// Installs a test subscriber writing to the test harness when `TEST_LOG` is set; silent otherwise.
pub fn init_tracing() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned()),
            ))
            .with_test_writer()
            .try_init();
    }
}

/// Path of a workspace binary (e.g. `pincer-gateway`) for tests that run the real processes: the
/// newer of `target/release`'s and `target/debug`'s (scripts/test.sh builds release before the
/// tests, unless `PINCER_TEST_IMAGES=debug`, as in CI). The newer, not release first: a release
/// build left from an earlier change would otherwise run instead of the code under test.
pub fn workspace_binary(name: &str) -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        std::path::PathBuf::from,
    );
    let built = |profile: &str| {
        let path = target.join(profile).join(name);
        let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
        path.is_file().then_some((modified, path))
    };
    match (built("release"), built("debug")) {
        (Some(release), Some(debug)) => std::cmp::max_by_key(release, debug, |(m, _)| *m).1,
        (Some((_, path)), None) | (None, Some((_, path))) => path,
        (None, None) => panic!(
            "{name} not found under {}/{{release,debug}}: run `cargo build --release` first",
            target.display()
        ),
    }
}

/// Asks the gateway at `base` (`http://host:port`) one question for the default agent, as any
/// OpenAI client would, and returns the answer's JSON.
pub async fn ask_gateway(base: &str, token: &str, question: &str) -> serde_json::Value {
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(token)
        .timeout(std::time::Duration::from_secs(60))
        .json(&serde_json::json!({
            "model": "pincer/default",
            "messages": [{ "role": "user", "content": question }],
        }))
        .send()
        .await
        .expect("the gateway answers");
    response.json().await.expect("an OpenAI-shaped answer")
}

/// Sends SIGTERM to `child` and waits (polling, at most `patience`) for it to exit.
pub async fn terminate(
    child: &mut std::process::Child,
    patience: std::time::Duration,
) -> std::process::ExitStatus {
    let pid = i32::try_from(child.id()).expect("pid fits in i32");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("send SIGTERM");
    eventually("the process to exit after SIGTERM", patience, || {
        let exited = child.try_wait().expect("wait for the child");
        async move { exited }
    })
    .await
}

/// A loopback port that was free a moment ago (for processes that must be told their port).
/// Never one this process handed out before: the kernel may give a port again once its listener is
/// closed, and two servers told to listen on it would collide.
pub fn free_port() -> u16 {
    pincer_lifecycle::ports::free_port().expect("bind an ephemeral loopback port")
}
