//! Reading a downloaded attachment with a ceiling: the body is read in chunks and the download
//! stops as soon as it passes the limit, so a huge file never sits in memory whole.

/// Why a body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The connection broke while reading.
    #[error("download interrupted: {0}")]
    Transport(String),
    /// More than the limit.
    #[error("larger than {0} bytes")]
    TooLarge(u64),
}

/// The body of `response`, at most `max_bytes` long.
pub async fn read_capped(
    mut response: reqwest::Response,
    max_bytes: u64,
) -> Result<Vec<u8>, BodyError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| BodyError::Transport(e.without_url().to_string()))?
    {
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > max_bytes {
            return Err(BodyError::TooLarge(max_bytes));
        }
    }
    Ok(bytes)
}
