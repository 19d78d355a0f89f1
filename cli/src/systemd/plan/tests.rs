use std::collections::BTreeSet;

use super::*;
use crate::systemd::environment;

fn inputs(scope: Scope) -> Inputs {
    Inputs {
        scope,
        layout: Layout {
            state_dir: PathBuf::from("/var/lib/pincer"),
            nats_store: PathBuf::from("/var/lib/pincer/nats"),
            workspace: PathBuf::from("/var/lib/pincer/workspace"),
            tool_state: PathBuf::from("/var/lib/pincer/tools"),
            env_dir: PathBuf::from("/etc/pincer/env"),
        },
        bin_dir: PathBuf::from("/usr/local/bin"),
        multi_call: false,
        nats_bin: PathBuf::from("/usr/local/bin/nats-server"),
        nats_port: 4222,
        config: PathBuf::from("/etc/pincer/pincer.json5"),
        tool_host_env_file: PathBuf::from("/etc/pincer/tool-host.env"),
        run_as: Some("pincer".to_owned()),
        tool_host_memory: "384M".to_owned(),
    }
}

fn unit(files: &[UnitFile], process: Process) -> &str {
    &files
        .iter()
        .find(|file| file.name == process.unit())
        .expect("a unit per process")
        .text
}

#[test]
fn with_the_one_executable_each_unit_starts_it_under_its_service_name() {
    let own = unit_files(&inputs(Scope::System)).unwrap();
    assert!(
        unit(&own, Process::Gateway).contains("ExecStart=/usr/local/bin/pincer-gateway\n"),
        "{}",
        unit(&own, Process::Gateway)
    );
    let files = unit_files(&Inputs {
        multi_call: true,
        ..inputs(Scope::System)
    })
    .unwrap();
    for process in Process::ALL {
        let text = unit(&files, process);
        if process == Process::Nats {
            assert!(
                text.contains("ExecStart=/usr/local/bin/nats-server "),
                "{text}"
            );
        } else {
            let line = format!(
                "ExecStart=@/usr/local/bin/pincer-services pincer-{}\n",
                process.name()
            );
            assert!(text.contains(&line), "{line} missing: {text}");
        }
    }
}

#[test]
fn every_process_gets_its_unit_its_env_file_and_nats_first() {
    let files = unit_files(&inputs(Scope::System)).unwrap();
    assert_eq!(files.len(), 7);
    assert_eq!(files.last().unwrap().name, "pincer.target");
    let nats = unit(&files, Process::Nats);
    assert!(nats.contains("ExecStart=/usr/local/bin/nats-server -c /var/lib/pincer/nats.conf -a 127.0.0.1 -p 4222 -js -sd /var/lib/pincer/nats\n"), "{nats}");
    assert!(
        nats.contains("MemoryMax=256M\n") && !nats.contains("Requires="),
        "{nats}"
    );
    for process in Process::ALL {
        let text = unit(&files, process);
        let env_file = format!("EnvironmentFile=/etc/pincer/env/{}.env\n", process.name());
        assert!(text.contains(&env_file), "{text}");
        assert!(text.contains("User=pincer\n"), "{text}");
        assert!(text.contains("ProtectHome=yes\n"), "{text}");
        let needs_nats = !matches!(process, Process::Nats | Process::ToolHost);
        assert_eq!(
            text.contains("Requires=pincer-nats.service\nWants=")
                || text.contains("Requires=pincer-nats.service\nAfter="),
            needs_nats,
            "{text}"
        );
        assert_eq!(
            text.contains("After=pincer-nats.service\n"),
            needs_nats,
            "{text}"
        );
    }
    let agent = unit(&files, Process::AgentRunner);
    assert!(
        agent.contains("After=pincer-tool-host.service\n"),
        "{agent}"
    );
    assert!(agent.contains("Environment=\"PINCER_TOOL_HOST_URL=http://127.0.0.1:50071\"\n"));
    assert!(
        agent.contains("ReadWritePaths=/var/lib/pincer/workspace\n"),
        "{agent}"
    );
    let tools = unit(&files, Process::ToolHost);
    assert!(
        tools.contains("EnvironmentFile=-/etc/pincer/tool-host.env\n"),
        "{tools}"
    );
    assert!(tools.contains("ReadWritePaths=/var/lib/pincer/workspace /var/lib/pincer/tools\n"));
    assert!(tools.contains("MemoryMax=384M\n") && tools.contains("TasksMax=256\n"));
    assert!(tools.contains("Environment=\"PINCER_SECRETS_DIR=/etc/pincer/env\"\n"));
    let gateway = unit(&files, Process::Gateway);
    assert!(gateway.contains("MemoryMax=128M\n"), "{gateway}");
    assert!(
        !gateway.contains("ReadWritePaths="),
        "the gateway writes nothing: {gateway}"
    );
}

