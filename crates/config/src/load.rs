//! The loading pipeline: read, parse JSON5, substitute `${VAR}`, deserialize strictly, check.

use std::path::Path;

use serde_json::Value;

use crate::error::Error;
use crate::schema::Config;
use crate::scope::Scope;

/// Reads and loads the config file at `path`; the file name is the error origin.
///
/// A missing or unreadable file is an [`Error::Io`] naming the path.
pub fn load_file(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    scope: Scope,
) -> Result<Config, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_str(&text, &path.display().to_string(), env, scope)
}

/// Loads config `text`; `origin` (usually the file name) starts every error message.
///
/// `env` looks up `${VAR}`s ([`crate::process_env`] for the real environment). Missing variables
/// and semantic problems are errors only inside `scope`; unknown keys and wrong types are errors
/// anywhere in the file.
pub fn parse_str(
    text: &str,
    origin: &str,
    env: &dyn Fn(&str) -> Option<String>,
    scope: Scope,
) -> Result<Config, Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut document: Value = json5::from_str(text).map_err(|err| syntax(&err, origin))?;
    let substitution = crate::env::substitute(&mut document, env, scope, origin)?;
    let config: Config = serde_path_to_error::deserialize(crate::strict::Strict(document))
        .map_err(|err| crate::invalid::invalid(&err, origin, &substitution))?;
    crate::validate::check(&config, scope, origin)?;
    Ok(config)
}

