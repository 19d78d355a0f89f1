//! Server-Sent Events framing, as the HTML standard defines it and as signal-cli writes it
//! (`event:receive`, one `data:` line per event, a `:` comment as keep-alive every 15 s): bytes
//! in, whole events out. Lines end in LF, CRLF or CR (a CR at the end of one read may be the first
//! half of a CRLF split across reads); a field's value loses one leading space; several `data:`
//! lines join with newlines; comments and unknown fields are skipped; an event is dispatched at
//! its blank line only, so an event cut off by a dropped connection is never dispatched.

/// Longest line or event kept in memory (signal-cli's envelopes are a few KB; attachments are
/// fetched separately): a server sending more without a line end is broken, not slow.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// `event:`; `message` when the server named none.
    pub kind: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last `id:` seen on the stream, if any.
    pub id: Option<String>,
}

/// Why the stream cannot be read further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// A line or event past [`MAX_EVENT_BYTES`].
    #[error("an event larger than {MAX_EVENT_BYTES} bytes")]
    TooLarge,
}

/// Turns the bytes of one stream into events; a new stream needs a new parser.
#[derive(Debug, Default)]
pub struct Parser {
    /// Bytes of the line being read.
    line: Vec<u8>,
    /// The last byte seen was a CR: an LF right after it ends nothing more.
    after_cr: bool,
    /// Whether the stream's first bytes were looked at (a leading BOM is dropped).
    started: bool,
    kind: Option<String>,
    data: Option<String>,
    last_id: Option<String>,
}

impl Parser {
    /// Feeds the next bytes of the stream; returns the events they complete, in order.
    pub fn push(&mut self, mut bytes: &[u8]) -> Result<Vec<Event>, SseError> {
        if !self.started && !bytes.is_empty() {
            self.started = true;
            bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
        }
        let mut events = Vec::new();
        for &byte in bytes {
            let after_cr = std::mem::replace(&mut self.after_cr, false);
            match byte {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.line_ended(&line) {
                        events.push(event);
                    }
                }
                _ => {
                    self.line.push(byte);
                    if self.line.len() + self.pending_len() > MAX_EVENT_BYTES {
                        return Err(SseError::TooLarge);
                    }
                }
            }
        }
        Ok(events)
    }

    fn pending_len(&self) -> usize {
        self.data.as_ref().map_or(0, String::len)
    }

    fn line_ended(&mut self, line: &[u8]) -> Option<Event> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line[0] == b':' {
            // A comment: signal-cli's keep-alive.
            return None;
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => self.kind = Some(value.to_owned()),
            "data" => match self.data.as_mut() {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            // An id with a NUL is ignored, as the standard says.
            "id" if !value.contains('\0') => self.last_id = Some(value.to_owned()),
            // `retry` and unknown fields: nothing to do here (the reconnect delay is ours).
            _ => {}
        }
        None
    }

    /// The blank line: the event gathered so far, unless it had no data.
    fn dispatch(&mut self) -> Option<Event> {
        let kind = self.kind.take();
        let data = self.data.take()?;
        Some(Event {
            kind: kind
                .filter(|kind| !kind.is_empty())
                .unwrap_or_else(|| "message".to_owned()),
            data,
            id: self.last_id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(chunks: &[&[u8]]) -> Vec<Event> {
        let mut parser = Parser::default();
        let mut events = Vec::new();
        for chunk in chunks {
            events.extend(parser.push(chunk).expect("parses"));
        }
        events
    }

    fn event(kind: &str, data: &str) -> Event {
        Event {
            kind: kind.into(),
            data: data.into(),
            id: None,
        }
    }

    #[test]
    fn signal_cli_frames_and_keep_alives() {
        let stream =
            b"event:receive\ndata:{\"envelope\":{}}\n\n:\n:\nevent:receive\ndata:{\"a\":1}\n\n";
        assert_eq!(
            all(&[stream]),
            [
                event("receive", "{\"envelope\":{}}"),
                event("receive", "{\"a\":1}")
            ]
        );
    }

    #[test]
    fn multi_line_data_one_leading_space_and_defaults() {
        let stream = b"data: first\ndata:  second\ndata\n\nevent: \ndata:x\n\n";
        assert_eq!(
            all(&[stream]),
            [event("message", "first\n second\n"), event("message", "x")]
        );
    }

    #[test]
    fn crlf_and_cr_line_ends_even_split_across_reads() {
        assert_eq!(
            all(&[b"event:receive\r\ndata:a\r\n\r\n"]),
            [event("receive", "a")]
        );
        assert_eq!(
            all(&[b"event:receive\rdata:b\r\r"]),
            [event("receive", "b")]
        );
        // The CR ends one read and its LF starts the next: one line end, not two.
        assert_eq!(
            all(&[b"event:receive\r", b"\ndata:c\r", b"\n\r", b"\n"]),
            [event("receive", "c")]
        );
    }

    #[test]
    fn events_split_anywhere_across_reads() {
        let stream = "event:receive\ndata:{\"message\":\"héllo\"}\n\n".as_bytes();
        let whole = all(&[stream]);
        for cut in 0..stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(all(&[a, b]), whole, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(all(&bytes), whole);
    }

    #[test]
    fn comments_ids_unknown_fields_and_a_bom_are_skipped() {
        let stream = "\u{feff}: hello\nid: 7\nretry: 10\nfoo: bar\nevent:receive\ndata:d\n\n";
        let events = all(&[stream.as_bytes()]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data, "d");
        assert_eq!(events[0].id.as_deref(), Some("7"));
        assert!(
            all(&[b"event:receive\n\n"]).is_empty(),
            "no data: not dispatched"
        );
    }

    #[test]
    fn an_event_cut_off_by_the_end_of_the_stream_is_never_dispatched() {
        let mut parser = Parser::default();
        assert!(
            parser
                .push(b"event:receive\ndata:{\"envelope\":{\"ti")
                .expect("parses")
                .is_empty()
        );
        // The stream ends here; a new connection gets a new parser.
        let mut next = Parser::default();
        assert_eq!(
            next.push(b"event:receive\ndata:{}\n\n").expect("parses"),
            [event("receive", "{}")]
        );
    }

    #[test]
    fn a_line_without_end_past_the_ceiling_is_an_error() {
        let mut parser = Parser::default();
        let big = vec![b'a'; MAX_EVENT_BYTES + 1];
        assert_eq!(parser.push(b"data:"), Ok(Vec::new()));
        assert_eq!(parser.push(&big), Err(SseError::TooLarge));
    }
}
