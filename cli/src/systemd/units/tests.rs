use super::*;

fn gateway() -> Service {
    Service {
        description: "Pincer gateway".to_owned(),
        exec_start: vec!["/opt/pincer bin/pincer-gateway".to_owned()],
        environment: vec![
            (
                "PINCER_CONFIG".to_owned(),
                "/home/me/100% pincer/pincer.json5".to_owned(),
            ),
            (
                "PINCER_NATS_URL".to_owned(),
                "nats://127.0.0.1:4222".to_owned(),
            ),
        ],
        environment_files: vec![EnvironmentFile {
            path: "/home/me/.pincer/state/env/gateway.env".to_owned(),
            optional: false,
        }],
        requires: vec!["pincer-nats.service".to_owned()],
        wants: vec!["pincer-llm-router.service".to_owned()],
        part_of: "pincer.target".to_owned(),
        read_write_paths: vec!["/var/lib/pincer/work space".to_owned()],
        state_directories: Vec::new(),
        protect_home: ProtectHome::ReadOnly,
        memory_max: "128M".to_owned(),
        tasks_max: 64,
        user: None,
    }
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

#[test]
fn every_hardening_directive_is_there() {
    let text = render_service(&gateway());
    let lines = lines(&text);
    for directive in [
        "ProtectSystem=strict",
        "ProtectHome=read-only",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "RestrictSUIDSGID=yes",
        "MemoryMax=128M",
        "TasksMax=64",
        "Restart=on-failure",
        "PartOf=pincer.target",
        "Requires=pincer-nats.service",
        "After=pincer-nats.service",
        "Wants=pincer-llm-router.service",
        "After=pincer-llm-router.service",
        "EnvironmentFile=/home/me/.pincer/state/env/gateway.env",
    ] {
        assert!(lines.contains(&directive), "{directive} missing:\n{text}");
    }
    assert!(!text.contains("User="), "a user unit runs as its user");
    let home = render_service(&Service {
        protect_home: ProtectHome::Yes,
        user: Some("pincer".to_owned()),
        state_directories: vec!["pincer/nats".to_owned()],
        ..gateway()
    });
    let lines = self::lines(&home);
    for directive in [
        "ProtectHome=yes",
        "User=pincer",
        "Group=pincer",
        "StateDirectory=pincer/nats",
    ] {
        assert!(lines.contains(&directive), "{directive} missing:\n{home}");
    }
}

#[test]
fn spaces_percent_signs_and_dollars_are_escaped_where_systemd_reads_them() {
    let service = Service {
        exec_start: vec![
            "/opt/my bin/pincer-x".to_owned(),
            "-sd".to_owned(),
            "/srv/50%/$HOME".to_owned(),
            "say \"hi\"".to_owned(),
        ],
        environment_files: vec![EnvironmentFile {
            path: "/srv/a b/100%.env".to_owned(),
            optional: true,
        }],
        ..gateway()
    };
    let text = render_service(&service);
    let lines = lines(&text);
    assert!(
        lines.contains(&r#"ExecStart="/opt/my bin/pincer-x" -sd /srv/50%%/$$HOME "say \"hi\"""#),
        "{text}"
    );
    assert!(
        lines.contains(&r#"Environment="PINCER_CONFIG=/home/me/100%% pincer/pincer.json5""#),
        "{text}"
    );
    // EnvironmentFile= takes the rest of the line as one path: no quotes, only `%` doubled.
    assert!(
        lines.contains(&"EnvironmentFile=-/srv/a b/100%%.env"),
        "{text}"
    );
    assert!(
        lines.contains(&r#"ReadWritePaths="/var/lib/pincer/work space""#),
        "{text}"
    );
}

#[test]
fn words_are_quoted_only_when_they_must_be() {
    assert_eq!(exec_word("/usr/bin/nats-server"), "/usr/bin/nats-server");
    assert_eq!(exec_word("a;b"), "\"a;b\"");
    assert_eq!(exec_word(r"C:\x"), r#""C:\\x""#);
    assert_eq!(exec_word(""), "\"\"");
    assert_eq!(quoted_word("/a/b"), "/a/b");
    assert_eq!(quoted_word("/a b/%i"), "\"/a b/%%i\"");
    assert_eq!(
        environment_assignment("X", r#"a "b" \c"#),
        r#""X=a \"b\" \\c""#
    );
}

#[test]
fn the_target_wants_every_service_and_records_the_config() {
    let target = Target {
        description: "Pincer".to_owned(),
        wants: vec![
            "pincer-nats.service".to_owned(),
            "pincer-gateway.service".to_owned(),
        ],
        wanted_by: "default.target".to_owned(),
        config: "/home/me/a b/pincer.json5".to_owned(),
    };
    let text = render_target(&target);
    let lines = lines(&text);
    assert!(lines.contains(&"Wants=pincer-nats.service"), "{text}");
    assert!(lines.contains(&"Wants=pincer-gateway.service"), "{text}");
    assert!(lines.contains(&"WantedBy=default.target"), "{text}");
    assert_eq!(
        target_config(&text).as_deref(),
        Some("/home/me/a b/pincer.json5")
    );
    assert_eq!(target_config("[Unit]\nDescription=x\n"), None);
}
