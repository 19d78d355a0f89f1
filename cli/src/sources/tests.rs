use super::*;

fn with_files(config: &Path, files: &[(&Path, &str)]) -> Sources {
    Sources {
        config: Some(config.to_owned()),
        env_files: files
            .iter()
            .map(|(path, text)| (path.to_path_buf(), Some((*text).to_owned())))
            .collect(),
    }
}

#[test]
fn a_config_brings_its_own_env_file() {
    let home = tempfile::tempdir().unwrap();
    assert_eq!(
        own_env_file(&home.path().join("pincer.json5")),
        home.path().join(".env")
    );
    // A checkout's config/pincer.json5 belongs with the checkout's .env (compose reads it there).
    let checkout = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(checkout.path().join("config")).unwrap();
    std::fs::write(checkout.path().join("compose.yml"), "").unwrap();
    assert_eq!(
        own_env_file(&checkout.path().join("config/pincer.json5")),
        checkout.path().join(".env")
    );
    // Without compose.yml a `config` directory is just a directory.
    let plain = tempfile::tempdir().unwrap();
    assert_eq!(
        own_env_file(&plain.path().join("config/pincer.json5")),
        plain.path().join("config/.env")
    );
}

#[test]
fn the_configs_env_file_wins_over_the_working_directorys() {
    let dir = tempfile::tempdir().unwrap();
    let own = dir.path().join("own.env");
    let here = dir.path().join("here.env");
    let sources = with_files(
        &dir.path().join("pincer.json5"),
        &[
            (&own, "PINCER_TEST_SOURCES_A=own\n"),
            (
                &here,
                "PINCER_TEST_SOURCES_A=here\nPINCER_TEST_SOURCES_B='quoted'\n",
            ),
        ],
    );
    assert_eq!(
        sources.lookup("PINCER_TEST_SOURCES_A").as_deref(),
        Some("own")
    );
    assert_eq!(
        sources.lookup("PINCER_TEST_SOURCES_B").as_deref(),
        Some("quoted")
    );
    assert_eq!(sources.lookup("PINCER_TEST_SOURCES_C"), None);
    assert_eq!(sources.main_env_file(), own);
    let variables = sources.file_variables();
    assert!(
        variables.contains(&("PINCER_TEST_SOURCES_A".to_owned(), "own".to_owned())),
        "{variables:?}"
    );
    assert_eq!(
        variables
            .iter()
            .filter(|(name, _)| name == "PINCER_TEST_SOURCES_A")
            .count(),
        1
    );
    // The process environment wins over every file (PATH is always set).
    let path = with_files(
        &dir.path().join("pincer.json5"),
        &[(&own, "PATH=/nowhere\n")],
    );
    assert_ne!(path.lookup("PATH").as_deref(), Some("/nowhere"));
    assert!(path.file_variables().is_empty());
}

#[test]
fn an_explicit_env_file_comes_first_once() {
    let dir = tempfile::tempdir().unwrap();
    let own = dir.path().join(".env");
    std::fs::write(&own, "PINCER_TEST_SOURCES_D=explicit\n").unwrap();
    let sources = with_files(
        &dir.path().join("pincer.json5"),
        &[(&PathBuf::from("/nonexistent/.env"), ""), (&own, "stale")],
    )
    .with_env_file(Some(own.clone()));
    assert_eq!(sources.env_files.len(), 2);
    assert_eq!(sources.env_files[0].0, own);
    assert_eq!(
        sources.lookup("PINCER_TEST_SOURCES_D").as_deref(),
        Some("explicit")
    );
}

#[test]
fn env_values_ignore_comments_and_empty_ones() {
    let text = "# PINCER_X=commented\nPINCER_X=\nPINCER_Y = spaced\nPINCER_Z=\"a b\"\n";
    assert_eq!(env_value_in(text, "PINCER_X"), None);
    assert_eq!(env_value_in(text, "PINCER_Z").as_deref(), Some("a b"));
}