#[test]
fn a_user_install_runs_as_the_user_and_reads_its_home() {
    let mut user = inputs(Scope::User);
    user.config = PathBuf::from("/home/me/.pincer/pincer.json5");
    let files = unit_files(&user).unwrap();
    for process in Process::ALL {
        let text = unit(&files, process);
        assert!(!text.contains("User="), "{text}");
        assert!(!text.contains("StateDirectory="), "{text}");
        assert!(text.contains("ProtectHome=read-only\n"), "{text}");
    }
    let target = &files.last().unwrap().text;
    assert!(target.contains("WantedBy=default.target\n"), "{target}");
    assert!(target.contains("X-Pincer-Config=/home/me/.pincer/pincer.json5\n"));
    // A system install whose config lives in a home directory must still read it.
    let mut system = inputs(Scope::System);
    system.config = PathBuf::from("/root/pincer/pincer.json5");
    let files = unit_files(&system).unwrap();
    assert!(unit(&files, Process::Gateway).contains("ProtectHome=read-only\n"));
}

#[test]
fn paths_a_unit_cannot_hold_are_refused() {
    let mut relative = inputs(Scope::User);
    relative.bin_dir = PathBuf::from("target/release");
    let error = unit_files(&relative).unwrap_err();
    assert!(error.contains("not an absolute path"), "{error}");
    let mut newline = inputs(Scope::User);
    newline.config = PathBuf::from("/etc/pincer/a\nExecStartPre=/bin/sh");
    let error = unit_files(&newline).unwrap_err();
    assert!(error.contains("control character"), "{error}");
}

#[test]
fn no_secret_is_written_into_a_unit() {
    let files = unit_files(&inputs(Scope::System)).unwrap();
    for process in Process::ALL {
        let text = unit(&files, process);
        for (name, source) in environment::passed(process) {
            assert!(!text.contains(&format!("\"{name}=")), "{name} in {text}");
            assert!(
                !text.contains(&format!("\"{source}=")),
                "{source} in {text}"
            );
        }
    }
}

/// The variable names compose.yml gives `service`'s container (its `environment:`, with the
/// `x-common-env` block when it merges it).
fn compose_environment(service: &str) -> BTreeSet<String> {
    let compose =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../compose.yml"))
            .expect("compose.yml");
    let block = |start: &str, indent: usize| -> Vec<String> {
        let mut lines = compose.lines().skip_while(|line| *line != start).skip(1);
        let mut out = Vec::new();
        for line in lines.by_ref() {
            let depth = line.len() - line.trim_start().len();
            if !line.trim().is_empty() && depth <= indent {
                break;
            }
            out.push(line.trim().to_owned());
        }
        out
    };
    let names = |lines: &[String]| -> BTreeSet<String> {
        lines
            .iter()
            .filter_map(|line| line.split_once(':').map(|(name, _)| name))
            .filter(|name| {
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            })
            .map(str::to_owned)
            .collect()
    };
    let own = block(&format!("  {service}:"), 2);
    assert!(!own.is_empty(), "no service {service} in compose.yml");
    let mut all = names(&own);
    if own.iter().any(|line| line == "<<: *common-env") {
        all.extend(names(&block("x-common-env: &common-env", 0)));
    }
    all
}

#[test]
fn each_unit_gets_the_variables_compose_gives_its_container() {
    let files = unit_files(&inputs(Scope::System)).unwrap();
    // Compose's containers listen on their network (`lan`); natively the config's bind applies.
    // (LOG_FORMAT is in both: compose sets json, a unit passes on what `.env` sets, else the
    // journal gets text.)
    let compose_only = ["PINCER_GATEWAY_BIND"];
    // Natively only: what compose's images and networks give implicitly (the NATS image's Go
    // limits, fixed service addresses), where the tool host's state lives, which paths it hides
    // from its children, and the port the gateway listens on.
    let native_only = [
        "GOMEMLIMIT",
        "GOMAXPROCS",
        "PINCER_AGENT_RUNNER_HEALTH_LISTEN",
        "PINCER_CHANNEL_BRIDGE_HEALTH_LISTEN",
        "PINCER_TOOL_STATE",
        "PINCER_SECRETS_DIR",
        "PINCER_GATEWAY_PORT",
    ];
    for process in Process::ALL {
        let text = unit(&files, process);
        let mut native: BTreeSet<String> = text
            .lines()
            .filter_map(|line| line.strip_prefix("Environment=\""))
            .filter_map(|assignment| assignment.split_once('=').map(|(name, _)| name.to_owned()))
            .collect();
        native.extend(
            environment::passed(process)
                .into_iter()
                .map(|(name, _)| name.to_owned()),
        );
        // NATS reads its passwords under their own names (compose: `&nats-passwords`).
        let compose: BTreeSet<String> = compose_environment(process.name())
            .into_iter()
            .filter(|name| !compose_only.contains(&name.as_str()))
            .collect();
        let native: BTreeSet<String> = native
            .into_iter()
            .filter(|name| !native_only.contains(&name.as_str()))
            .collect();
        assert_eq!(
            native,
            compose,
            "{}: units and compose.yml differ",
            process.name()
        );
    }
}
