//! A `tools/call` result as text for the model.

use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};

/// Longest result handed to the model; the rest is cut with a visible marker.
pub const MAX_RESULT_CHARS: usize = 32_000;

/// Text blocks in order, other content summarised, `structuredContent` when there is no text
/// (its binary data summarised too); bounded by [`MAX_RESULT_CHARS`].
pub(crate) fn render(result: &CallToolResult) -> String {
    let mut parts: Vec<String> = result.content.iter().map(block).collect();
    let has_text = result
        .content
        .iter()
        .any(|b| matches!(b, ContentBlock::Text(_)));
    if !has_text && let Some(structured) = &result.structured_content {
        let mut structured = structured.clone();
        summarise_binary(&mut structured);
        parts.insert(0, structured.to_string());
    }
    if parts.is_empty() {
        return "(no output)".to_owned();
    }
    truncate(parts.join("\n"), MAX_RESULT_CHARS)
}

fn block(block: &ContentBlock) -> String {
    match block {
        ContentBlock::Text(text) => text.text.clone(),
        ContentBlock::Image(image) => {
            format!(
                "[image {}, {} bytes]",
                image.mime_type,
                base64_len(&image.data)
            )
        }
        ContentBlock::Audio(audio) => {
            format!(
                "[audio {}, {} bytes]",
                audio.mime_type,
                base64_len(&audio.data)
            )
        }
        ContentBlock::Resource(embedded) => match &embedded.resource {
            ResourceContents::TextResourceContents { uri, text, .. } => {
                format!("[resource {uri}]\n{text}")
            }
            ResourceContents::BlobResourceContents {
                uri,
                mime_type,
                blob,
                ..
            } => format!(
                "[resource {uri} {}, {} bytes]",
                mime_type.as_deref().unwrap_or("application/octet-stream"),
                base64_len(blob)
            ),
            _ => "[resource]".to_owned(),
        },
        ContentBlock::ResourceLink(link) => format!("[resource link {} <{}>]", link.name, link.uri),
        _ => "[unsupported content]".to_owned(),
    }
}

/// Strings this long made only of base64's characters are binary data, not words.
const BINARY_MIN_CHARS: usize = 256;

/// Replaces the base64 strings in `value` with their size: servers such as the reference
/// filesystem server repeat their image and blob blocks in `structuredContent`, which would
/// otherwise hand the model tens of thousands of characters of base64 (and push the blocks'
/// summaries past the cut).
fn summarise_binary(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(text) if looks_like_base64(text) => {
            *text = format!("[base64 data, {} bytes]", base64_len(text));
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(summarise_binary),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(summarise_binary),
        _ => {}
    }
}

fn looks_like_base64(text: &str) -> bool {
    text.len() >= BINARY_MIN_CHARS
        && text
            .trim_end_matches('=')
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_'))
}

/// Decoded size of base64 `data`.
fn base64_len(data: &str) -> usize {
    let data = data.trim_end();
    let padding = data.bytes().rev().take_while(|b| *b == b'=').count();
    (data.len() / 4 * 3 + (data.len() % 4).saturating_sub(1)).saturating_sub(padding)
}

/// `text` cut to `max` characters with a marker saying how much was left out.
pub(crate) fn truncate(text: String, max: usize) -> String {
    let Some((cut, _)) = text.char_indices().nth(max) else {
        return text;
    };
    let dropped = text[cut..].chars().count();
    let mut out = text[..cut].to_owned();
    out.push_str(&format!("\n[... truncated: {dropped} more characters]"));
    out
}

#[cfg(test)]
mod tests {
    use rmcp::model::{Resource, ResourceContents};
    use serde_json::json;

    use super::*;

    #[test]
    fn text_is_joined_and_other_content_summarised() {
        let result = CallToolResult::success(vec![
            ContentBlock::text("one"),
            ContentBlock::image("iVBORw0KGgo=", "image/png"),
            ContentBlock::text("two"),
            ContentBlock::resource(ResourceContents::text("body", "file:///a.txt")),
            ContentBlock::resource_link(Resource::new("file:///b", "b")),
        ]);
        assert_eq!(
            render(&result),
            "one\n[image image/png, 8 bytes]\ntwo\n[resource file:///a.txt]\nbody\n[resource link b <file:///b>]"
        );
    }

    #[test]
    fn structured_content_when_there_is_no_text() {
        let mut result = CallToolResult::success(Vec::new());
        assert_eq!(render(&result), "(no output)");
        result.structured_content = Some(json!({"answer": 42}));
        assert_eq!(render(&result), r#"{"answer":42}"#);
        result.content.push(ContentBlock::text("42"));
        assert_eq!(render(&result), "42", "text wins over structured content");
    }

    #[test]
    fn binary_data_in_structured_content_is_summarised() {
        let blob = "QUJD".repeat(100);
        let mut result = CallToolResult::success(vec![ContentBlock::image(&blob, "image/png")]);
        result.structured_content = Some(json!({
            "content": [{"type": "image", "data": blob, "mimeType": "image/png"}],
            "note": "a short string stays",
        }));
        assert_eq!(
            render(&result),
            r#"{"content":[{"data":"[base64 data, 300 bytes]","mimeType":"image/png","type":"image"}],"note":"a short string stays"}"#.to_owned()
                + "\n[image image/png, 300 bytes]"
        );
        // Long prose is not binary.
        let words = "a few words ".repeat(40);
        let mut value = json!({ "text": words });
        summarise_binary(&mut value);
        assert_eq!(value["text"], words.as_str());
    }

    #[test]
    fn long_results_are_cut_with_a_marker() {
        assert_eq!(truncate("héllo".to_owned(), 10), "héllo");
        assert_eq!(
            truncate("héllo wörld".to_owned(), 5),
            "héllo\n[... truncated: 6 more characters]"
        );
        let big =
            CallToolResult::success(vec![ContentBlock::text("x".repeat(MAX_RESULT_CHARS + 5))]);
        let text = render(&big);
        assert!(
            text.ends_with("[... truncated: 5 more characters]"),
            "{}",
            &text[text.len() - 60..]
        );
        assert!(text.chars().count() < MAX_RESULT_CHARS + 60);
    }

    #[test]
    fn base64_sizes() {
        assert_eq!(base64_len(""), 0);
        assert_eq!(base64_len("QQ=="), 1);
        assert_eq!(base64_len("QUI="), 2);
        assert_eq!(base64_len("QUJD"), 3);
    }
}
