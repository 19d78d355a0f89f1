//! `pincer gateway install --user` and `uninstall` against a home directory of their own: the
//! units it writes pass `systemd-analyze verify` (which also checks that every `ExecStart=`
//! program exists), the secrets land in per-service env files, and the other gateway commands
//! find the installation. The paths hold a space and a `%`, which systemd would split or expand.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SERVICES: [&str; 6] = [
    "nats",
    "llm-router",
    "tool-host",
    "agent-runner",
    "channel-bridge",
    "gateway",
];

/// A temporary machine: a home, service binaries that are empty scripts, a nats-server.
struct Machine {
    _dir: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
    bin_dir: PathBuf,
    nats_bin: PathBuf,
}

impl Machine {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let home = root.join("home of 100% me");
        let bin_dir = root.join("built bins");
        std::fs::create_dir_all(home.join(".pincer")).unwrap();
        std::fs::create_dir_all(&bin_dir).unwrap();
        for service in &SERVICES[1..] {
            executable(&bin_dir.join(format!("pincer-{service}")));
        }
        let nats_bin = root.join("nats-server");
        executable(&nats_bin);
        std::fs::write(
            home.join(".pincer/pincer.json5"),
            "{ gateway: { port: 18789 } }\n",
        )
        .unwrap();
        std::fs::write(
            home.join(".pincer/.env"),
            "PINCER_GATEWAY_TOKEN=gateway-only-token\nTELEGRAM_BOT_TOKEN=bridge-only-token\nOPENAI_API_KEY=router-only-key\n",
        )
        .unwrap();
        Self {
            _dir: dir,
            root,
            home,
            bin_dir,
            nats_bin,
        }
    }

    fn unit_dir(&self) -> PathBuf {
        self.home.join(".config/systemd/user")
    }

    /// Where `pincer gateway install --user` writes each process's unit, in [`SERVICES`] order.
    fn service_units(&self) -> Vec<PathBuf> {
        SERVICES
            .iter()
            .map(|service| self.unit_dir().join(format!("pincer-{service}.service")))
            .collect()
    }

    /// `pincer gateway install --user --no-enable` with this machine's binaries.
    fn install_user_units(&self) -> Output {
        self.pincer(&[
            "gateway",
            "install",
            "--user",
            "--no-enable",
            "--bin-dir",
            self.bin_dir.to_str().unwrap(),
            "--nats-bin",
            self.nats_bin.to_str().unwrap(),
        ])
    }

    /// `pincer args...` as this machine's user, with no systemd to talk to.
    fn pincer(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_pincer"))
            .args(args)
            .current_dir(&self.root)
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env_remove("PINCER_CONFIG")
            .env_remove("PINCER_GATEWAY_TOKEN")
            .env_remove("NATS_SERVER_BIN")
            .output()
            .unwrap()
    }
}

