//! SHA-256 (FIPS 180-4 §6.2), the hash under [`super::hmac`] and
//! [`super::pbkdf2`].
//!
//! [`Sha256`] hashes a message fed in pieces; [`sha256`] hashes one slice. The
//! tests check both against the FIPS 180-2 / NIST example vectors.

use std::fmt;

/// Length of a SHA-256 digest in bytes.
pub const DIGEST_LEN: usize = 32;

/// Length of the blocks SHA-256 works on, in bytes (HMAC pads its key to this).
pub const BLOCK_LEN: usize = 64;

/// The initial hash value (FIPS 180-4 §5.3.3): the first 32 bits of the
/// fractional parts of the square roots of the first 8 primes.
const INITIAL_STATE: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// The round constants (FIPS 180-4 §4.2.2): the first 32 bits of the
/// fractional parts of the cube roots of the first 64 primes.
const K: [u32; 64] = [
    0x428a_2f98,
    0x7137_4491,
    0xb5c0_fbcf,
    0xe9b5_dba5,
    0x3956_c25b,
    0x59f1_11f1,
    0x923f_82a4,
    0xab1c_5ed5,
    0xd807_aa98,
    0x1283_5b01,
    0x2431_85be,
    0x550c_7dc3,
    0x72be_5d74,
    0x80de_b1fe,
    0x9bdc_06a7,
    0xc19b_f174,
    0xe49b_69c1,
    0xefbe_4786,
    0x0fc1_9dc6,
    0x240c_a1cc,
    0x2de9_2c6f,
    0x4a74_84aa,
    0x5cb0_a9dc,
    0x76f9_88da,
    0x983e_5152,
    0xa831_c66d,
    0xb003_27c8,
    0xbf59_7fc7,
    0xc6e0_0bf3,
    0xd5a7_9147,
    0x06ca_6351,
    0x1429_2967,
    0x27b7_0a85,
    0x2e1b_2138,
    0x4d2c_6dfc,
    0x5338_0d13,
    0x650a_7354,
    0x766a_0abb,
    0x81c2_c92e,
    0x9272_2c85,
    0xa2bf_e8a1,
    0xa81a_664b,
    0xc24b_8b70,
    0xc76c_51a3,
    0xd192_e819,
    0xd699_0624,
    0xf40e_3585,
    0x106a_a070,
    0x19a4_c116,
    0x1e37_6c08,
    0x2748_774c,
    0x34b0_bcb5,
    0x391c_0cb3,
    0x4ed8_aa4a,
    0x5b9c_ca4f,
    0x682e_6ff3,
    0x748f_82ee,
    0x78a5_636f,
    0x84c8_7814,
    0x8cc7_0208,
    0x90be_fffa,
    0xa450_6ceb,
    0xbef9_a3f7,
    0xc671_78f2,
];

/// A SHA-256 computation in progress: feed it with [`update`](Self::update),
/// end it with [`finalize`](Self::finalize).
///
/// Cloning one is cheap and gives a copy that can go on independently, which is
/// how [`super::hmac`] reuses a keyed state. Its `Debug` output shows nothing of
/// what it was fed, which may be a password.
#[derive(Clone)]
pub struct Sha256 {
    state: [u32; 8],
    /// The start of a block not yet compressed: `buffer[..buffered]`.
    buffer: [u8; BLOCK_LEN],
    /// Always less than `BLOCK_LEN` between calls.
    buffered: usize,
    /// Bytes fed so far (the padding records it in bits, modulo 2^64).
    len: u64,
}

impl Sha256 {
    /// A computation that has been fed nothing yet.
    pub fn new() -> Self {
        Sha256 {
            state: INITIAL_STATE,
            buffer: [0; BLOCK_LEN],
            buffered: 0,
            len: 0,
        }
    }

    /// Feeds `data`, the next piece of the message.
    pub fn update(&mut self, mut data: &[u8]) {
        self.len = self.len.wrapping_add(data.len() as u64);
        if self.buffered > 0 {
            // Top up the partial block first.
            let take = data.len().min(BLOCK_LEN - self.buffered);
            let (head, rest) = data.split_at(take);
            self.buffer[self.buffered..self.buffered + take].copy_from_slice(head);
            self.buffered += take;
            data = rest;
            if self.buffered < BLOCK_LEN {
                return;
            }
            compress(&mut self.state, &self.buffer);
            self.buffered = 0;
        }
        let mut blocks = data.chunks_exact(BLOCK_LEN);
        for block in &mut blocks {
            compress(&mut self.state, block);
        }
        let rest = blocks.remainder();
        self.buffer[..rest.len()].copy_from_slice(rest);
        self.buffered = rest.len();
    }