fn syntax(err: &json5::Error, origin: &str) -> Error {
    let full = err.to_string();
    let position = err.position();
    let message = position
        .and_then(|pos| full.strip_suffix(&format!(" at {pos}")))
        .unwrap_or(&full)
        .to_owned();
    Error::Syntax {
        origin: origin.to_owned(),
        message,
        line: position.map(|pos| pos.line + 1),
        column: position.map(|pos| pos.column + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::gateway::{AuthMode, Bind};

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse(text: &str) -> Result<Config, Error> {
        parse_str(text, "pincer.json5", &no_env, Scope::All)
    }

    fn invalid(text: &str) -> (String, String, Option<String>, String) {
        match parse(text).expect_err("invalid") {
            err @ Error::Invalid { .. } => {
                let line = err.to_string();
                let Error::Invalid {
                    path,
                    message,
                    suggestion,
                    ..
                } = err
                else {
                    unreachable!()
                };
                (path, message, suggestion, line)
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn json5_syntax_is_accepted() {
        let config = parse(
            "// comment\n{\n  gateway: { port: 9000, bind: 'lan', }, /* block */\n  $schema: 'x',\n}\n",
        )
        .expect("json5");
        assert_eq!(config.gateway.port, 9000);
        assert_eq!(config.gateway.bind, Bind::Lan);
        assert_eq!(config.schema.as_deref(), Some("x"));
    }

    #[test]
    fn empty_object_is_all_defaults() {
        assert_eq!(parse("{}").expect("empty"), Config::default());
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let err = parse("{\n  gateway: {\n    port: 1\n    bind: 'lan'\n  }\n}")
            .expect_err("missing comma");
        match &err {
            Error::Syntax {
                origin,
                line,
                column,
                message,
            } => {
                assert_eq!(origin, "pincer.json5");
                assert_eq!(*line, Some(4), "{err}");
                assert!(column.is_some());
                assert!(!message.contains(" at line"), "{message}");
            }
            other => panic!("expected Syntax, got {other:?}"),
        }
        assert!(err.to_string().starts_with("pincer.json5:4:"), "{err}");
    }

    #[test]
    fn unknown_key_suggests_nearest() {
        let (path, message, suggestion, line) = invalid(r#"{"gateway": {"auht": {}}}"#);
        assert_eq!(path, "gateway.auht");
        assert_eq!(message, "unknown key");
        assert_eq!(suggestion.as_deref(), Some("auth"));
        assert_eq!(
            line,
            "pincer.json5: unknown key `gateway.auht`; did you mean `auth`?"
        );

        let (path, _, suggestion, line) = invalid(r#"{gateway: {auth: {mdoe: "token"}}}"#);
        assert_eq!(path, "gateway.auth.mdoe");
        assert_eq!(suggestion.as_deref(), Some("mode"));
        assert_eq!(
            line,
            "pincer.json5: unknown key `gateway.auth.mdoe`; did you mean `mode`?"
        );
    }

    #[test]
    fn unknown_key_without_close_match_lists_keys() {
        let (path, _, suggestion, line) = invalid(r#"{"tailscale": {"zzzzzzzz": 1}}"#);
        assert_eq!(path, "tailscale.zzzzzzzz");
        assert_eq!(suggestion, None);
        assert_eq!(
            line,
            "pincer.json5: unknown key `tailscale.zzzzzzzz`; valid keys: `mode`, `resetOnExit`"
        );
    }

    #[test]
    fn unknown_top_level_and_nested_array_keys() {
        let (path, _, suggestion, _) = invalid(r#"{"model": {}}"#);
        assert_eq!(path, "model");
        assert_eq!(suggestion.as_deref(), Some("models"));
        let (path, _, suggestion, _) = invalid(
            r#"{"models": {"providers": {"o": {"models": [{"id": "a"}, {"id": "b", "contextWindw": 1}]}}}}"#,
        );
        assert_eq!(path, "models.providers.o.models[1].contextWindw");
        assert_eq!(suggestion.as_deref(), Some("contextWindow"));
        let (path, _, suggestion, _) = invalid(
            r#"{agents: {defaults: {memorySearch: {provider: "ollama", modle: "nomic-embed-text"}}}}"#,
        );
        assert_eq!(path, "agents.defaults.memorySearch.modle");
        assert_eq!(suggestion.as_deref(), Some("model"));
    }

    #[test]
    fn wrong_type_names_path() {
        let (path, message, _, line) = invalid(r#"{"gateway": {"port": "abc"}}"#);
        assert_eq!(path, "gateway.port");
        assert_eq!(message, "invalid type: string \"abc\", expected u16");
        assert_eq!(
            line,
            "pincer.json5: `gateway.port`: invalid type: string \"abc\", expected u16"
        );
        let (path, message, _, _) = invalid(r#"{"gateway": {"port": 70000}}"#);
        assert_eq!(path, "gateway.port");
        assert!(message.contains("70000"), "{message}");
    }

    #[test]
    fn bad_bind_lists_options_and_suggests() {
        let (path, message, suggestion, _) = invalid(r#"{"gateway": {"bind": "lna"}}"#);
        assert_eq!(path, "gateway.bind");
        for option in ["loopback", "lan", "tailnet", "custom", "auto", "IP address"] {
            assert!(message.contains(option), "{message}");
        }
        assert_eq!(suggestion.as_deref(), Some("lan"));
    }

    #[test]
    fn bad_enum_value_suggests() {
        let (path, _, suggestion, _) = invalid(r#"{"gateway": {"auth": {"mode": "tokne"}}}"#);
        assert_eq!(path, "gateway.auth.mode");
        assert_eq!(suggestion.as_deref(), Some("token"));
        let (path, message, _, _) =
            invalid(r#"{"models": {"providers": {"x": {"api": "bedrock-converse"}}}}"#);
        assert_eq!(path, "models.providers.x.api");
        assert!(message.contains("anthropic-messages"), "{message}");
    }

    #[test]
    fn dollar_schema_allowed_at_top_only() {
        parse(r#"{"$schema": "https://example.com/schema.json"}"#).expect("top-level $schema");
        let (path, ..) = invalid(r#"{"gateway": {"$schema": "x"}}"#);
        assert_eq!(path, "gateway.$schema");
    }

    #[test]
    fn escape_yields_literal() {
        let env = |name: &str| (name == "HOST").then(|| "h".to_owned());
        let config = parse_str(
            r#"{"gateway": {"customBindHost": "$${HOST}-${HOST}"}}"#,
            "p",
            &env,
            Scope::All,
        )
        .expect("ok");
        assert_eq!(
            config.gateway.custom_bind_host.as_deref(),
            Some("${HOST}-h")
        );
    }

    #[test]
    fn missing_var_names_path_and_var_in_scope_only() {
        let text =
            r#"{"models": {"providers": {"openrouter": {"apiKey": "${OPENROUTER_API_KEY}"}}}}"#;
        let err = parse(text).expect_err("missing");
        assert_eq!(
            err.to_string(),
            "pincer.json5: `models.providers.openrouter.apiKey`: environment variable `OPENROUTER_API_KEY` is not set"
        );
        let config = parse_str(text, "p", &no_env, Scope::Sections(&["gateway", "agents"]))
            .expect("out of scope");
        let key = config.models.providers["openrouter"]
            .api_key
            .as_ref()
            .expect("kept");
        assert_eq!(key.expose(), "${OPENROUTER_API_KEY}");
    }

    #[test]
    fn unresolved_out_of_scope_value_explains_type_error() {
        let (path, message, ..) = match parse_str(
            r#"{"gateway": {"bind": "${GATEWAY_BIND}"}}"#,
            "p",
            &no_env,
            Scope::Sections(&["models"]),
        ) {
            Err(Error::Invalid {
                path,
                message,
                suggestion,
                ..
            }) => (path, message, suggestion),
            other => panic!("expected Invalid, got {other:?}"),
        };
        assert_eq!(path, "gateway.bind");
        assert!(message.contains("unresolved ${GATEWAY_BIND}"), "{message}");
    }

    #[test]
    fn secrets_never_printed() {
        let token = "tok-0123456789abcdef-SECRET";
        let env = |name: &str| (name == "TG").then(|| "tg-bot-token-SECRET-987654".to_owned());
        let config = parse_str(
            &format!(
                r#"{{"gateway": {{"auth": {{"mode": "token", "token": "{token}", "password": "pw-SECRET-pass"}}}},
                    "models": {{"providers": {{"x": {{"apiKey": "sk-SECRET-key"}}}}}},
                    "channels": {{"telegram": {{"botToken": "${{TG}}", "webhookSecret": "wh-SECRET-1"}}}}}}"#
            ),
            "p",
            &env,
            Scope::All,
        )
        .expect("valid");
        let debug = format!("{config:?}");
        let json = serde_json::to_string(&config).expect("serializes");
        for shown in [debug, json] {
            assert!(!shown.contains("SECRET"), "{shown}");
            assert!(shown.contains("***"), "{shown}");
        }
        assert_eq!(config.gateway.auth.mode, Some(AuthMode::Token));
        assert_eq!(
            config.gateway.auth.token.as_ref().map(|t| t.expose()),
            Some(token)
        );
    }

    #[test]
    fn wrong_typed_secret_not_echoed() {
        let (path, message, _, line) =
            invalid(r#"{"models": {"providers": {"x": {"apiKey": 12345678}}}}"#);
        assert_eq!(path, "models.providers.x.apiKey");
        assert!(message.contains("expected a string"), "{message}");
        assert!(!line.contains("12345678"), "{line}");
        let (_, _, _, line) = invalid(r#"{"gateway": {"auth": {"token": ["s3cr3t-in-a-list"]}}}"#);
        assert!(!line.contains("s3cr3t"), "{line}");
    }

    #[test]
    fn long_string_in_wrong_place_not_echoed() {
        let secret = "sk-or-v1-0123456789abcdef0123456789abcdef";
        let (path, _, _, line) = invalid(&format!(r#"{{"gateway": {{"port": "{secret}"}}}}"#));
        assert_eq!(path, "gateway.port");
        assert!(
            !line.contains(secret) && !line.contains("0123456789"),
            "{line}"
        );
        let (_, _, _, line) = invalid(&format!(
            r#"{{"gateway": {{"auth": {{"mode": "{secret}"}}}}}}"#
        ));
        assert!(!line.contains("0123456789"), "{line}");
        let (_, _, _, line) = invalid(&format!(r#"{{"gateway": {{"auth": "{secret}"}}}}"#));
        assert!(!line.contains("0123456789"), "{line}");
    }

    #[test]
    fn env_value_in_wrong_place_not_echoed() {
        let env = |name: &str| (name == "K").then(|| "short-SECRET".to_owned());
        let err = parse_str(r#"{"gateway": {"bind": "${K}"}}"#, "p", &env, Scope::All)
            .expect_err("not a bind");
        assert!(!err.to_string().contains("SECRET"), "{err}");
    }

    #[test]
    fn semantic_errors_surface() {
        let err = parse(r#"{"agents": {"defaults": {"model": "gpt-4o"}}}"#).expect_err("bad ref");
        assert!(matches!(err, Error::Semantic { .. }), "{err:?}");
        assert_eq!(err.path(), Some("agents.defaults.model"));
    }

    #[test]
    fn non_object_document_is_invalid() {
        let (path, message, ..) = invalid("[1, 2]");
        assert_eq!(path, ".");
        assert!(message.contains("expected an object"), "{message}");
        let (path, message, ..) = invalid(r#"{"tailscale": ["on", false]}"#);
        assert_eq!(path, "tailscale");
        assert!(message.contains("expected an object"), "{message}");
    }

    #[test]
    fn load_file_missing_names_path() {
        let path = Path::new("/definitely/not/here/pincer.json5");
        let err = load_file(path, &no_env, Scope::All).expect_err("missing file");
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("/definitely/not/here/pincer.json5"),
            "{err}"
        );
    }

    #[test]
    fn process_env_reads_environment() {
        assert!(crate::process_env("PATH").is_some());
        assert_eq!(
            crate::process_env("PINCER_CONFIG_SURELY_UNSET_VAR_42"),
            None
        );
    }
}
