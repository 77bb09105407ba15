//! Unit tests of the RESP codec ([`super`]): every reply type, nesting,
//! errors, splits at every offset, binary payloads, the limits, garbage.

use super::*;

fn decode_all(bytes: &[u8]) -> Result<Vec<Value>, RespError> {
    let mut decoder = Decoder::new(Limits::default());
    decoder.feed(bytes)?;
    let mut out = Vec::new();
    while let Some(value) = decoder.next()? {
        out.push(value);
    }
    assert_eq!(decoder.buffered(), 0, "bytes left over in {bytes:?}");
    Ok(out)
}

fn one(bytes: &[u8]) -> Value {
    let mut values = decode_all(bytes).unwrap();
    assert_eq!(values.len(), 1, "{values:?}");
    values.remove(0)
}

fn bulk(text: &str) -> Value {
    Value::Bulk(text.as_bytes().to_vec())
}

#[test]
fn every_type() {
    assert_eq!(one(b"+OK\r\n"), Value::Simple("OK".into()));
    assert_eq!(one(b"+\r\n"), Value::Simple(String::new()));
    assert_eq!(
        one(b"-ERR unknown command 'FOO'\r\n"),
        Value::Error("ERR unknown command 'FOO'".into())
    );
    assert_eq!(one(b":0\r\n"), Value::Integer(0));
    assert_eq!(one(b":-42\r\n"), Value::Integer(-42));
    assert_eq!(one(b":9223372036854775807\r\n"), Value::Integer(i64::MAX));
    assert_eq!(one(b":-9223372036854775807\r\n"), Value::Integer(-i64::MAX));
    assert_eq!(one(b"$5\r\nhello\r\n"), bulk("hello"));
    assert_eq!(one(b"$0\r\n\r\n"), bulk(""));
    assert_eq!(one(b"$-1\r\n"), Value::Nil);
    assert_eq!(one(b"*-1\r\n"), Value::Nil);
    assert_eq!(one(b"*0\r\n"), Value::Array(vec![]));
    assert_eq!(
        one(b"*3\r\n:1\r\n$1\r\nx\r\n+y\r\n"),
        Value::Array(vec![
            Value::Integer(1),
            bulk("x"),
            Value::Simple("y".into())
        ])
    );
}

#[test]
fn nested_arrays_with_nils_and_errors_inside() {
    // The shape of an XREAD reply: [[stream, [[id, [field, value]]]]].
    let reply = b"*1\r\n*2\r\n$6\r\nevents\r\n*2\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nt\r\n$1\r\nm\r\n*2\r\n$3\r\n1-1\r\n*-1\r\n";
    let entry = |id: &str, fields: Value| Value::Array(vec![bulk(id), fields]);
    assert_eq!(
        one(reply),
        Value::Array(vec![Value::Array(vec![
            bulk("events"),
            Value::Array(vec![
                entry("1-0", Value::Array(vec![bulk("t"), bulk("m")])),
                entry("1-1", Value::Nil),
            ]),
        ])])
    );
    assert_eq!(
        one(b"*3\r\n$-1\r\n-WRONGTYPE no\r\n*1\r\n*0\r\n"),
        Value::Array(vec![
            Value::Nil,
            Value::Error("WRONGTYPE no".into()),
            Value::Array(vec![Value::Array(vec![])]),
        ])
    );
}

#[test]
fn several_replies_in_one_read_come_out_one_by_one() {
    assert_eq!(
        decode_all(b"+OK\r\n:1\r\n$2\r\nhi\r\n*-1\r\n").unwrap(),
        vec![
            Value::Simple("OK".into()),
            Value::Integer(1),
            bulk("hi"),
            Value::Nil
        ]
    );
}

/// Every reply kind, nested and binary, as one stream of bytes.
fn sample_stream() -> (Vec<u8>, Vec<Value>) {
    let mut bytes = Vec::new();
    let mut values = Vec::new();
    let binary: Vec<u8> = (0..=255u8).chain(*b"\r\n\r\n\0").collect();
    bytes.extend_from_slice(format!("${}\r\n", binary.len()).as_bytes());
    bytes.extend_from_slice(&binary);
    bytes.extend_from_slice(b"\r\n");
    values.push(Value::Bulk(binary.clone()));
    bytes.extend_from_slice(b"+PONG\r\n-ERR x\r\n:-7\r\n$-1\r\n");
    values.extend([
        Value::Simple("PONG".into()),
        Value::Error("ERR x".into()),
        Value::Integer(-7),
        Value::Nil,
    ]);
    bytes.extend_from_slice(b"*2\r\n*2\r\n$4\r\n\r\n\r\n\r\n:5\r\n*0\r\n");
    values.push(Value::Array(vec![
        Value::Array(vec![bulk("\r\n\r\n"), Value::Integer(5)]),
        Value::Array(vec![]),
    ]));
    (bytes, values)
}

