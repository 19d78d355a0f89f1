//! The numbers that bound one control connection, before and after sign-in.

use std::time::Duration;

/// Sockets allowed in their handshake at once: with the frame cap this bounds what unauthenticated
/// clients can make the gateway hold (32 × 256 KiB).
pub const MAX_HANDSHAKES: usize = 32;
/// Of those, from one client address.
pub const MAX_HANDSHAKES_PER_ADDRESS: usize = 8;
/// Time allowed for the `connect` request.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest frame before sign-in.
pub const MAX_PREAUTH_BYTES: usize = 64 * 1024;
/// Largest frame after sign-in (and what a socket may buffer for one frame before it).
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;
/// Frames queued for a client before it counts as a slow consumer.
pub const OUTBOUND_FRAMES: usize = 256;
/// Requests running at once per connection.
pub const IN_FLIGHT: usize = 16;
/// Interval of `tick` events.
pub const TICK: Duration = Duration::from_secs(15);
/// How long a closing connection's last frames may take before the socket is dropped.
pub const CLOSE_GRACE: Duration = Duration::from_secs(5);
