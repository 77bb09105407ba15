//! The WebSocket framing's tests, on in-memory bytes: the accept key, frame
//! lengths, fragmentation, UTF-8, limits, timeouts and close codes.

use super::*;
use std::collections::VecDeque;

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A client frame with any first byte (FIN, reserved bits, opcode),
/// masked with `MASK`, or unmasked when `masked` is false.
fn raw_frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    // The length encoding is the server's; only the mask bit differs.
    let mut frame = Vec::new();
    encode_frame(Opcode::Text, payload, &mut frame);
    frame[0] = first;
    let header_len = frame.len() - payload.len();
    if !masked {
        return frame;
    }
    frame[1] |= 0x80;
    let mut out = frame[..header_len].to_vec();
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    out
}

/// A masked client frame.
fn client_frame(fin: bool, opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    raw_frame(u8::from(fin) << 7 | opcode as u8, payload, true)
}

fn text(payload: &str) -> Vec<u8> {
    client_frame(true, Opcode::Text, payload.as_bytes())
}

/// Reads `input` and returns every event, owned, until the connection is over.
fn events(input: &[u8], max_message: usize) -> Vec<String> {
    let mut reader = MessageReader::new(input, max_message);
    let mut seen = Vec::new();
    for _ in 0..100 {
        let event = reader.read_next().expect("in-memory reads do not fail");
        let over = matches!(event, Event::Close(_) | Event::Violation(_) | Event::Ended);
        seen.push(format!("{event:?}"));
        if over {
            return seen;
        }
    }
    panic!("no end after 100 events: {seen:?}");
}

/// The event that ends the connection after reading `input`.
fn last_event(input: &[u8], max_message: usize) -> String {
    events(input, max_message).pop().unwrap_or_default()
}

