//! Config loading errors: one lowercase line each, naming the file and the key path.

use std::fmt::Write as _;
use std::path::PathBuf;

/// The `message` of an [`Error::Invalid`] for a key the schema does not know.
pub(crate) const UNKNOWN_KEY: &str = "unknown key";

/// Why a config file could not be loaded. No variant ever contains a secret value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Io {
        /// The file that was asked for.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The text is not valid JSON5.
    #[error("{origin}{}: syntax error: {message}", position(*line, *column))]
    Syntax {
        /// File name (or other label) of the text.
        origin: String,
        /// The parser's message, without position.
        message: String,
        /// 1-based line, when the parser reports one.
        line: Option<usize>,
        /// 1-based column, when the parser reports one.
        column: Option<usize>,
    },
    /// A `${VAR}` inside the validated scope is not set (or is empty).
    #[error("{origin}: `{path}`: environment variable `{var}` is not set")]
    MissingVar {
        /// File name (or other label) of the text.
        origin: String,
        /// Key path of the string, e.g. `models.providers.openrouter.apiKey`.
        path: String,
        /// The variable name.
        var: String,
    },
    /// An unknown key, a wrong type or a bad value.
    #[error("{origin}: {}", invalid_line(path, message, suggestion.as_deref()))]
    Invalid {
        /// File name (or other label) of the text.
        origin: String,
        /// Key path, e.g. `gateway.auth.mdoe` (`.` for the whole document).
        path: String,
        /// What is wrong; starts with `unknown key` for unknown keys (then lists valid keys when
        /// no suggestion is close enough).
        message: String,
        /// The nearest valid key or value, if one is close enough.
        suggestion: Option<String>,
    },
    /// Well-typed but inconsistent or unusable values.
    #[error("{origin}: `{path}`: {message}")]
    Semantic {
        /// File name (or other label) of the text.
        origin: String,
        /// Key path of the offending value.
        path: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

impl Error {
    /// The key path the error is about, if it is about a key.
    #[must_use]
    pub fn path(&self) -> Option<&str> {
        match self {
            Error::Io { .. } | Error::Syntax { .. } => None,
            Error::MissingVar { path, .. }
            | Error::Invalid { path, .. }
            | Error::Semantic { path, .. } => Some(path),
        }
    }

    /// Whether this is an unknown-key error.
    #[must_use]
    pub fn is_unknown_key(&self) -> bool {
        matches!(self, Error::Invalid { message, .. } if message.starts_with(UNKNOWN_KEY))
    }
}

fn position(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(":{line}:{column}"),
        (Some(line), None) => format!(":{line}"),
        _ => String::new(),
    }
}

fn invalid_line(path: &str, message: &str, suggestion: Option<&str>) -> String {
    let mut line = if let Some(rest) = message.strip_prefix(UNKNOWN_KEY) {
        format!("{UNKNOWN_KEY} `{path}`{rest}")
    } else {
        format!("`{path}`: {message}")
    };
    if let Some(suggestion) = suggestion {
        let _ = write!(line, "; did you mean `{suggestion}`?");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_line_names_path_and_suggestion() {
        let err = Error::Invalid {
            origin: "pincer.json5".into(),
            path: "gateway.auth.mdoe".into(),
            message: UNKNOWN_KEY.into(),
            suggestion: Some("mode".into()),
        };
        assert_eq!(
            err.to_string(),
            "pincer.json5: unknown key `gateway.auth.mdoe`; did you mean `mode`?"
        );
        assert!(err.is_unknown_key());
        assert_eq!(err.path(), Some("gateway.auth.mdoe"));
    }

    #[test]
    fn syntax_line_has_position_when_known() {
        let err = Error::Syntax {
            origin: "a.json5".into(),
            message: "expected comma".into(),
            line: Some(3),
            column: Some(7),
        };
        assert_eq!(err.to_string(), "a.json5:3:7: syntax error: expected comma");
        let err = Error::Syntax {
            origin: "a.json5".into(),
            message: "boom".into(),
            line: None,
            column: None,
        };
        assert_eq!(err.to_string(), "a.json5: syntax error: boom");
    }

    #[test]
    fn io_line_names_path() {
        let err = Error::Io {
            path: PathBuf::from("/nope/pincer.json5"),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert!(err.to_string().contains("/nope/pincer.json5"), "{err}");
        assert_eq!(err.path(), None);
    }
}
