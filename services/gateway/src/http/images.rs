//! Pictures in OpenAI requests (`{"type": "image_url", "image_url": {"url": "data:..."}}`): read
//! from the request, put in the media object store beside the channels' attachments, and handed
//! to the agent-runner as attachments, which saves them in the workspace and shows them to models
//! whose entry says `input: ["text", "image"]`.
//!
//! Only `data:` URLs are taken: fetching a caller's `https://` URL from inside the stack would let
//! any API client make the gateway reach addresses of its choosing.

use async_nats::jetstream::object_store::ObjectStore;
use base64::Engine as _;
use pincer_bus::messages::Attachment;
use serde_json::Value;

use super::ApiError;

/// A picture sent inline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InlineImage {
    /// `image/png`, ...
    pub mime_type: &'static str,
    /// The decoded bytes.
    pub data: Vec<u8>,
}

impl InlineImage {
    fn extension(&self) -> &'static str {
        match self.mime_type {
            "image/jpeg" => "jpg",
            "image/gif" => "gif",
            "image/webp" => "webp",
            _ => "png",
        }
    }
}

/// The image types every provider takes.
const TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

/// Reads an `image_url` part at `path` (`messages[0].content[1]`).
pub fn parse_part(path: &str, part: &Value) -> Result<InlineImage, ApiError> {
    // OpenAI's shape is `{"url": ...}`; a bare string is what some older clients send.
    let url = match part.get("image_url") {
        Some(Value::Object(image)) => image.get("url").and_then(Value::as_str),
        Some(Value::String(url)) => Some(url.as_str()),
        _ => None,
    }
    .ok_or_else(|| {
        ApiError::bad_request(
            format!("{path}.image_url.url"),
            "an image_url part needs `image_url.url`",
        )
    })?;
    parse_data_url(url)
        .map_err(|message| ApiError::bad_request(format!("{path}.image_url.url"), message))
}

fn parse_data_url(url: &str) -> Result<InlineImage, String> {
    let Some(rest) = url.strip_prefix("data:") else {
        return Err(
            "only inline images are taken: send the picture as a `data:image/png;base64,...` URL (the gateway does not fetch URLs for callers)"
                .to_owned(),
        );
    };
    let (header, payload) = rest
        .split_once(',')
        .ok_or("a data URL needs a `,` before its data")?;
    let Some(mime) = header.strip_suffix(";base64") else {
        return Err("a data URL must be base64 (`data:image/png;base64,...`)".to_owned());
    };
    let mime_type = TYPES
        .iter()
        .find(|known| known.eq_ignore_ascii_case(mime.trim()))
        .ok_or_else(|| {
            format!(
                "{mime:?} is not an image type models take; send {}",
                TYPES.join(", ")
            )
        })?;
    let data = base64::engine::general_purpose::STANDARD
        .decode(payload.trim())
        .map_err(|error| format!("the image's base64 does not decode: {error}"))?;
    if data.is_empty() {
        return Err("the image is empty".to_owned());
    }
    Ok(InlineImage { mime_type, data })
}

/// Puts `images` in the media store and returns them as the attachments of a message.
pub async fn store(
    media: Option<&ObjectStore>,
    images: &[InlineImage],
) -> Result<Vec<Attachment>, ApiError> {
    if images.is_empty() {
        return Ok(Vec::new());
    }
    let media = media.ok_or_else(|| {
        ApiError::Unavailable("the media store cannot be reached; try again".to_owned())
    })?;
    let mut attachments = Vec::with_capacity(images.len());
    for (index, image) in images.iter().enumerate() {
        let object = format!("http-{}", uuid::Uuid::new_v4().simple());
        let mut reader = image.data.as_slice();
        media
            .put(object.as_str(), &mut reader)
            .await
            .map_err(|error| ApiError::Unavailable(format!("cannot store the image: {error}")))?;
        attachments.push(Attachment {
            file_name: format!("{object}-{}.{}", index + 1, image.extension()),
            object,
            kind: "image".to_owned(),
            size: image.data.len() as u64,
        });
    }
    Ok(attachments)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_urls_of_image_types_are_read() {
        let image = parse_part(
            "m",
            &serde_json::json!({"type": "image_url", "image_url": {"url": "data:image/PNG;base64,cG5nIQ==", "detail": "low"}}),
        )
        .expect("an image");
        assert_eq!(image.mime_type, "image/png");
        assert_eq!(image.data, b"png!");
    }

    #[test]
    fn anything_else_is_refused_with_what_to_send() {
        for (url, says) in [
            ("https://example.com/cat.png", "data:"),
            ("data:image/png,plain", "base64"),
            ("data:text/plain;base64,aGk=", "not an image type"),
            ("data:image/png;base64,!!!", "does not decode"),
            ("data:image/png;base64,", "empty"),
        ] {
            let error = parse_part(
                "messages[0].content[1]",
                &serde_json::json!({"image_url": {"url": url}}),
            )
            .expect_err(url);
            let body = error.body();
            assert_eq!(
                body["error"]["param"],
                "messages[0].content[1].image_url.url"
            );
            assert!(
                body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(says)),
                "{url}: {body}"
            );
        }
    }
}
