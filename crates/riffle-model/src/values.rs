use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Opaque bytes (`Data`). JSON carries them as standard base64 text, CBOR as a
/// byte string; serde's `is_human_readable` tells the two apart.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Blob(pub Vec<u8>);

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blob({} bytes)", self.0.len())
    }
}

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            // Streamed into the output (serde_json's collect_str): no String per record.
            s.collect_str(&base64::display::Base64Display::new(
                &self.0,
                &base64::engine::general_purpose::STANDARD,
            ))
        } else {
            s.serialize_bytes(&self.0)
        }
    }
}

/// JSON input (Firehose's configurations are built from the validated tree
/// through serde): standard base64 text.
impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::Engine as _;
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map(Blob)
            .map_err(serde::de::Error::custom)
    }
}

/// A point in time with millisecond precision. JSON carries epoch seconds as a
/// plain decimal number (`1441215410.867`); CBOR carries integer epoch
/// milliseconds, which is what the Java SDK v2 parses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn millis(self) -> i64 {
        self.0
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            // Whole seconds serialize as an integer, others as `secs.millis`;
            // ryu prints these magnitudes without an exponent.
            if self.0 % 1000 == 0 {
                s.serialize_i64(self.0 / 1000)
            } else {
                s.serialize_f64(self.0 as f64 / 1000.0)
            }
        } else {
            s.serialize_i64(self.0)
        }
    }
}

/// JSON input: epoch seconds, integer or fractional.
impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let secs = f64::deserialize(d)?;
        Ok(Timestamp((secs * 1000.0).round() as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_encodings() {
        assert_eq!(
            serde_json::to_string(&Blob(b"hi".to_vec())).ok(),
            Some("\"aGk=\"".into())
        );
        // Longer than base64's display chunk, with a length that needs padding.
        let big: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
        use base64::Engine as _;
        assert_eq!(
            serde_json::to_string(&Blob(big.clone())).ok(),
            Some(format!(
                "\"{}\"",
                base64::engine::general_purpose::STANDARD.encode(&big)
            ))
        );
        assert_eq!(
            serde_json::to_string(&Timestamp(1441215410867)).ok(),
            Some("1441215410.867".into())
        );
        assert_eq!(
            serde_json::to_string(&Timestamp(1441215410000)).ok(),
            Some("1441215410".into())
        );
    }
}
