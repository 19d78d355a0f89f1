//! `grpc.health.v1.Health/Check` over cleartext HTTP/2 (h2c, prior knowledge), with std only.
//!
//! The probe sends one request and reads frames until the response message arrives. It never
//! decodes the server's header blocks (HPACK): the answer is in the DATA frame, a gRPC message
//! holding a `HealthCheckResponse`, and a call that ends without one (an error status in the
//! trailers, such as NOT_FOUND for an unknown service) is a failed probe either way.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::probe::{Limits, ProbeError, Target, connect};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const CHECK_PATH: &str = "/grpc.health.v1.Health/Check";

/// Frame types (RFC 9113 section 6) the probe acts on.
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;

/// The one stream the probe opens.
const STREAM: u32 = 1;

/// The largest frame the probe accepts: the protocol's default SETTINGS_MAX_FRAME_SIZE, which the
/// probe never raises.
const MAX_FRAME: usize = 16_384;

/// The longest response message accepted: a `HealthCheckResponse` is a few bytes.
const MAX_MESSAGE: usize = 1024;

/// `HealthCheckResponse.ServingStatus.SERVING`.
pub(crate) const SERVING: u64 = 1;

/// Calls `Health/Check` for the target's service ("" is the whole server) and returns the serving
/// status the server reported (0 unknown, 1 serving, 2 not serving, 3 service unknown).
pub(crate) fn check(target: &Target, limits: &Limits) -> Result<u64, ProbeError> {
    let deadline = Instant::now() + limits.total;
    let mut stream = Bounded {
        stream: connect(target, limits)?,
        io: limits.io,
        deadline,
    };
    stream
        .write_all(&request(&target.authority(), target.grpc_service()))
        .map_err(ProbeError::Io)?;
    read_status(&mut stream)
}

/// The connection, each read bounded by the I/O timeout and by what is left of the probe's
/// deadline: a server that trickles a byte at a time cannot hold the probe open.
struct Bounded {
    stream: TcpStream,
    io: Duration,
    deadline: Instant,
}

impl Read for Bounded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline"));
        }
        self.stream.set_read_timeout(Some(left.min(self.io)))?;
        self.stream.read(buf)
    }
}

impl Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// The client preface, empty SETTINGS, then the call on stream 1: its HEADERS and one DATA frame
/// holding the request message, which ends the stream.
pub(crate) fn request(authority: &str, service: &str) -> Vec<u8> {
    let mut out = PREFACE.to_vec();
    frame(&mut out, SETTINGS, 0, 0, &[]);

    // HPACK (RFC 7541): indexed fields from the static table where the whole field is there,
    // otherwise literals without indexing (no dynamic table, no Huffman coding).
    let mut block = vec![
        0x83, // :method POST (static index 3)
        0x86, // :scheme http (static index 6)
    ];
    literal_with_indexed_name(&mut block, 4, CHECK_PATH); // :path
    literal_with_indexed_name(&mut block, 1, authority); // :authority
    literal_with_indexed_name(&mut block, 31, "application/grpc"); // content-type
    block.push(0x00); // te: a literal with a literal name
    string(&mut block, "te");
    string(&mut block, "trailers");
    frame(&mut out, HEADERS, END_HEADERS, STREAM, &block);

    // HealthCheckRequest { service = 1 (string) }, behind the gRPC message prefix (uncompressed,
    // 4-byte big-endian length).
    let mut message = Vec::new();
    if !service.is_empty() {
        message.push(0x0a);
        varint(&mut message, service.len() as u64);
        message.extend_from_slice(service.as_bytes());
    }
    let mut body = vec![0];
    body.extend_from_slice(&(message.len() as u32).to_be_bytes());
    body.extend_from_slice(&message);
    frame(&mut out, DATA, END_STREAM, STREAM, &body);
    out
}

/// Reads frames until stream 1's response message is complete, and returns its status. The
/// deadline is kept by the reads (`Bounded`): one past it fails, reported as the deadline.
fn read_status(stream: &mut Bounded) -> Result<u64, ProbeError> {
    let mut message = Vec::new();
    loop {
        let (kind, flags, id, payload) = read_frame(stream).map_err(|err| match err {
            ProbeError::Io(_) if Instant::now() >= stream.deadline => ProbeError::Deadline,
            other => other,
        })?;
        match kind {
            SETTINGS if flags & ACK == 0 => {
                let mut ack = Vec::new();
                frame(&mut ack, SETTINGS, ACK, 0, &[]);
                stream.write_all(&ack).map_err(ProbeError::Io)?;
            }
            PING if flags & ACK == 0 => {
                let mut pong = Vec::new();
                frame(&mut pong, PING, ACK, 0, &payload);
                stream.write_all(&pong).map_err(ProbeError::Io)?;
            }
            // A graceful GOAWAY still finishes the streams up to its last stream id.
            GOAWAY if last_stream_id(&payload) < STREAM => {
                return Err(ProbeError::Grpc(
                    "the server closed the connection (GOAWAY)",
                ));
            }
            RST_STREAM if id == STREAM => {
                return Err(ProbeError::Grpc("the server reset the call (RST_STREAM)"));
            }
            DATA if id == STREAM => {
                message.extend_from_slice(unpadded(flags, &payload)?);
                if let Some(status) = response_status(&message)? {
                    return Ok(status);
                }
                if flags & END_STREAM != 0 {
                    return Err(ProbeError::Grpc("the response message was cut short"));
                }
            }
            HEADERS if id == STREAM && flags & END_STREAM != 0 => {
                return Err(ProbeError::Grpc(
                    "the call ended without a response (an error status in its trailers)",
                ));
            }
            _ => {}
        }
    }
}

