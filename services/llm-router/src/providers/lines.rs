//! Splits a byte stream into lines (NDJSON and SSE are both line protocols). Handles CRLF and lines
//! split across chunks; a final line without a newline is still yielded.

use bytes::{Buf, BytesMut};
use futures::{Stream, StreamExt};

/// Longest line accepted; a provider sending more without a newline is broken or hostile.
const MAX_LINE: usize = 4 * 1024 * 1024;

/// Turns `chunks` into a stream of text lines (without the line terminator).
pub fn lines<S, E>(chunks: S) -> impl Stream<Item = Result<String, String>> + Send
where
    S: Stream<Item = Result<bytes::Bytes, E>> + Send + Unpin + 'static,
    E: std::fmt::Display,
{
    futures::stream::unfold(
        (chunks, BytesMut::new(), false),
        |(mut chunks, mut buffer, mut finished)| async move {
            loop {
                if let Some(index) = buffer.iter().position(|b| *b == b'\n') {
                    let mut line = buffer.split_to(index + 1);
                    line.truncate(index);
                    if line.last() == Some(&b'\r') {
                        line.truncate(line.len() - 1);
                    }
                    let text = String::from_utf8_lossy(&line).into_owned();
                    return Some((Ok(text), (chunks, buffer, finished)));
                }
                if finished {
                    if buffer.is_empty() {
                        return None;
                    }
                    let text = String::from_utf8_lossy(&buffer).into_owned();
                    buffer.advance(buffer.len());
                    return Some((Ok(text), (chunks, buffer, finished)));
                }
                if buffer.len() > MAX_LINE {
                    finished = true;
                    buffer.clear();
                    return Some((Err("line too long".to_owned()), (chunks, buffer, finished)));
                }
                match chunks.next().await {
                    Some(Ok(bytes)) => buffer.extend_from_slice(&bytes),
                    Some(Err(error)) => {
                        finished = true;
                        buffer.clear();
                        return Some((Err(error.to_string()), (chunks, buffer, finished)));
                    }
                    None => finished = true,
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(parts: &[&'static str]) -> Vec<String> {
        let chunks: Vec<Result<bytes::Bytes, String>> = parts
            .iter()
            .map(|p| Ok(bytes::Bytes::from_static(p.as_bytes())))
            .collect();
        let stream = lines(futures::stream::iter(chunks));
        let collected: Vec<Result<String, String>> =
            futures::executor::block_on(stream.collect::<Vec<_>>());
        collected.into_iter().map(|line| line.unwrap()).collect()
    }

    #[test]
    fn joins_lines_split_across_chunks_and_strips_crlf() {
        assert_eq!(
            chunked(&["da", "ta: 1\r\n\r", "\ndata: 2\n"]),
            ["data: 1", "", "data: 2"]
        );
    }

    #[test]
    fn yields_a_trailing_line_without_newline() {
        assert_eq!(
            chunked(&["{\"a\":1}\n{\"b\"", ":2}"]),
            ["{\"a\":1}", "{\"b\":2}"]
        );
    }

    #[test]
    fn reports_transport_errors_then_ends() {
        let chunks: Vec<Result<bytes::Bytes, String>> = vec![
            Ok(bytes::Bytes::from_static(b"partial")),
            Err("reset".to_owned()),
        ];
        let out: Vec<_> =
            futures::executor::block_on(lines(futures::stream::iter(chunks)).collect::<Vec<_>>());
        assert_eq!(out, vec![Err("reset".to_owned())]);
    }
}
