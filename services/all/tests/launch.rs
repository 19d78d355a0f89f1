//! `pincer-services`, started as the launcher, forks services that become children of whoever
//! launched them.

mod config;

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;
use pincer_service_launcher::{Error, Launcher};

const EXE: &str = env!("CARGO_BIN_EXE_pincer-services");

#[tokio::test]
async fn launched_services_are_children_of_the_launching_process_and_share_what_the_loader_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let config = config::unanswered_model(dir.path());
    let mut launcher = Launcher::start(Path::new(EXE)).expect("the launcher starts");
    let mut routers = Vec::new();
    let mut listens = Vec::new();
    for _ in 0..2 {
        let listen = format!("127.0.0.1:{}", pincer_test_support::free_port());
        let env = vec![
            ("PINCER_CONFIG".to_owned(), config.display().to_string()),
            ("PINCER_LLM_ROUTER_LISTEN".to_owned(), listen.clone()),
            ("PINCER_NATS_URL".to_owned(), "none".to_owned()),
            ("RUST_LOG".to_owned(), "warn".to_owned()),
        ];
        routers.push(
            launcher
                .launch("pincer-llm-router", env)
                .await
                .expect("the router is launched"),
        );
        listens.push(listen);
    }
    let refused = launcher.launch("pincer-nothing", Vec::new()).await;
    assert!(
        matches!(&refused, Err(Error::Refused { reason, .. }) if reason.contains("pincer-gateway")),
        "{refused:?}"
    );
    // A variable no environment can hold is refused by name, before anything is forked.
    let refused = launcher
        .launch(
            "pincer-llm-router",
            vec![("PINCER_A=B".to_owned(), "x".to_owned())],
        )
        .await;
    assert!(
        matches!(&refused, Err(Error::Refused { reason, .. }) if reason.contains("PINCER_A=B")),
        "{refused:?}"
    );
    launcher.finish().await.expect("the launcher exits");

    for (router, listen) in routers.iter().zip(&listens) {
        let pid = router.id().expect("running");
        assert_eq!(
            pincer_test_support::parent_pid(pid),
            Some(std::process::id()),
            "router {pid}"
        );
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
        assert_eq!(comm.trim(), "pincer-llm-rout");
        // Its command line is its name, as when started under it (`ps`, `pgrep -f`).
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        assert_eq!(
            cmdline,
            b"pincer-llm-router\0",
            "{}",
            String::from_utf8_lossy(&cmdline)
        );
        // It serves with the environment it was launched with: its own port.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let probe = Command::new(EXE)
                .arg0("pincer-llm-router")
                .arg("healthcheck")
                .env("PINCER_CONFIG", &config)
                .env("PINCER_LLM_ROUTER_LISTEN", listen)
                .env("PINCER_NATS_URL", "none")
                .output()
                .unwrap();
            if probe.status.success() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "router {pid} never answered on {listen}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // The pages the loader wrote are one copy for both: each counts for half of them, or less.
    let exe = std::fs::canonicalize(EXE).unwrap();
    let (rss, pss) = pincer_test_support::loader_written_kib(routers[0].id().unwrap(), &exe);
    assert!(rss > 0, "no loader-written mapping of {}", exe.display());
    assert!(
        pss * 2 <= rss + 4,
        "Rss {rss} KiB, Pss {pss} KiB: not shared"
    );

    // SIGTERM stops each as it stops the router's own binary.
    for router in &mut routers {
        router.signal(Signal::SIGTERM).unwrap();
        let status = tokio::time::timeout(Duration::from_secs(30), router.wait())
            .await
            .expect("SIGTERM stops the router")
            .unwrap();
        assert!(status.success(), "{status:?}");
        assert_eq!(router.id(), None, "reaped");
    }
}
