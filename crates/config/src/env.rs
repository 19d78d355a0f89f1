//! `${VAR}` substitution in every string value of the parsed document.

use serde_json::Value;

use crate::error::Error;
use crate::scope::Scope;

/// Keys whose string values are secrets wherever they appear; their values are scrubbed from
/// error messages.
const SECRET_KEYS: &[&str] = &["apiKey", "token", "password", "botToken", "webhookSecret"];

/// Reads a variable from the process environment (`std::env::var`), for callers of
/// [`crate::parse_str`] and [`crate::load_file`].
#[must_use]
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// What substitution learned that later stages need.
#[derive(Debug, Default)]
pub(crate) struct Substitution {
    /// Values that must never be echoed in an error: everything inserted from the environment
    /// and every string under a secret key.
    pub sensitive: Vec<String>,
    /// Strings outside the scope left as-is because a variable is unset: `(path, vars)`.
    pub unresolved: Vec<(String, Vec<String>)>,
}

/// Substitutes `${VAR}` in every string of `value`, in place.
///
/// Inside `scope` an unset or empty variable is an [`Error::MissingVar`]; outside it the string is
/// left exactly as written and recorded in [`Substitution::unresolved`].
pub(crate) fn substitute(
    value: &mut Value,
    env: &dyn Fn(&str) -> Option<String>,
    scope: Scope,
    origin: &str,
) -> Result<Substitution, Error> {
    let mut walk = Walk {
        env,
        origin,
        scope,
        out: Substitution::default(),
    };
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                walk.visit(
                    child,
                    key.clone(),
                    scope.includes(key),
                    SECRET_KEYS.contains(&&**key),
                )?;
            }
        }
        other => walk.visit(other, String::new(), matches!(scope, Scope::All), false)?,
    }
    Ok(walk.out)
}

struct Walk<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    origin: &'a str,
    scope: Scope,
    out: Substitution,
}

