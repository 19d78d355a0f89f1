use super::*;

#[test]
fn the_request_is_a_preface_settings_headers_and_one_message() {
    let bytes = request("127.0.0.1:50051", "");
    assert!(bytes.starts_with(PREFACE));
    let mut rest = &bytes[PREFACE.len()..];
    let mut frames = Vec::new();
    while !rest.is_empty() {
        let (kind, flags, id, payload) = read_frame(&mut rest).expect("a whole frame");
        frames.push((kind, flags, id, payload));
    }
    let kinds: Vec<_> = frames.iter().map(|f| (f.0, f.1, f.2)).collect();
    assert_eq!(
        kinds,
        [
            (SETTINGS, 0, 0),
            (HEADERS, END_HEADERS, 1),
            (DATA, END_STREAM, 1)
        ]
    );
    let block = &frames[1].3;
    assert_eq!(&block[..2], [0x83, 0x86]);
    let text = String::from_utf8_lossy(block);
    for part in [
        CHECK_PATH,
        "127.0.0.1:50051",
        "application/grpc",
        "te",
        "trailers",
    ] {
        assert!(text.contains(part), "{part} missing from {block:?}");
    }
    // An empty HealthCheckRequest behind an uncompressed 0-length prefix.
    assert_eq!(frames[2].3, [0, 0, 0, 0, 0]);
}

#[test]
fn a_named_service_is_field_one_of_the_request() {
    let bytes = request("h:1", "pincer.Turns");
    assert!(
        bytes.ends_with(
            &[0, 0, 0, 0, 14, 0x0a, 12]
                .iter()
                .copied()
                .chain(*b"pincer.Turns")
                .collect::<Vec<_>>()
        )
    );
}

#[test]
fn hpack_integers_use_their_prefix_then_continuation_bytes() {
    let mut out = Vec::new();
    integer(&mut out, 0x00, 4, 31);
    assert_eq!(out, [0x0f, 0x10]);
    out.clear();
    integer(&mut out, 0x00, 7, 200);
    assert_eq!(out, [0x7f, 0x49]);
    out.clear();
    integer(&mut out, 0x00, 4, 4);
    assert_eq!(out, [0x04]);
}

#[test]
fn response_status_waits_for_the_whole_message() {
    assert_eq!(response_status(&[]).unwrap(), None);
    assert_eq!(response_status(&[0, 0, 0, 0, 2, 0x08]).unwrap(), None);
    assert_eq!(
        response_status(&[0, 0, 0, 0, 2, 0x08, 0x01]).unwrap(),
        Some(SERVING)
    );
    assert_eq!(
        response_status(&[0, 0, 0, 0, 2, 0x08, 0x02]).unwrap(),
        Some(2)
    );
    // An empty message: proto3's default, UNKNOWN.
    assert_eq!(response_status(&[0, 0, 0, 0, 0]).unwrap(), Some(0));
    // An unknown field before the status is skipped.
    assert_eq!(
        response_status(&[0, 0, 0, 0, 6, 0x12, 0x02, b'h', b'i', 0x08, 0x01]).unwrap(),
        Some(SERVING)
    );
}

#[test]
fn response_status_rejects_what_is_not_a_health_response() {
    assert!(response_status(&[1, 0, 0, 0, 2, 0x08, 0x01]).is_err());
    assert!(response_status(&[0, 0, 0, 0, 2, 0x0a, 0x05]).is_err());
    assert!(response_status(&[0, 0, 0, 0, 1, 0x0f]).is_err());
}

#[test]
fn padding_is_removed_and_checked() {
    assert_eq!(unpadded(PADDED, &[2, 7, 8, 0, 0]).unwrap(), [7, 8]);
    assert_eq!(unpadded(0, &[2, 7]).unwrap(), [2, 7]);
    assert!(unpadded(PADDED, &[5, 1]).is_err());
    assert!(unpadded(PADDED, &[]).is_err());
}

#[test]
fn a_response_message_too_large_for_a_health_response_is_refused_early() {
    assert!(response_status(&[0, 0, 0, 0x10, 0]).is_err());
}

#[test]
fn a_graceful_goaway_names_the_last_stream_it_finishes() {
    assert_eq!(last_stream_id(&[0, 0, 0, 1, 0, 0, 0, 0]), 1);
    assert_eq!(last_stream_id(&[0x80, 0, 0, 0, 0, 0, 0, 0]), 0);
    assert_eq!(last_stream_id(&[0, 0]), 0);
}
