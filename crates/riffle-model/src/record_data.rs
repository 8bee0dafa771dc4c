//! A PutRecords record's `Data` as it arrived, so the engine can decode it
//! once, straight into its shard's batch buffer, instead of into a `Vec` per
//! record that is then copied into the batch.

use bytes::Bytes;

/// A record's data: raw bytes (CBOR requests, in-process callers) or base64
/// text the protocol already validated, sharing the request body.
#[derive(Clone, Default)]
pub struct RecordData(Repr);

#[derive(Clone)]
enum Repr {
    Raw(Vec<u8>),
    /// Strict standard base64 (padded, canonical trailing bits) of `len` bytes.
    Base64 {
        text: Bytes,
        len: usize,
    },
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Raw(Vec::new())
    }
}

impl RecordData {
    /// Base64 text that decodes to `len` bytes, as the protocol checked it.
    /// Nothing is decoded here; if the text is not what the caller says,
    /// [`RecordData::decode_into`] reports it and the record is not stored.
    pub fn from_checked_base64(text: Bytes, len: usize) -> RecordData {
        RecordData(Repr::Base64 { text, len })
    }

    /// Validates `text` as strict base64 (what AWS accepts) and keeps it undecoded.
    pub fn from_base64(text: Bytes) -> Option<RecordData> {
        let len = base64_simd::STANDARD.decoded_length(&text).ok()?;
        base64_simd::STANDARD.check(&text).ok()?;
        Some(RecordData::from_checked_base64(text, len))
    }

    /// The decoded length in bytes.
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Raw(b) => b.len(),
            Repr::Base64 { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the data is still base64 text (decoded only when stored).
    pub fn is_base64(&self) -> bool {
        matches!(self.0, Repr::Base64 { .. })
    }

    /// Writes the decoded bytes into `dst`, which must be exactly
    /// [`RecordData::len`] long; `false` (and `dst` unspecified) if it is not,
    /// or if the text does not decode to that length.
    pub fn decode_into(&self, dst: &mut [u8]) -> bool {
        if dst.len() != self.len() {
            return false;
        }
        match &self.0 {
            Repr::Raw(b) => {
                dst.copy_from_slice(b);
                true
            }
            Repr::Base64 { text, len } => {
                // `decode` asserts room for the decoded length, which it derives
                // from the text itself: check that first so it cannot panic.
                base64_simd::STANDARD.decoded_length(text).ok() == Some(*len)
                    && base64_simd::STANDARD
                        .decode(text, base64_simd::Out::from_slice(dst))
                        .is_ok()
            }
        }
    }

    /// Appends the decoded bytes to `buf` (base64 is decoded straight into its
    /// spare capacity, not zero-filled first); `false` if the text does not
    /// decode to [`RecordData::len`] bytes, with `buf` then unspecified past
    /// its old length.
    pub fn append_to(&self, buf: &mut Vec<u8>) -> bool {
        match &self.0 {
            Repr::Raw(b) => {
                buf.extend_from_slice(b);
                true
            }
            Repr::Base64 { text, len } => {
                let start = buf.len();
                base64_simd::STANDARD.decode_append(text, buf).is_ok() && buf.len() == start + len
            }
        }
    }

    /// The decoded bytes, in a new `Vec` (`None` only if base64 text given to
    /// [`RecordData::from_checked_base64`] was not valid after all).
    pub fn to_vec(&self) -> Option<Vec<u8>> {
        match &self.0 {
            Repr::Raw(b) => Some(b.clone()),
            Repr::Base64 { .. } => {
                let mut out = vec![0; self.len()];
                self.decode_into(&mut out).then_some(out)
            }
        }
    }
}

impl From<Vec<u8>> for RecordData {
    fn from(b: Vec<u8>) -> Self {
        RecordData(Repr::Raw(b))
    }
}

impl From<&[u8]> for RecordData {
    fn from(b: &[u8]) -> Self {
        RecordData(Repr::Raw(b.to_vec()))
    }
}

impl std::fmt::Debug for RecordData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Repr::Raw(b) => write!(f, "RecordData({} bytes)", b.len()),
            Repr::Base64 { len, .. } => write!(f, "RecordData({len} bytes, base64)"),
        }
    }
}

/// Equal when they decode to the same bytes.
impl PartialEq for RecordData {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.to_vec() == other.to_vec()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_into_an_exact_buffer() {
        let d = RecordData::from_base64(Bytes::from_static(b"aGVsbG8h")).unwrap();
        assert!(d.is_base64());
        assert_eq!(d.len(), 6);
        let mut buf = [0u8; 6];
        assert!(d.decode_into(&mut buf));
        assert_eq!(&buf, b"hello!");
        // Wrong sizes are refused, not truncated or overrun.
        assert!(!d.decode_into(&mut [0u8; 5]));
        assert!(!d.decode_into(&mut [0u8; 7]));
        let padded = RecordData::from_base64(Bytes::from_static(b"aGk=")).unwrap();
        assert_eq!(padded.len(), 2);
        assert_eq!(padded.to_vec().unwrap(), b"hi");
        let empty = RecordData::from_base64(Bytes::new()).unwrap();
        assert!(empty.is_empty());
        assert!(empty.decode_into(&mut []));
    }

    #[test]
    fn append_decodes_after_what_the_buffer_holds() {
        let mut buf = b"head".to_vec();
        let d = RecordData::from_base64(Bytes::from_static(b"aGVsbG8h")).unwrap();
        assert!(d.append_to(&mut buf));
        assert!(RecordData::from(b"!!".to_vec()).append_to(&mut buf));
        assert_eq!(buf, b"headhello!!!");
        let wrong_len = RecordData::from_checked_base64(Bytes::from_static(b"aGk="), 3);
        assert!(!wrong_len.append_to(&mut buf));
        let bad = RecordData::from_checked_base64(Bytes::from_static(b"a!k="), 2);
        assert!(!bad.append_to(&mut Vec::new()));
    }

    #[test]
    fn invalid_base64_is_refused() {
        for bad in [
            &b"aGk"[..],  // length not a multiple of 4
            b"aG k",      // not in the alphabet
            b"aGk=aGk=",  // padding inside
            b"+/+=",      // non-canonical trailing bits
            b"A===",      // too much padding
            b"aGk",       // unpadded
            b"aGVsbG8h=", // stray pad
        ] {
            assert!(
                RecordData::from_base64(Bytes::copy_from_slice(bad)).is_none(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn mislabelled_text_never_decodes() {
        // Text that does not match what the caller claimed is reported, never stored.
        let wrong_len = RecordData::from_checked_base64(Bytes::from_static(b"aGk="), 3);
        assert!(!wrong_len.decode_into(&mut [0u8; 3]));
        assert_eq!(wrong_len.to_vec(), None);
        let bad = RecordData::from_checked_base64(Bytes::from_static(b"a!k="), 2);
        assert!(!bad.decode_into(&mut [0u8; 2]));
    }

    #[test]
    fn raw_bytes_copy_as_they_are() {
        let d = RecordData::from(vec![0u8, 255, 7]);
        assert!(!d.is_base64());
        let mut buf = [1u8; 3];
        assert!(d.decode_into(&mut buf));
        assert_eq!(buf, [0, 255, 7]);
        assert_eq!(
            d,
            RecordData::from_base64(Bytes::from_static(b"AP8H")).unwrap()
        );
    }
}
