//! A string that never prints: API keys, tokens, passwords.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The redacted form printed and serialized in place of a secret.
pub(crate) const REDACTED: &str = "***";

/// A secret string (`apiKey`, `auth.token`, `auth.password`, `botToken`, `webhookSecret`).
///
/// `Debug`, `Display` and `Serialize` all produce `"***"`; read the value with [`Secret::expose`].
/// Deserializing a non-string reports only the kind of value found, never the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value itself; keep it out of logs.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is the empty string.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{REDACTED}\"")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl schemars::JsonSchema for Secret {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Secret".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A secret; write a ${VAR} reference and keep the value in .env"
        })
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecretVisitor)
    }
}

/// Accepts strings; every other kind is rejected without echoing the value.
struct SecretVisitor;

fn wrong<E: de::Error>(kind: &str) -> E {
    E::custom(format_args!(
        "invalid type: {kind}, expected a string (value not shown: secret field)"
    ))
}

impl<'de> Visitor<'de> for SecretVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a secret string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Secret, E> {
        Ok(Secret(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Secret, E> {
        Ok(Secret(v))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Secret, E> {
        Err(wrong("boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Secret, E> {
        Err(wrong("integer"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Secret, E> {
        Err(wrong("integer"))
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<Secret, E> {
        Err(wrong("integer"))
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Secret, E> {
        Err(wrong("integer"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Secret, E> {
        Err(wrong("number"))
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Secret, E> {
        Err(wrong("bytes"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Secret, E> {
        Err(wrong("null"))
    }

    fn visit_none<E: de::Error>(self) -> Result<Secret, E> {
        Err(wrong("null"))
    }

    fn visit_some<D: Deserializer<'de>>(self, _: D) -> Result<Secret, D::Error> {
        Err(wrong("option"))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Secret, A::Error> {
        Err(wrong("array"))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Secret, A::Error> {
        Err(wrong("object"))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<Secret, A::Error> {
        Err(wrong("enum"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_display_and_serialize_are_redacted() {
        let secret = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{secret:?}"), "\"***\"");
        assert_eq!(secret.to_string(), "***");
        assert_eq!(
            serde_json::to_string(&secret).expect("serializes"),
            "\"***\""
        );
        assert_eq!(secret.expose(), "hunter2-very-secret");
    }

    #[test]
    fn deserializes_from_string_only_and_never_echoes() {
        let ok: Secret = serde_json::from_str("\"abc\"").expect("string is accepted");
        assert_eq!(ok.expose(), "abc");
        for bad in [
            "12345678",
            "true",
            "[\"s3cr3t-in-array\"]",
            "{\"k\":\"s3cr3t-in-map\"}",
        ] {
            let err = serde_json::from_str::<Secret>(bad)
                .expect_err("non-strings are rejected")
                .to_string();
            assert!(err.contains("expected a string"), "{err}");
            for leaked in ["12345678", "s3cr3t"] {
                assert!(!err.contains(leaked), "{err}");
            }
        }
    }
}
