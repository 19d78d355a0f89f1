//! `pincer-services` runs the service named by the path it is started under, or by
//! `PINCER_SERVICE` when that path names none (a container's `/usr/local/bin/service`);
//! `pincer-turn-services` does the same for the three services every turn passes through.

mod config;

use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const EXE: &str = env!("CARGO_BIN_EXE_pincer-services");
const TURN_EXE: &str = env!("CARGO_BIN_EXE_pincer-turn-services");

/// The executable started as `arg0` with `args`, to completion.
fn run_as(arg0: &str, args: &[&str], envs: &[(&str, String)]) -> Output {
    run_exe_as(EXE, arg0, args, envs)
}

/// `exe` started as `arg0` with `args`, to completion.
fn run_exe_as(exe: &str, arg0: &str, args: &[&str], envs: &[(&str, String)]) -> Output {
    Command::new(exe)
        .env_remove("PINCER_SERVICE")
        .arg0(arg0)
        .args(args)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "warn")
        .output()
        .expect("pincer-services runs")
}

#[test]
fn a_name_that_is_no_service_is_refused_with_the_names_it_answers_to() {
    let output = run_as("/usr/local/bin/pincer-services", &[], &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for name in [
        "pincer-gateway",
        "pincer-agent-runner",
        "pincer-llm-router",
        "pincer-channel-bridge",
        "pincer-tool-host",
    ] {
        assert!(stderr.contains(name), "{name} missing from: {stderr}");
    }
}

#[test]
fn under_another_name_it_runs_the_service_pincer_service_names() {
    // Nothing serves on that port: the router's own probe runs and says it is unhealthy (exit 1),
    // where a refused name would exit 2.
    let listen = format!("127.0.0.1:{}", pincer_test_support::free_port());
    for exe in [EXE, TURN_EXE] {
        let output = run_exe_as(
            exe,
            "/usr/local/bin/service",
            &["healthcheck"],
            &[
                ("PINCER_SERVICE", "pincer-llm-router".to_owned()),
                ("PINCER_LLM_ROUTER_LISTEN", listen.clone()),
            ],
        );
        assert_eq!(output.status.code(), Some(1), "{exe}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.starts_with("pincer-llm-router: unhealthy"),
            "{exe}: {stderr}"
        );
    }
}

#[test]
fn a_pincer_service_that_names_no_service_here_is_refused_by_name() {
    for (exe, missing) in [(EXE, "pincer-nothing"), (TURN_EXE, "pincer-channel-bridge")] {
        let output = run_exe_as(
            exe,
            "/usr/local/bin/service",
            &["healthcheck"],
            &[("PINCER_SERVICE", missing.to_owned())],
        );
        assert_eq!(output.status.code(), Some(2), "{exe}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!(
                "PINCER_SERVICE=\"{missing}\" names no service here"
            )),
            "{exe}: {stderr}"
        );
        assert!(stderr.contains("pincer-gateway"), "{exe}: {stderr}");
    }
}

#[test]
fn the_turn_executable_holds_the_three_services_of_a_turn_and_no_other() {
    let output = run_exe_as(TURN_EXE, "pincer-tool-host", &[], &[]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let listed = stderr.trim_end().rsplit(": ").next().unwrap_or_default();
    assert_eq!(
        listed, "pincer-gateway, pincer-agent-runner, pincer-llm-router",
        "{stderr}"
    );
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn started_as_the_router_it_serves_as_the_router_and_says_so_in_its_process_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = config::unanswered_model(dir.path());
    let listen = format!("127.0.0.1:{}", pincer_test_support::free_port());
    let envs = [
        ("PINCER_CONFIG", config.display().to_string()),
        ("PINCER_LLM_ROUTER_LISTEN", listen),
        ("PINCER_NATS_URL", "none".to_owned()),
    ];
    // Nothing serves there yet: the router's own probe says so (the check below can fail).
    let before = run_as("pincer-llm-router", &["healthcheck"], &envs);
    assert_eq!(before.status.code(), Some(1), "{before:?}");

    let router = Running(
        Command::new(EXE)
            .arg0("/opt/pincer/pincer-llm-router")
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if run_as("pincer-llm-router", &["healthcheck"], &envs)
            .status
            .success()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the router never answered its health check"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", router.0.id())).unwrap();
    assert_eq!(comm.trim(), "pincer-llm-rout");

    // SIGTERM stops it as it stops the router's own binary.
    kill(Pid::from_raw(router.0.id() as i32), Signal::SIGTERM).unwrap();
    let mut router = router;
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = router.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "SIGTERM did not stop the router");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}
