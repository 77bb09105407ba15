//! Base64 (RFC 4648 §4: the standard alphabet, with `=` padding): encoding for
//! the WebSocket handshake's `Sec-WebSocket-Accept` header and password
//! records, strict decoding for reading those records back.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `data` in base64, padded to a multiple of four characters.
pub fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for group in data.chunks(3) {
        let bytes = [
            group[0],
            group.get(1).copied().unwrap_or(0),
            group.get(2).copied().unwrap_or(0),
        ];
        let bits = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]);
        // A group of n bytes gives n + 1 characters; `=` fills the rest.
        for i in 0..4 {
            if i <= group.len() {
                let index = (bits >> (18 - 6 * i)) & 0x3f;
                out.push(char::from(ALPHABET[index as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 with padding (RFC 4648 §4), the inverse of
/// [`encode`]. Strict: `None` unless `text` is exactly what
/// `encode` would give for some bytes (length a multiple of 4, `=` only as
/// the last one or two characters, unused bits zero, no whitespace).
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let text = text.as_bytes();
    if !text.len().is_multiple_of(4) {
        return None;
    }
    let groups = text.len() / 4;
    let mut out = Vec::with_capacity(groups * 3);
    for (index, group) in text.chunks_exact(4).enumerate() {
        let padding = group.iter().rev().take_while(|&&c| c == b'=').count();
        if padding > 2 || (padding > 0 && index + 1 != groups) {
            return None;
        }
        let mut bits = 0u32;
        for &c in group.iter().take(4 - padding) {
            bits = bits << 6 | sextet(c)?;
        }
        bits <<= 6 * padding;
        // bits is [0, b0, b1, b2]; padding drops the last one or two bytes,
        // which must then be zero for the text to be canonical.
        let [_, bytes @ ..] = bits.to_be_bytes();
        let (kept, dropped) = bytes.split_at(3 - padding);
        if dropped.iter().any(|&b| b != 0) {
            return None;
        }
        out.extend_from_slice(kept);
    }
    Some(out)
}

/// The value of one base64 character, `None` for anything outside the
/// standard alphabet.
fn sextet(c: u8) -> Option<u32> {
    let value = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4648 §10.
    const VECTORS: [(&str, &str); 7] = [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ];

    #[test]
    fn base64_decodes_what_encode_gives() {
        for (plain, encoded) in VECTORS {
            assert_eq!(decode(encoded).unwrap(), plain.as_bytes(), "{encoded}");
        }
        for len in 0..=100 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let encoded = encode(&data);
            assert_eq!(decode(&encoded).unwrap(), data, "{encoded}");
        }
        let every_byte: Vec<u8> = (0..=255).collect();
        let encoded = encode(&every_byte);
        assert_eq!(decode(&encoded).unwrap(), every_byte);
    }

    #[test]
    fn base64_refuses_what_encode_never_gives() {
        for text in [
            "Z",
            "Zg",
            "Zg=",
            "Zg===",
            "====",
            "Z===",
            "=Zg=",
            "Zg=a",
            "Zg==Zg==",
            "Zh==",
            "Zm9=",
            "Zm8",
            "Zm 8=",
            " Zm8=",
            "Zm8=\n",
            "Zm8-",
            "Zm8_",
            "Zm8\u{e9}",
        ] {
            assert_eq!(decode(text), None, "{text:?}");
        }
    }

    #[test]
    fn rfc_4648_vectors() {
        for (plain, encoded) in VECTORS {
            assert_eq!(encode(plain.as_bytes()), encoded, "{plain:?}");
        }
    }

    #[test]
    fn uses_the_whole_alphabet() {
        // 0x00 0x10 0x83 ... covers every 6-bit value once, in order.
        let data: Vec<u8> = (0..16u32)
            .flat_map(|i| {
                let bits = (4 * i) << 18 | (4 * i + 1) << 12 | (4 * i + 2) << 6 | (4 * i + 3);
                [(bits >> 16) as u8, (bits >> 8) as u8, bits as u8]
            })
            .collect();
        assert_eq!(encode(&data).as_bytes(), ALPHABET);
    }
}