#[test]
fn accept_key_matches_the_rfc_example() {
    assert_eq!(
        accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn server_frames_use_the_shortest_length_encoding() {
    let header = |len: usize| {
        let mut out = Vec::new();
        encode_frame(Opcode::Text, &vec![b'x'; len], &mut out);
        out[..out.len() - len].to_vec()
    };
    assert_eq!(header(0), [0x81, 0]);
    assert_eq!(header(125), [0x81, 125]);
    assert_eq!(header(126), [0x81, 126, 0, 126]);
    assert_eq!(header(65535), [0x81, 126, 0xff, 0xff]);
    assert_eq!(header(65536), [0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
}

#[test]
fn close_frame_and_lines() {
    let mut out = Vec::new();
    encode_close(1009, &mut out);
    assert_eq!(out, [0x88, 2, 0x03, 0xf1]);

    out.clear();
    encode_lines(b"OK\nMSG bob hi there\n", &mut out);
    let mut expected = vec![0x81, 2];
    expected.extend_from_slice(b"OK");
    expected.extend_from_slice(&[0x81, 16]);
    expected.extend_from_slice(b"MSG bob hi there");
    assert_eq!(out, expected);
}

#[test]
fn round_trips_every_length_encoding() {
    for len in [0, 1, 125, 126, 127, 4095, 65535, 65536, 70_000] {
        let payload: String = (0..len)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let input = text(&payload);
        let mut reader = MessageReader::new(&input[..], 70_000);
        assert_eq!(
            reader.read_next().unwrap(),
            Event::Text(&payload),
            "{len} bytes"
        );
        assert_eq!(reader.read_next().unwrap(), Event::Ended);
    }
}

#[test]
fn reads_messages_in_a_row_and_control_frames_between_fragments() {
    let mut input = text("LOGIN alice");
    input.extend(client_frame(false, Opcode::Text, b"MSG hel"));
    input.extend(client_frame(true, Opcode::Ping, b"are you there"));
    input.extend(client_frame(false, Opcode::Continuation, b"lo w"));
    input.extend(client_frame(true, Opcode::Pong, b""));
    input.extend(client_frame(true, Opcode::Continuation, "örld".as_bytes()));
    input.extend(text(""));
    input.extend(client_frame(true, Opcode::Close, b"\x03\xe8bye"));
    assert_eq!(
        events(&input, 100),
        [
            r#"Text("LOGIN alice")"#,
            r#"Ping([97, 114, 101, 32, 121, 111, 117, 32, 116, 104, 101, 114, 101])"#,
            "Pong",
            r#"Text("MSG hello wörld")"#,
            r#"Text("")"#,
            "Close(Some(1000))",
        ]
    );
}

#[test]
fn utf8_split_across_fragments_is_fine() {
    let bytes = "é".as_bytes();
    let mut input = client_frame(false, Opcode::Text, &bytes[..1]);
    input.extend(client_frame(true, Opcode::Continuation, &bytes[1..]));
    assert_eq!(events(&input, 10)[0], r#"Text("é")"#);
}

#[test]
fn close_without_status() {
    assert_eq!(
        last_event(&client_frame(true, Opcode::Close, b""), 10),
        "Close(None)"
    );
}

#[test]
fn framing_violations_are_protocol_errors() {
    let protocol_error = format!("Violation({PROTOCOL_ERROR})");
    let cases: [(&str, Vec<u8>); 10] = [
        ("unmasked", raw_frame(0x81, b"hi", false)),
        ("reserved bit", raw_frame(0x81 | 0x40, b"hi", true)),
        ("unknown data opcode", raw_frame(0x83, b"hi", true)),
        ("unknown control opcode", raw_frame(0x8B, b"", true)),
        ("fragmented ping", client_frame(false, Opcode::Ping, b"x")),
        (
            "ping over 125 bytes",
            client_frame(true, Opcode::Ping, &[b'x'; 126]),
        ),
        (
            "continuation with nothing to continue",
            client_frame(true, Opcode::Continuation, b"x"),
        ),
        ("close with a 1-byte payload", {
            client_frame(true, Opcode::Close, b"\x03")
        }),
        ("close with a reserved status", {
            client_frame(true, Opcode::Close, &1005u16.to_be_bytes())
        }),
        ("64-bit length with its top bit set", {
            let mut frame = vec![0x81, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1];
            frame.extend_from_slice(&MASK);
            frame
        }),
    ];
    for (what, input) in cases {
        assert_eq!(last_event(&input, 1000), protocol_error, "{what}");
    }
}

#[test]
fn new_message_inside_a_fragmented_one_is_a_protocol_error() {
    let mut input = client_frame(false, Opcode::Text, b"MSG a");
    input.extend(text("MSG b"));
    assert_eq!(
        last_event(&input, 100),
        format!("Violation({PROTOCOL_ERROR})")
    );
}

#[test]
fn binary_is_unsupported() {
    let input = client_frame(true, Opcode::Binary, b"\x00\x01");
    assert_eq!(
        last_event(&input, 100),
        format!("Violation({UNSUPPORTED_DATA})")
    );
}

#[test]
fn invalid_utf8_is_invalid_payload() {
    let input = client_frame(true, Opcode::Text, b"MSG \xff");
    assert_eq!(
        last_event(&input, 100),
        format!("Violation({INVALID_PAYLOAD})")
    );
    let truncated = client_frame(true, Opcode::Text, &"é".as_bytes()[..1]);
    assert_eq!(
        last_event(&truncated, 100),
        format!("Violation({INVALID_PAYLOAD})")
    );
    let bad_reason = client_frame(true, Opcode::Close, b"\x03\xe8\xc3");
    assert_eq!(
        last_event(&bad_reason, 100),
        format!("Violation({INVALID_PAYLOAD})")
    );
}

#[test]
fn too_big_is_refused_from_the_header_alone() {
    let too_big = format!("Violation({MESSAGE_TOO_BIG})");
    // Exactly the limit passes; one more byte does not.
    assert_eq!(events(&text("12345"), 5)[0], r#"Text("12345")"#);
    assert_eq!(last_event(&text("123456"), 5), too_big);
    // Fragments count together.
    let mut input = client_frame(false, Opcode::Text, b"123");
    input.extend(client_frame(true, Opcode::Continuation, b"456"));
    assert_eq!(last_event(&input, 5), too_big);
    // A header announcing 2^62 bytes, with no payload behind it at all.
    let mut huge = vec![0x81, 0x80 | 127, 0x40, 0, 0, 0, 0, 0, 0, 0];
    huge.extend_from_slice(&MASK);
    assert_eq!(last_event(&huge, 4096), too_big);
    let mut reader = MessageReader::new(&huge[..], 4096);
    let _ = reader.read_next();
    assert!(reader.message.capacity() <= 4096);
}

#[test]
fn end_of_stream_mid_frame_is_ended() {
    let input = text("MSG hello");
    for cut in [0, 1, 2, 5, input.len() - 1] {
        assert_eq!(last_event(&input[..cut], 100), "Ended", "cut at {cut}");
    }
}

/// A reader that hands out its bytes one at a time, failing with
/// `WouldBlock` before each one (like a socket read timeout).
struct Trickle {
    bytes: VecDeque<u8>,
    timed_out: bool,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.timed_out = !self.timed_out;
        if self.timed_out {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        match (self.bytes.pop_front(), buf.first_mut()) {
            (Some(byte), Some(slot)) => {
                *slot = byte;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

#[test]
fn timeouts_are_passed_through_and_reading_resumes() {
    let mut input = client_frame(false, Opcode::Text, b"MSG frag");
    input.extend(client_frame(true, Opcode::Ping, b"p"));
    input.extend(client_frame(true, Opcode::Continuation, b"mented"));
    let mut reader = MessageReader::new(
        Trickle {
            bytes: input.into(),
            timed_out: false,
        },
        100,
    );
    let mut timeouts = 0;
    let mut seen = Vec::new();
    for _ in 0..1000 {
        match reader.read_next() {
            Err(err) => {
                assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
                timeouts += 1;
            }
            Ok(Event::Ended) => break,
            Ok(event) => seen.push(format!("{event:?}")),
        }
    }
    assert_eq!(seen, ["Ping([112])", r#"Text("MSG fragmented")"#]);
    assert!(timeouts > 20, "{timeouts}");
}

#[test]
fn long_messages_do_not_keep_their_memory() {
    let mut input = text(&"x".repeat(3000));
    input.extend(text("small"));
    let mut reader = MessageReader::new(&input[..], 4096);
    assert!(matches!(reader.read_next(), Ok(Event::Text(t)) if t.len() == 3000));
    assert_eq!(reader.read_next().unwrap(), Event::Text("small"));
    assert!(reader.message.capacity() <= KEEP_MESSAGE_BYTES);
}
