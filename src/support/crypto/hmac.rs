//! HMAC-SHA-256 (RFC 2104, FIPS 198-1): a keyed hash, the pseudorandom function
//! of [`super::pbkdf2`].
//!
//! `HMAC(K, m) = H((K' ^ opad) || H((K' ^ ipad) || m))`, where `K'` is the key
//! zero-padded to a block (or its digest, if longer than a block). The tests
//! check it against RFC 4231's test cases.

use std::fmt;

use super::sha256::{Sha256, BLOCK_LEN, DIGEST_LEN};

const IPAD: u8 = 0x36;
const OPAD: u8 = 0x5c;

/// An HMAC-SHA-256 computation in progress: keyed by [`new`](Self::new), fed
/// with [`update`](Self::update), ended by [`finalize`](Self::finalize).
///
/// It holds the two hash states that have already absorbed the padded key, so
/// a clone of a fresh one computes another MAC under the same key without
/// touching the key again (what [`super::pbkdf2`] does in its loop). Its
/// `Debug` output shows neither the key nor the message.
#[derive(Clone)]
pub struct HmacSha256 {
    /// Has absorbed `K' ^ ipad`, then the message.
    inner: Sha256,
    /// Has absorbed `K' ^ opad`; gets the inner digest at the end.
    outer: Sha256,
}

impl HmacSha256 {
    /// A computation under `key`, of any length.
    pub fn new(key: &[u8]) -> Self {
        let mut padded = [0u8; BLOCK_LEN];
        if key.len() > BLOCK_LEN {
            padded[..DIGEST_LEN].copy_from_slice(&super::sha256::sha256(key));
        } else {
            padded[..key.len()].copy_from_slice(key);
        }
        let mut inner = Sha256::new();
        let mut outer = Sha256::new();
        inner.update(&padded.map(|b| b ^ IPAD));
        outer.update(&padded.map(|b| b ^ OPAD));
        HmacSha256 { inner, outer }
    }

    /// Feeds `data`, the next piece of the message.
    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
    }

    /// The MAC of everything fed.
    pub fn finalize(self) -> [u8; DIGEST_LEN] {
        let HmacSha256 { inner, mut outer } = self;
        outer.update(&inner.finalize());
        outer.finalize()
    }
}

impl fmt::Debug for HmacSha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacSha256").finish_non_exhaustive()
    }
}

/// The HMAC-SHA-256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; DIGEST_LEN] {
    let mut mac = HmacSha256::new(key);
    mac.update(data);
    mac.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn rfc_4231_test_cases() {
        let key_4: Vec<u8> = (0x01..=0x19).collect();
        let cases: [(&str, &[u8], &[u8], &str); 7] = [
            (
                "1",
                &[0x0b; 20],
                b"Hi There",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                "2: a key shorter than the digest",
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                "3: key and data of 0xaa and 0xdd",
                &[0xaa; 20],
                &[0xdd; 50],
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            ),
            (
                "4",
                &key_4,
                &[0xcd; 50],
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            ),
            (
                "5: truncated to 128 bits",
                &[0x0c; 20],
                b"Test With Truncation",
                "a3b6167473100ee06e0c796c2955552b",
            ),
            (
                "6: a key larger than a block",
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                "7: key and data larger than a block",
                &[0xaa; 131],
                b"This is a test using a larger than block-size key and a larger \
                  than block-size data. The key needs to be hashed before being \
                  used by the HMAC algorithm.",
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for (case, key, data, expected) in cases {
            let mac = hmac_sha256(key, data);
            // Case 5 gives only the first 128 bits; the others the whole MAC.
            assert_eq!(hex(&mac[..expected.len() / 2]), expected, "case {case}");
        }
    }

    #[test]
    fn streaming_and_cloning_agree_with_one_shot() {
        let key = b"key";
        let data = b"The quick brown fox jumps over the lazy dog";
        let expected = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8";
        let keyed = HmacSha256::new(key);
        for split in 0..=data.len() {
            let mut mac = keyed.clone();
            mac.update(&data[..split]);
            mac.update(&data[split..]);
            assert_eq!(hex(&mac.finalize()), expected, "split at {split}");
        }
    }

    #[test]
    fn keys_around_the_block_size() {
        // Up to 64 bytes a key is zero-padded, past that hashed first; checked
        // against Python's hmac module.
        let cases = [
            (
                63,
                "ba3a3d1905168d28dbdab858607d772232ccd1dd2a7357ac7ad394575dc03f24",
            ),
            (
                64,
                "3e2dff13376eef21c977d2636c96b03becad305320781276694855a3ea9eb883",
            ),
            (
                65,
                "fa63b55186884d14c455b7ab021febf9908fa85bb9ed025feb1d8fda3ce7982f",
            ),
        ];
        for (len, expected) in cases {
            let key = vec![0x42; len];
            assert_eq!(
                hex(&hmac_sha256(&key, b"message")),
                expected,
                "{len}-byte key"
            );
        }
    }

    #[test]
    fn debug_shows_neither_key_nor_message() {
        let mut mac = HmacSha256::new(b"hunter2");
        mac.update(b"hunter2");
        assert_eq!(format!("{mac:?}"), "HmacSha256 { .. }");
    }
}