impl Walk<'_> {
    fn visit(
        &mut self,
        value: &mut Value,
        path: String,
        in_scope: bool,
        secret: bool,
    ) -> Result<(), Error> {
        match value {
            Value::String(text) => {
                let expanded = expand(text, self.env);
                if let Some(var) = expanded.missing.first() {
                    if in_scope {
                        return Err(Error::MissingVar {
                            origin: self.origin.to_owned(),
                            path,
                            var: var.clone(),
                        });
                    }
                    if secret {
                        self.out.sensitive.push(text.clone());
                    }
                    self.out.unresolved.push((path, expanded.missing));
                    return Ok(());
                }
                self.out.sensitive.extend(expanded.inserted);
                *text = expanded.text;
                if secret {
                    self.out.sensitive.push(text.clone());
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter_mut().enumerate() {
                    self.visit(item, format!("{path}[{index}]"), in_scope, secret)?;
                }
            }
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    let secret = SECRET_KEYS.contains(&&**key);
                    let in_scope = in_scope && !self.scope.unread(key);
                    self.visit(child, join(&path, key), in_scope, secret)?;
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
        Ok(())
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The result of expanding one string.
#[derive(Debug, PartialEq)]
struct Expanded {
    /// The string with set variables replaced (unset ones kept as written).
    text: String,
    /// Names of unset or empty variables, in order of appearance.
    missing: Vec<String>,
    /// Values inserted.
    inserted: Vec<String>,
}

/// Expands `${VAR}` (`VAR` matching `[A-Z_][A-Z0-9_]*`); `$${VAR}` is a literal `${VAR}`.
fn expand(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Expanded {
    let mut out = Expanded {
        text: String::with_capacity(text.len()),
        missing: Vec::new(),
        inserted: Vec::new(),
    };
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.text.push_str(&rest[..dollar]);
        let tail = &rest[dollar..];
        if let Some(len) = tail.strip_prefix('$').and_then(var_ref_len) {
            // `$${VAR}`: drop the first `$`, keep `${VAR}` literally.
            out.text.push_str(&tail[1..=len]);
            rest = &tail[1 + len..];
        } else if let Some(len) = var_ref_len(tail) {
            let name = &tail[2..len - 1];
            match env(name).filter(|value| !value.is_empty()) {
                Some(value) => {
                    out.text.push_str(&value);
                    out.inserted.push(value);
                }
                None => {
                    out.text.push_str(&tail[..len]);
                    out.missing.push(name.to_owned());
                }
            }
            rest = &tail[len..];
        } else {
            out.text.push('$');
            rest = &tail[1..];
        }
    }
    out.text.push_str(rest);
    out
}

/// Length of the `${NAME}` reference at the start of `s`, if there is one.
fn var_ref_len(s: &str) -> Option<usize> {
    let name = s.strip_prefix("${")?;
    let end = name.find('}')?;
    let name = &name[..end];
    let mut chars = name.chars();
    let first = chars.next()?;
    let valid = (first.is_ascii_uppercase() || first == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    valid.then_some(2 + end + 1)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("example.com".into()),
            "PORT" => Some("8080".into()),
            "KEY" => Some("sk-live-123".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn text(s: &str) -> String {
        expand(s, &env).text
    }

    #[test]
    fn replaces_several_vars_keeping_surrounding_text() {
        assert_eq!(
            text("https://${HOST}:${PORT}/v1"),
            "https://example.com:8080/v1"
        );
        assert_eq!(text("${KEY}"), "sk-live-123");
        assert_eq!(text("no vars here $ at all"), "no vars here $ at all");
    }

    #[test]
    fn double_dollar_escapes_to_literal() {
        assert_eq!(text("$${HOST}"), "${HOST}");
        assert_eq!(
            text("a $${NOT_SET} b ${HOST}"),
            "a ${NOT_SET} b example.com"
        );
        assert!(expand("$${NOT_SET}", &env).missing.is_empty());
    }

    #[test]
    fn only_uppercase_names_are_references() {
        assert_eq!(
            text("${lower} ${1X} ${} ${A-B} ${UNCLOSED"),
            "${lower} ${1X} ${} ${A-B} ${UNCLOSED"
        );
        assert_eq!(text("${_UNDER_1}"), "${_UNDER_1}");
        assert_eq!(expand("${_UNDER_1}", &env).missing, vec!["_UNDER_1"]);
    }

    #[test]
    fn unset_and_empty_vars_are_missing() {
        let out = expand("${NOPE}-${EMPTY}-${HOST}", &env);
        assert_eq!(out.missing, vec!["NOPE", "EMPTY"]);
        assert_eq!(out.text, "${NOPE}-${EMPTY}-example.com");
    }

    #[test]
    fn missing_var_in_scope_names_path_and_var() {
        let mut doc = json!({"models": {"providers": {"openrouter": {"apiKey": "${NOPE}"}}}});
        let err = substitute(&mut doc, &env, Scope::All, "p.json5").expect_err("missing var");
        match err {
            Error::MissingVar { path, var, origin } => {
                assert_eq!(path, "models.providers.openrouter.apiKey");
                assert_eq!(var, "NOPE");
                assert_eq!(origin, "p.json5");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn array_paths_use_brackets() {
        let mut doc = json!({"gateway": {"trustedProxies": ["ok", "${NOPE}"]}});
        let err = substitute(&mut doc, &env, Scope::All, "p").expect_err("missing var");
        assert_eq!(err.path(), Some("gateway.trustedProxies[1]"));
    }

    #[test]
    fn keys_a_service_never_reads_may_stay_unresolved() {
        let mut doc = serde_json::json!({"channels": {"whatsapp": {
            "accessToken": "${WA_TOKEN}", "appSecret": "${WA_SECRET}"
        }}});
        let env = |name: &str| (name == "WA_TOKEN").then(|| "t".to_owned());
        let scope = Scope::SectionsExcept {
            sections: &["channels"],
            unread: &["appSecret"],
        };
        let out = substitute(&mut doc, &env, scope, "p").expect("appSecret is not read");
        assert_eq!(doc["channels"]["whatsapp"]["accessToken"], "t");
        assert_eq!(doc["channels"]["whatsapp"]["appSecret"], "${WA_SECRET}");
        assert_eq!(out.unresolved.len(), 1);
        let env = |_: &str| None;
        let mut doc = serde_json::json!({"channels": {"whatsapp": {"accessToken": "${WA_TOKEN}"}}});
        assert!(
            substitute(&mut doc, &env, scope, "p").is_err(),
            "the rest is checked"
        );
    }

    #[test]
    fn out_of_scope_strings_are_left_as_written() {
        let mut doc = json!({
            "models": {"providers": {"x": {"apiKey": "${NOPE}", "baseUrl": "$${HOST}/${NOPE}"}}},
            "gateway": {"customBindHost": "${HOST}"},
        });
        let out =
            substitute(&mut doc, &env, Scope::Sections(&["gateway"]), "p").expect("in scope ok");
        assert_eq!(doc["models"]["providers"]["x"]["apiKey"], "${NOPE}");
        assert_eq!(
            doc["models"]["providers"]["x"]["baseUrl"],
            "$${HOST}/${NOPE}"
        );
        assert_eq!(doc["gateway"]["customBindHost"], "example.com");
        assert_eq!(out.unresolved.len(), 2);
    }

    #[test]
    fn records_inserted_and_secret_values_as_sensitive() {
        let mut doc =
            json!({"gateway": {"auth": {"token": "literal-token"}, "customBindHost": "${KEY}"}});
        let out = substitute(&mut doc, &env, Scope::All, "p").expect("ok");
        assert!(out.sensitive.contains(&"literal-token".to_owned()));
        assert!(out.sensitive.contains(&"sk-live-123".to_owned()));
    }
}