#[test]
fn split_across_reads_at_every_offset_decodes_the_same() {
    let (bytes, values) = sample_stream();
    for cut in 0..=bytes.len() {
        let mut decoder = Decoder::new(Limits::default());
        let mut got = Vec::new();
        for piece in [&bytes[..cut], &bytes[cut..]] {
            decoder.feed(piece).unwrap();
            while let Some(value) = decoder.next().unwrap() {
                got.push(value);
            }
        }
        assert_eq!(got, values, "cut at {cut}");
        assert_eq!(decoder.buffered(), 0);
    }
}

#[test]
fn fed_one_byte_at_a_time_decodes_the_same() {
    let (bytes, values) = sample_stream();
    let mut decoder = Decoder::new(Limits::default());
    let mut got = Vec::new();
    for byte in &bytes {
        decoder.feed(std::slice::from_ref(byte)).unwrap();
        while let Some(value) = decoder.next().unwrap() {
            got.push(value);
        }
    }
    assert_eq!(got, values);
}

#[test]
fn a_big_bulk_string_arriving_in_pieces_is_not_rescanned_per_piece() {
    let mut decoder = Decoder::new(Limits::default());
    decoder.feed(b"$1000000\r\n").unwrap();
    assert_eq!(decoder.next().unwrap(), None);
    let need = decoder.need;
    assert_eq!(need, 10 + 1_000_000 + 2);
    for _ in 0..999 {
        decoder.feed(&[b'a'; 1000]).unwrap();
        assert_eq!(decoder.next().unwrap(), None);
        assert_eq!(decoder.need, need, "waits for the whole string");
    }
    decoder.feed(&[b'a'; 1000]).unwrap();
    decoder.feed(b"\r\n").unwrap();
    assert_eq!(
        decoder.next().unwrap(),
        Some(Value::Bulk(vec![b'a'; 1_000_000]))
    );
}

#[test]
fn the_buffer_is_reused_across_many_replies() {
    let mut decoder = Decoder::new(Limits::default());
    for i in 0..10_000 {
        decoder.feed(format!(":{i}\r\n+x").as_bytes()).unwrap();
        assert_eq!(decoder.next().unwrap(), Some(Value::Integer(i)));
        decoder.feed(b"\r\n").unwrap();
        assert_eq!(decoder.next().unwrap(), Some(Value::Simple("x".into())));
    }
    assert!(decoder.buf.capacity() < 4096, "{}", decoder.buf.capacity());
}

fn small() -> Limits {
    Limits {
        max_bulk: 10,
        max_elements: 3,
        max_depth: 2,
        max_line: 8,
        max_buffered: 64,
    }
}

fn refused(limits: Limits, bytes: &[u8]) -> String {
    let mut decoder = Decoder::new(limits);
    let result = decoder.feed(bytes).and_then(|()| decoder.next());
    match result {
        Err(RespError(why)) => why,
        Ok(value) => panic!("{bytes:?} decoded as {value:?}"),
    }
}

