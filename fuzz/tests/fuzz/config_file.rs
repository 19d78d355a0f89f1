//! Config files as every service loads them, and the edits `pincer config set|unset` and
//! `config.patch` make to them: any text loads or fails naming the file, and an edit that succeeds
//! leaves exactly the value asked for.

use std::sync::LazyLock;

use pincer_config::edit::{Step, get, set, unset};
use pincer_config::{Scope, parse_str};
use pincer_fuzz::Target;
use proptest::prelude::*;
use serde_json::{Value, json};

static TARGET: LazyLock<Target> = LazyLock::new(|| {
    Target::load(
        "config_file",
        &[
            "// comment\n",
            "/* block */",
            "${",
            "${OPENROUTER_API_KEY}",
            "${MISSING",
            "gateway:",
            "agents:",
            "models:",
            "providers:",
            "channels:",
            "telegram:",
            "mcp:",
            "tools:",
            "'single'",
            "+1",
            ".5",
            "Infinity",
            "NaN",
            "0x1F",
            "\"\\u{1F980}\"",
            "trailing,",
        ],
    )
});

fn env(name: &str) -> Option<String> {
    (!name.starts_with("MISSING")).then(|| format!("value-of-{name}"))
}

/// The paths edits are tried at.
fn paths() -> Vec<Vec<Step>> {
    let key = |k: &str| Step::Key(k.to_owned());
    vec![
        vec![key("gateway"), key("port")],
        vec![key("agents"), key("defaults"), key("model")],
        vec![
            key("models"),
            key("providers"),
            key("ollama"),
            key("models"),
            Step::Index(0),
        ],
        vec![key("new.key")],
    ]
}

fn check(text: &str) -> Result<(), String> {
    if let Err(error) = parse_str(text, "fuzz.json5", &env, Scope::All) {
        let message = error.to_string();
        if !message.starts_with("fuzz.json5") {
            return Err(format!("error without the file name: {message}"));
        }
    }
    let value = json!({ "set": ["by", "fuzz"], "n": 1 });
    for path in paths() {
        if let Ok(edited) = set(text, &path, &value)
            && get(&edited.text, &path) != Ok(Some(value.clone()))
        {
            return Err(format!("set {path:?} left {:?}", get(&edited.text, &path)));
        }
        if let Ok(edited) = unset(text, &path) {
            // An element's removal moves the next one up: count the array instead.
            let (parent, last) = path.split_at(path.len() - 1);
            let gone = match last {
                [Step::Index(_)] => {
                    let len = |text: &str| {
                        get(text, parent)
                            .ok()
                            .flatten()
                            .and_then(|v| v.as_array().map(Vec::len))
                    };
                    len(&edited.text).map(|n| n + 1) == len(text)
                }
                _ => get(&edited.text, &path) == Ok(None),
            };
            if !gone {
                return Err(format!(
                    "unset {path:?} left {:?}",
                    get(&edited.text, &path)
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn the_corpus_is_read_as_written() {
    for (name, bytes) in TARGET.entries("ok-") {
        let text = std::str::from_utf8(bytes).expect(name);
        parse_str(text, "fuzz.json5", &env, Scope::All).unwrap_or_else(|e| panic!("{name}: {e}"));
        check(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        // An edit keeps comments where the file has them.
        let edited = set(text, &paths()[0], &Value::from(18790)).expect(name);
        assert!(!edited.rewritten, "{name} was rewritten");
    }
    for (name, bytes) in TARGET.entries("err-") {
        let text = std::str::from_utf8(bytes).expect(name);
        let error = parse_str(text, "fuzz.json5", &env, Scope::All).err();
        let error = error
            .unwrap_or_else(|| panic!("{name} accepted"))
            .to_string();
        assert!(error.starts_with("fuzz.json5"), "{name}: {error}");
    }
}

proptest! {
    #![proptest_config(TARGET.config())]

    #[test]
    fn mutated_configs_load_or_fail_by_name(bytes in TARGET.inputs()) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(broken) = check(&text) {
            prop_assert!(false, "{broken}");
        }
    }
}
