//! `provider/model` references.

/// Splits a model reference at its FIRST `/` into `(provider, model)`.
///
/// `"openrouter/google/gemma-3-4b-it:free"` gives `("openrouter", "google/gemma-3-4b-it:free")`.
/// Returns `None` without a `/` or when either part is empty (after trimming whitespace).
#[must_use]
pub fn parse_model_ref(s: &str) -> Option<(&str, &str)> {
    let (provider, model) = s.split_once('/')?;
    if provider.trim().is_empty() || model.trim().is_empty() {
        return None;
    }
    Some((provider, model))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_first_slash() {
        assert_eq!(
            parse_model_ref("openrouter/google/gemma-3-4b-it:free"),
            Some(("openrouter", "google/gemma-3-4b-it:free"))
        );
        assert_eq!(
            parse_model_ref("ollama/llama3.1:8b"),
            Some(("ollama", "llama3.1:8b"))
        );
    }

    #[test]
    fn rejects_missing_or_empty_parts() {
        for bad in ["", "gpt-4o", "/gpt-4o", "openai/", " /x", "openai/ "] {
            assert_eq!(parse_model_ref(bad), None, "{bad:?}");
        }
    }
}
