//! Web API arguments: Slack takes them as a JSON body, a form body or the query string, so values
//! arrive typed (JSON) or as strings (forms); the readers accept both.

use serde_json::{Map, Value};

/// The arguments of a call: query parameters, overridden by the body's.
pub fn parse(
    content_type: Option<&str>,
    query: Option<&str>,
    body: &[u8],
) -> Result<Map<String, Value>, String> {
    let mut params = Map::new();
    for (key, value) in form_pairs(query.unwrap_or_default()) {
        params.insert(key, Value::String(value));
    }
    let is_json = content_type.is_some_and(|t| t.contains("json"))
        || body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(params);
    }
    if is_json {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(object)) => params.extend(object),
            _ => return Err("invalid_json".to_owned()),
        }
    } else {
        let text = std::str::from_utf8(body).map_err(|_| "invalid_form_data".to_owned())?;
        for (key, value) in form_pairs(text) {
            params.insert(key, Value::String(value));
        }
    }
    Ok(params)
}

/// `a=1&b=x+y` as decoded pairs.
pub fn form_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

/// Decodes `%XX` escapes and `+` (a space in forms); malformed escapes stay as they are.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, byte) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A string argument (numbers are written out).
pub fn string(params: &Map<String, Value>, key: &str) -> Option<String> {
    match params.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A non-empty string argument.
pub fn non_empty(params: &Map<String, Value>, key: &str) -> Option<String> {
    string(params, key).filter(|s| !s.is_empty())
}

/// A boolean argument: `true`, `"true"`, `1` or `"1"`.
pub fn boolean(params: &Map<String, Value>, key: &str) -> Option<bool> {
    match params.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => Some(n.as_u64() != Some(0)),
        Value::String(s) => Some(matches!(s.as_str(), "true" | "1")),
        _ => None,
    }
}

/// An integer argument.
pub fn integer(params: &Map<String, Value>, key: &str) -> Option<u64> {
    match params.get(key)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A JSON argument given as JSON or as a string holding JSON (how forms carry `metadata`).
pub fn json(params: &Map<String, Value>, key: &str) -> Option<Result<Value, ()>> {
    match params.get(key)? {
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(serde_json::from_str(s).map_err(|_| ())),
        Value::Null => None,
        other => Some(Ok(other.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_json_and_query_strings_are_read() {
        let form = parse(
            Some("application/x-www-form-urlencoded"),
            Some("limit=5"),
            b"channel=C1&text=a+b%20%E2%9C%93&metadata=%7B%22event_type%22%3A%22x%22%7D&bad=%zz",
        )
        .expect("form");
        assert_eq!(string(&form, "text").as_deref(), Some("a b \u{2713}"));
        assert_eq!(integer(&form, "limit"), Some(5));
        assert_eq!(
            json(&form, "metadata"),
            Some(Ok(serde_json::json!({ "event_type": "x" })))
        );
        assert_eq!(string(&form, "bad").as_deref(), Some("%zz"));
        let body = parse(None, None, br#"{"channel":"C1","mrkdwn":false}"#).expect("json");
        assert_eq!(boolean(&body, "mrkdwn"), Some(false));
        assert!(parse(Some("application/json"), None, b"{nope").is_err());
    }
}