fn executable(path: &Path) {
    std::fs::write(path, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn systemd_analyze() -> Option<PathBuf> {
    ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
}

/// `systemd-analyze verify` finds nothing to say about `units` (skipped where it is not installed).
fn assert_systemd_accepts(machine: &Machine, units: &[PathBuf]) {
    match systemd_analyze() {
        Some(analyze) => {
            let runtime = tempfile::tempdir().unwrap();
            let verified = Command::new(analyze)
                .args(["verify", "--user"])
                .args(units)
                .env("HOME", &machine.home)
                .env("XDG_CONFIG_HOME", machine.home.join(".config"))
                .env("XDG_RUNTIME_DIR", runtime.path())
                .output()
                .unwrap();
            // verify exits 0 on an unknown key or a bad value and only warns: any output fails.
            assert!(
                verified.status.success()
                    && verified.stderr.is_empty()
                    && verified.stdout.is_empty(),
                "systemd-analyze verify: {}",
                text(&verified)
            );
        }
        None => {
            eprintln!("skipped systemd-analyze verify: /usr/bin/systemd-analyze is not installed")
        }
    }
}

#[test]
fn install_writes_units_systemd_accepts_and_uninstall_removes_them() {
    let machine = Machine::new();
    let installed = machine.install_user_units();
    assert!(installed.status.success(), "{}", text(&installed));
    let said = text(&installed);
    assert!(
        said.contains("pincer.target") && said.contains("--no-enable"),
        "{said}"
    );

    let mut units = machine.service_units();
    units.push(machine.unit_dir().join("pincer.target"));
    for unit in &units {
        assert!(unit.is_file(), "{} missing: {said}", unit.display());
    }
    let gateway = std::fs::read_to_string(&units[5]).unwrap();
    assert!(gateway.contains("ProtectSystem=strict\n"), "{gateway}");
    assert!(
        !gateway.contains("gateway-only-token"),
        "a secret in a unit: {gateway}"
    );

    // Each service's secrets in its own 0600 file, and only there.
    let env_dir = machine.home.join(".pincer/state/env");
    let env = |service: &str| {
        let path = env_dir.join(format!("{service}.env"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
        std::fs::read_to_string(path).unwrap()
    };
    assert!(env("gateway").contains("gateway-only-token"));
    assert!(env("channel-bridge").contains("bridge-only-token"));
    assert!(env("llm-router").contains("router-only-key"));
    for (service, foreign) in [
        ("gateway", "bridge-only-token"),
        ("gateway", "router-only-key"),
        ("llm-router", "gateway-only-token"),
        ("tool-host", "router-only-key"),
        ("agent-runner", "gateway-only-token"),
        ("nats", "router-only-key"),
    ] {
        assert!(
            !env(service).contains(foreign),
            "{foreign} reached {service}"
        );
    }
    // The internal secrets were generated into .env, and each bus password reached its owner.
    let dot_env = std::fs::read_to_string(machine.home.join(".pincer/.env")).unwrap();
    let gateway_password = dot_env
        .lines()
        .find_map(|line| line.strip_prefix("PINCER_NATS_PASSWORD_GATEWAY="))
        .expect("a generated gateway password");
    assert!(env("gateway").contains(&format!("PINCER_NATS_PASSWORD=\"{gateway_password}\"")));
    assert!(env("nats").contains(gateway_password));
    assert!(!env("channel-bridge").contains(gateway_password));

    assert_systemd_accepts(&machine, &units);

    // The other gateway commands now go to systemd: a service it does not know is named so.
    let unknown = machine.pincer(&["gateway", "restart", "postgres"]);
    assert_eq!(unknown.status.code(), Some(64), "{}", text(&unknown));
    assert!(text(&unknown).contains("tool-host"), "{}", text(&unknown));

    // Doctor knows the units: their states, or that systemd does not answer here.
    let doctor = machine.pincer(&["doctor", "--json"]);
    let report: serde_json::Value =
        serde_json::from_slice(&doctor.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&doctor)));
    let names: Vec<&str> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(
        names.contains(&"systemd") || names.contains(&"unit pincer-gateway.service"),
        "{names:?}"
    );

    let removed = machine.pincer(&["gateway", "uninstall"]);
    assert!(removed.status.success(), "{}", text(&removed));
    for unit in &units {
        assert!(!unit.exists(), "{} left behind", unit.display());
    }
    assert!(!env_dir.join("gateway.env").exists());
    assert!(
        machine.home.join(".pincer/.env").is_file(),
        "the .env stays"
    );
    assert!(
        machine.home.join(".pincer/state/nats").is_dir(),
        "NATS's store stays"
    );
    let again = machine.pincer(&["gateway", "uninstall"]);
    assert!(text(&again).contains("no Pincer units"), "{}", text(&again));
}

#[test]
fn install_refuses_a_bin_dir_without_the_services() {
    let machine = Machine::new();
    std::fs::remove_file(machine.bin_dir.join("pincer-tool-host")).unwrap();
    let refused = machine.pincer(&[
        "gateway",
        "install",
        "--no-enable",
        "--bin-dir",
        machine.bin_dir.to_str().unwrap(),
        "--nats-bin",
        machine.nats_bin.to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(64), "{}", text(&refused));
    assert!(
        text(&refused).contains("pincer-tool-host"),
        "{}",
        text(&refused)
    );
    assert!(!machine.unit_dir().join("pincer.target").exists());
}

#[test]
fn with_only_the_one_executable_each_unit_starts_it_under_its_service_name() {
    let machine = Machine::new();
    for service in &SERVICES[1..] {
        std::fs::remove_file(machine.bin_dir.join(format!("pincer-{service}"))).unwrap();
    }
    executable(&machine.bin_dir.join("pincer-services"));
    let installed = machine.install_user_units();
    assert!(installed.status.success(), "{}", text(&installed));
    let units = machine.service_units();
    let multi_call = machine.bin_dir.join("pincer-services");
    for (service, unit) in SERVICES.iter().zip(&units).skip(1) {
        let text = std::fs::read_to_string(unit).unwrap();
        // Quoted: the directory's name has a space; `@` makes the next word argv[0].
        let line = format!("ExecStart=\"@{}\" pincer-{service}\n", multi_call.display());
        assert!(text.contains(&line), "{line} missing: {text}");
    }
    assert_systemd_accepts(&machine, &units);
}