    /// The digest of everything fed.
    pub fn finalize(mut self) -> [u8; DIGEST_LEN] {
        // Padding (FIPS 180-4 §5.1.1): a 1 bit, zeros up to 8 bytes short of a
        // block boundary, then the message length in bits, big-endian.
        let bit_len = self.len.wrapping_mul(8);
        let zeros_until = if self.buffered < BLOCK_LEN - 8 {
            BLOCK_LEN - 8
        } else {
            2 * BLOCK_LEN - 8
        };
        let mut padding = [0u8; BLOCK_LEN];
        padding[0] = 0x80;
        self.update(&padding[..zeros_until - self.buffered]);
        self.update(&bit_len.to_be_bytes());
        debug_assert_eq!(self.buffered, 0);
        let mut digest = [0u8; DIGEST_LEN];
        for (out, word) in digest.chunks_exact_mut(4).zip(self.state) {
            out.copy_from_slice(&word.to_be_bytes());
        }
        digest
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sha256").finish_non_exhaustive()
    }
}

/// The SHA-256 digest of `data`.
pub fn sha256(data: &[u8]) -> [u8; DIGEST_LEN] {
    let mut hasher = Sha256::new();
    hasher.update(data);
    hasher.finalize()
}

/// Mixes one 64-byte block into the state (FIPS 180-4 §6.2.2).
fn compress(state: &mut [u32; 8], block: &[u8]) {
    let mut w = [0u32; 64];
    for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    for t in 16..64 {
        let s0 = w[t - 15].rotate_right(7) ^ w[t - 15].rotate_right(18) ^ (w[t - 15] >> 3);
        let s1 = w[t - 2].rotate_right(17) ^ w[t - 2].rotate_right(19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16]
            .wrapping_add(s0)
            .wrapping_add(w[t - 7])
            .wrapping_add(s1);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
    for (&k, &word) in K.iter().zip(&w) {
        let sigma1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let choose = (e & f) ^ (!e & g);
        let t1 = h
            .wrapping_add(sigma1)
            .wrapping_add(choose)
            .wrapping_add(k)
            .wrapping_add(word);
        let sigma0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let majority = (a & b) ^ (a & c) ^ (b & c);
        let t2 = sigma0.wrapping_add(majority);
        h = g;
        g = f;
        f = e;
        e = d.wrapping_add(t1);
        d = c;
        c = b;
        b = a;
        a = t1.wrapping_add(t2);
    }
    for (s, v) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
        *s = s.wrapping_add(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    const ABC_448: &[u8] = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    const ABC_896: &[u8] = b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn\
        hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";

    #[test]
    fn fips_180_vectors() {
        let cases: [(&[u8], &str); 4] = [
            (
                b"",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                b"abc",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                ABC_448,
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
            (
                ABC_896,
                "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
            ),
        ];
        for (message, expected) in cases {
            assert_eq!(hex(&sha256(message)), expected, "{} bytes", message.len());
        }
    }

    #[test]
    fn one_million_a() {
        assert_eq!(
            hex(&sha256(&vec![b'a'; 1_000_000])),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }

    #[test]
    fn one_million_a_in_uneven_pieces() {
        // Pieces of 1 to 200 bytes, so the buffer is hit at every fill level.
        let data = vec![b'a'; 1_000_000];
        let mut hasher = Sha256::new();
        let mut rest = &data[..];
        let mut size = 1;
        while !rest.is_empty() {
            let (piece, tail) = rest.split_at(size.min(rest.len()));
            hasher.update(piece);
            rest = tail;
            size = size % 200 + 1;
        }
        assert_eq!(hasher.finalize(), sha256(&data));
    }

    #[test]
    fn split_at_every_offset() {
        for message in [ABC_448, ABC_896] {
            let whole = sha256(message);
            for i in 0..=message.len() {
                let mut hasher = Sha256::new();
                hasher.update(&message[..i]);
                hasher.update(&message[i..]);
                assert_eq!(hasher.finalize(), whole, "split at {i}");
                for j in i..=message.len() {
                    let mut hasher = Sha256::new();
                    hasher.update(&message[..i]);
                    hasher.update(&message[i..j]);
                    hasher.update(&message[j..]);
                    assert_eq!(hasher.finalize(), whole, "split at {i} and {j}");
                }
            }
            let mut bytewise = Sha256::new();
            for byte in message {
                bytewise.update(&[*byte]);
            }
            assert_eq!(bytewise.finalize(), whole, "a byte at a time");
        }
    }

    #[test]
    fn padding_boundaries() {
        // Lengths around where the padding needs a second block, and around the
        // block size, checked against digests computed by coreutils' sha256sum.
        let cases = [
            (
                55,
                "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318",
            ),
            (
                56,
                "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a",
            ),
            (
                57,
                "f13b2d724659eb3bf47f2dd6af1accc87b81f09f59f2b75e5c0bed6589dfe8c6",
            ),
            (
                63,
                "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34",
            ),
            (
                64,
                "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb",
            ),
            (
                65,
                "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0",
            ),
        ];
        for (len, expected) in cases {
            assert_eq!(hex(&sha256(&vec![b'a'; len])), expected, "{len} bytes");
        }
    }

    #[test]
    fn debug_shows_nothing_fed() {
        let mut hasher = Sha256::new();
        hasher.update(b"hunter2");
        assert_eq!(format!("{hasher:?}"), "Sha256 { .. }");
    }
}