/// The last stream id of a GOAWAY frame's payload (0 if it is too short to hold one).
fn last_stream_id(payload: &[u8]) -> u32 {
    payload
        .first_chunk::<4>()
        .map_or(0, |id| u32::from_be_bytes(*id) & 0x7fff_ffff)
}

/// One frame: type, flags, stream id and payload.
fn read_frame(reader: &mut impl Read) -> Result<(u8, u8, u32, Vec<u8>), ProbeError> {
    let mut head = [0_u8; 9];
    read_exact(reader, &mut head)?;
    let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
    if len > MAX_FRAME {
        return Err(ProbeError::Grpc("a frame larger than the 16 KiB allowed"));
    }
    let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    let mut payload = vec![0; len];
    read_exact(reader, &mut payload)?;
    Ok((head[3], head[4], id, payload))
}

fn read_exact(reader: &mut impl Read, buf: &mut [u8]) -> Result<(), ProbeError> {
    reader.read_exact(buf).map_err(|err| match err.kind() {
        io::ErrorKind::UnexpectedEof => ProbeError::Truncated,
        _ => ProbeError::Io(err),
    })
}

/// A DATA frame's data, without its padding.
fn unpadded(flags: u8, payload: &[u8]) -> Result<&[u8], ProbeError> {
    if flags & PADDED == 0 {
        return Ok(payload);
    }
    let bad = || ProbeError::Grpc("a padded frame with more padding than payload");
    let (&pad, rest) = payload.split_first().ok_or_else(bad)?;
    let end = rest.len().checked_sub(usize::from(pad)).ok_or_else(bad)?;
    Ok(&rest[..end])
}

/// The status in a complete gRPC message holding a `HealthCheckResponse`, or `None` while the
/// message is still incomplete. A field the probe does not know is skipped, as protobuf requires.
pub(crate) fn response_status(message: &[u8]) -> Result<Option<u64>, ProbeError> {
    let Some((prefix, rest)) = message.split_first_chunk::<5>() else {
        return Ok(None);
    };
    if prefix[0] != 0 {
        return Err(ProbeError::Grpc(
            "a compressed response, which was not asked for",
        ));
    }
    let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
    if len > MAX_MESSAGE {
        return Err(ProbeError::Grpc(
            "a response message larger than a HealthCheckResponse",
        ));
    }
    let Some(mut fields) = rest.get(..len) else {
        return Ok(None);
    };
    let bad = || ProbeError::Grpc("a response that is not a HealthCheckResponse");
    // proto3: a field left out holds its default, UNKNOWN (0).
    let mut status = 0;
    while let Some((key, rest)) = read_varint(fields) {
        fields = rest;
        match key & 7 {
            0 => {
                let (value, rest) = read_varint(fields).ok_or_else(bad)?;
                fields = rest;
                if key >> 3 == 1 {
                    status = value;
                }
            }
            1 => fields = fields.get(8..).ok_or_else(bad)?,
            2 => {
                let (len, rest) = read_varint(fields).ok_or_else(bad)?;
                let len = usize::try_from(len).map_err(|_| bad())?;
                fields = rest.get(len..).ok_or_else(bad)?;
            }
            5 => fields = fields.get(4..).ok_or_else(bad)?,
            _ => return Err(bad()),
        }
    }
    if fields.is_empty() {
        Ok(Some(status))
    } else {
        Err(bad())
    }
}

fn read_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0_u64;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = payload.len() as u32;
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// A literal header field without indexing whose name is entry `index` of the static table.
fn literal_with_indexed_name(block: &mut Vec<u8>, index: u8, value: &str) {
    integer(block, 0x00, 4, u64::from(index));
    string(block, value);
}

/// An HPACK string literal, not Huffman-coded.
fn string(block: &mut Vec<u8>, value: &str) {
    integer(block, 0x00, 7, value.len() as u64);
    block.extend_from_slice(value.as_bytes());
}

/// An HPACK integer with an `prefix_bits`-bit prefix, the first byte's other bits set to `high`.
fn integer(block: &mut Vec<u8>, high: u8, prefix_bits: u32, value: u64) {
    let max = (1_u64 << prefix_bits) - 1;
    if value < max {
        block.push(high | value as u8);
        return;
    }
    block.push(high | max as u8);
    // The rest as 7-bit groups, least significant first: a protobuf varint.
    varint(block, value - max);
}

#[cfg(test)]
mod tests;
