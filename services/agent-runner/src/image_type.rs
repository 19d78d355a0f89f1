//! What an attached file really is, read from its first bytes. The name a chat platform gives a
//! file does not say: BlueBubbles serves an iPhone photo converted to JPEG under its original
//! `IMG_0042.HEIC`, and a client may label a PNG `photo.jpg`. Models take JPEG, PNG, GIF and WebP,
//! and Anthropic refuses an image whose bytes are not the media type the request names.

/// An image type a model can be shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageType {
    /// Its media type, as a model request names it.
    pub mime: &'static str,
    /// The file extensions it goes by, the usual one first.
    extensions: &'static [&'static str],
}

const JPEG: ImageType = ImageType {
    mime: "image/jpeg",
    extensions: &["jpg", "jpeg"],
};
const PNG: ImageType = ImageType {
    mime: "image/png",
    extensions: &["png"],
};
const GIF: ImageType = ImageType {
    mime: "image/gif",
    extensions: &["gif"],
};
const WEBP: ImageType = ImageType {
    mime: "image/webp",
    extensions: &["webp"],
};

/// The image type `bytes` start with, if a model can be shown it.
pub fn of_bytes(bytes: &[u8]) -> Option<ImageType> {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => Some(JPEG),
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some(PNG),
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some(GIF),
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => Some(WEBP),
        _ => None,
    }
}

/// `file_name` with the extension of `image` when its own names another type (or none):
/// `IMG_0042.HEIC` holding a JPEG is saved as `IMG_0042.jpg`.
pub fn named_for(file_name: &str, image: ImageType) -> String {
    let (stem, extension) = match file_name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => (stem, Some(extension)),
        _ => (file_name, None),
    };
    let fits = extension.is_some_and(|extension| {
        image
            .extensions
            .iter()
            .any(|known| extension.eq_ignore_ascii_case(known))
    });
    if fits {
        file_name.to_owned()
    } else {
        format!("{stem}.{}", image.extensions[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_bytes_say_the_type() {
        assert_eq!(of_bytes(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]), Some(JPEG));
        assert_eq!(of_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some(PNG));
        assert_eq!(of_bytes(b"GIF89a\x01\x00"), Some(GIF));
        assert_eq!(of_bytes(b"RIFF\x24\x00\x00\x00WEBPVP8 "), Some(WEBP));
        // HEIC (an ISO media file), a PDF, text, nothing.
        assert_eq!(of_bytes(b"\0\0\0\x18ftypheic\0\0\0\0"), None);
        assert_eq!(of_bytes(b"%PDF-1.7"), None);
        assert_eq!(of_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt "), None);
        assert_eq!(of_bytes(b""), None);
    }

    #[test]
    fn a_name_gets_the_extension_of_what_it_holds() {
        assert_eq!(named_for("IMG_0042.HEIC", JPEG), "IMG_0042.jpg");
        assert_eq!(named_for("photo.jpg", PNG), "photo.png");
        assert_eq!(named_for("scan", PNG), "scan.png");
        assert_eq!(named_for(".hidden", GIF), ".hidden.gif");
        assert_eq!(named_for("IMG_0042.JPEG", JPEG), "IMG_0042.JPEG");
        assert_eq!(named_for("sticker.WebP", WEBP), "sticker.WebP");
    }
}