#[test]
fn sizes_over_the_limits_are_refused_from_the_header_alone() {
    // Nothing of the body has arrived: the header is enough.
    assert!(refused(small(), b"$11\r\n").contains("over the limit"));
    assert!(refused(small(), b"*4\r\n").contains("over the limit"));
    assert!(refused(Limits::default(), b"$99999999999\r\n").contains("over the limit"));
    assert!(refused(Limits::default(), b"*9223372036854775807\r\n").contains("over the limit"));
    assert!(refused(small(), b"*1\r\n*1\r\n*1\r\n").contains("deeper"));
    assert!(refused(small(), b"+123456789").contains("longer than 8"));
    assert!(refused(small(), &[b'x'; 65]).contains("more than 64 bytes"));
    // At the limits, all is well.
    let ok = |bytes: &[u8]| {
        let mut decoder = Decoder::new(small());
        decoder.feed(bytes).unwrap();
        decoder.next().unwrap().unwrap()
    };
    assert_eq!(ok(b"$10\r\n0123456789\r\n"), bulk("0123456789"));
    assert_eq!(
        ok(b"*1\r\n*3\r\n:1\r\n:2\r\n:3\r\n")
            .elements()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(ok(b"+1234567\r\n"), Value::Simple("1234567".into()));
}

#[test]
fn a_reply_growing_past_the_buffer_limit_is_refused() {
    let mut decoder = Decoder::new(Limits {
        max_bulk: 1000,
        max_buffered: 100,
        ..small()
    });
    decoder.feed(b"$500\r\n").unwrap();
    assert_eq!(decoder.next().unwrap(), None);
    let mut failed = false;
    for _ in 0..20 {
        if decoder.feed(&[0; 10]).is_err() {
            failed = true;
            break;
        }
    }
    assert!(failed, "the buffer stays within its limit");
}

#[test]
fn malformed_replies_are_errors() {
    for garbage in [
        &b"\r\n"[..],
        b"?what\r\n",
        b"%1\r\n",
        b"_\r\n",
        b":\r\n",
        b":12a\r\n",
        b":-\r\n",
        b":+5\r\n",
        b": 5\r\n",
        b":99999999999999999999\r\n",
        b"$abc\r\n",
        b"$-2\r\n",
        b"*-5\r\n",
        b"$3\r\nabcXY",
        b"$3\r\nabcd\r\n",
        b"*1\r\n!x\r\n",
    ] {
        refused(Limits::default(), garbage);
    }
}

#[test]
fn unfinished_replies_wait_for_more() {
    for part in [
        &b""[..],
        b"+OK",
        b"+OK\r",
        b"$5\r\nhel",
        b"$5\r\nhello\r",
        b"*2\r\n:1\r\n",
        b"*1\r\n*1\r\n",
    ] {
        let mut decoder = Decoder::new(Limits::default());
        decoder.feed(part).unwrap();
        assert_eq!(decoder.next().unwrap(), None, "{part:?}");
    }
}

#[test]
fn random_garbage_never_panics_and_stays_bounded() {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"+-:$*\r\n0123456789-ab";
    for _ in 0..20_000 {
        let len = (next() % 40) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                let r = next();
                if r % 4 == 0 {
                    r as u8
                } else {
                    alphabet[(r as usize >> 8) % alphabet.len()]
                }
            })
            .collect();
        let mut decoder = Decoder::new(small());
        if decoder.feed(&bytes).is_err() {
            continue;
        }
        for _ in 0..50 {
            match decoder.next() {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }
}

#[test]
fn commands_are_arrays_of_binary_safe_bulk_strings() {
    let mut out = Vec::new();
    Cmd::new("SET")
        .arg("key")
        .arg(&b"a\r\nb\0"[..])
        .arg(42u64)
        .encode(&mut out);
    assert_eq!(
        out,
        b"*4\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\na\r\nb\0\r\n$2\r\n42\r\n"
    );
    // And what Redis would echo back of it decodes to the same bytes.
    let mut decoder = Decoder::new(Limits::default());
    decoder.feed(&out).unwrap();
    let Some(Value::Array(args)) = decoder.next().unwrap() else {
        panic!("an array");
    };
    assert_eq!(args[2], Value::Bulk(b"a\r\nb\0".to_vec()));
    assert_eq!(Cmd::new("AUTH").arg("secret").name(), "AUTH");
}

#[test]
fn accessors_and_display() {
    assert_eq!(bulk("12").integer(), Some(12));
    assert_eq!(Value::Integer(3).integer(), Some(3));
    assert_eq!(Value::Simple("OK".into()).text(), Some("OK"));
    assert_eq!(Value::Bulk(vec![0xff]).text(), None);
    assert_eq!(Value::Nil.elements(), Some(&[][..]));
    assert_eq!(Value::Integer(1).elements(), None);
    let shown = Value::Array(vec![
        bulk("a"),
        Value::Nil,
        Value::Integer(2),
        Value::Error("ERR e".into()),
        Value::Simple("OK".into()),
        Value::Bulk(vec![b'x'; 100]),
    ])
    .to_string();
    assert!(shown.starts_with("[\"a\", (nil), (integer) 2, (error) ERR e, OK, \"xxx"));
    assert!(shown.ends_with("…(100 bytes)]"), "{shown}");
}
