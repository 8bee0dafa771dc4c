//! The generic value tree a request body is decoded into once, by serde_json
//! (JSON) or ciborium (CBOR), through the same visitor code.
//!
//! * JSON strings without escapes are borrowed from the body (`Cow::Borrowed`),
//!   so a base64 `Data` member is never copied before it is decoded.
//! * CBOR tags are dropped (tag 1 + integer millis arrives as the integer);
//!   bignum tags 2/3 arrive as integers (ciborium handles them).
//! * Map keys that are not text (CBOR only) are dropped; duplicate keys are kept
//!   and lookups take the last one, as `JSON.parse` does.

use serde::de::{
    self, Deserialize, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use std::borrow::Cow;
use std::fmt;

/// Upper bound on pre-allocation from a (CBOR) declared container length.
const MAX_PREALLOC: usize = 1024;

#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    Array(Vec<Value<'a>>),
    Map(Vec<(Cow<'a, str>, Value<'a>)>),
}

impl Value<'_> {
    pub fn is_map(&self) -> bool {
        matches!(self, Value::Map(_))
    }
}

/// Parses a JSON body; strings without escapes borrow from `body`.
pub fn parse_json(body: &[u8]) -> Option<Value<'_>> {
    serde_json::from_slice(body).ok()
}

/// Parses a CBOR body (one top-level item; trailing bytes are ignored).
pub fn parse_cbor(body: &[u8]) -> Option<Value<'static>> {
    let mut scratch = [0u8; 16 * 1024];
    ciborium::de::from_reader_with_buffer::<OwnedValue, _>(body, &mut scratch)
        .ok()
        .map(|v| v.0)
}

/// A [`Value`] that owns all its data; ciborium only offers `DeserializeOwned`.
#[derive(Clone, Debug, PartialEq)]
pub struct OwnedValue(pub Value<'static>);

macro_rules! common_visits {
    ($elem:ty, $unwrap:expr) => {
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON or CBOR value")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Value::Int(i128::from(v)))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Value::Int(i128::from(v)))
        }
        fn visit_i128<E: de::Error>(self, v: i128) -> Result<Self::Value, E> {
            Ok(Value::Int(v))
        }
        fn visit_u128<E: de::Error>(self, v: u128) -> Result<Self::Value, E> {
            Ok(match i128::try_from(v) {
                Ok(i) => Value::Int(i),
                Err(_) => Value::Float(v as f64),
            })
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Value::Float(v))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Value::Str(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Value::Str(Cow::Owned(v)))
        }
        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
            Ok(Value::Bytes(Cow::Owned(v.to_vec())))
        }
        fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Self::Value, E> {
            Ok(Value::Bytes(Cow::Owned(v)))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Value::Null)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Value::Null)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            <$elem>::deserialize(d).map($unwrap)
        }
        fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            <$elem>::deserialize(d).map($unwrap)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_PREALLOC));
            while let Some(v) = seq.next_element::<$elem>()? {
                out.push($unwrap(v));
            }
            Ok(Value::Array(out))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(MAX_PREALLOC));
            while let Some(k) = map.next_key::<$elem>()? {
                let v = $unwrap(map.next_value::<$elem>()?);
                if let Value::Str(k) = $unwrap(k) {
                    out.push((k, v));
                }
            }
            Ok(Value::Map(out))
        }
        /// ciborium presents a CBOR tag as an enum with a `(tag, value)` tuple variant;
        /// the tag is dropped.
        fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
            let (_name, variant): (de::IgnoredAny, _) = data.variant()?;
            variant
                .tuple_variant(2, Tagged::<$elem>(std::marker::PhantomData))
                .map($unwrap)
        }
    };
}

/// Reads ciborium's `(tag, value)` tuple and keeps the value.
struct Tagged<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for Tagged<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a CBOR tag and its value")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
        let _tag: de::IgnoredAny = seq
            .next_element()?
            .ok_or_else(|| de::Error::custom("expected tag"))?;
        seq.next_element::<T>()?
            .ok_or_else(|| de::Error::custom("expected tagged value"))
    }
}

struct BorrowingVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for BorrowingVisitor<'a> {
    type Value = Value<'a>;
    common_visits!(Value<'a>, |v: Value<'a>| v);

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Value::Str(Cow::Borrowed(v)))
    }
    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Self::Value, E> {
        Ok(Value::Bytes(Cow::Borrowed(v)))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Value<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BorrowingVisitor(std::marker::PhantomData))
    }
}

struct OwningVisitor;

impl<'de> Visitor<'de> for OwningVisitor {
    type Value = Value<'static>;
    common_visits!(OwnedValue, |v: OwnedValue| v.0);
}

impl<'de> Deserialize<'de> for OwnedValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OwningVisitor).map(OwnedValue)
    }
}

impl Serialize for Value<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => {
                if let Ok(v) = i64::try_from(*i) {
                    s.serialize_i64(v)
                } else if let Ok(v) = u64::try_from(*i) {
                    s.serialize_u64(v)
                } else {
                    s.serialize_i128(*i)
                }
            }
            Value::Float(f) => s.serialize_f64(*f),
            Value::Str(v) => s.serialize_str(v),
            Value::Bytes(v) => s.serialize_bytes(v),
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Map(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k.as_ref(), v)?;
                }
                map.end()
            }
        }
    }
}

impl Serialize for OwnedValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_borrow_when_unescaped() {
        let body = br#"{"Data":"aGk=","Esc":"a\/b"}"#;
        let v = parse_json(body);
        let Some(Value::Map(entries)) = v else {
            panic!("not a map: {v:?}")
        };
        assert!(matches!(&entries[0].1, Value::Str(Cow::Borrowed("aGk="))));
        assert!(matches!(&entries[1].1, Value::Str(Cow::Owned(s)) if s == "a/b"));
    }

    #[test]
    fn cbor_tag_is_dropped_and_bytes_kept() {
        // {"Timestamp": 1(1600000000123), "Data": h'0102'}
        let mut body = vec![0xa2, 0x69];
        body.extend_from_slice(b"Timestamp");
        body.extend_from_slice(&[0xc1, 0x1b]);
        body.extend_from_slice(&1_600_000_000_123u64.to_be_bytes());
        body.push(0x64);
        body.extend_from_slice(b"Data");
        body.extend_from_slice(&[0x42, 1, 2]);
        let v = parse_cbor(&body);
        assert_eq!(
            v,
            Some(Value::Map(vec![
                ("Timestamp".into(), Value::Int(1_600_000_000_123)),
                ("Data".into(), Value::Bytes(Cow::Owned(vec![1, 2]))),
            ]))
        );
    }

    #[test]
    fn cbor_non_text_keys_dropped_and_huge_declared_lengths_do_not_allocate() {
        // {1: 2, "a": 3}
        let v = parse_cbor(&[0xa2, 0x01, 0x02, 0x61, b'a', 0x03]);
        assert_eq!(v, Some(Value::Map(vec![("a".into(), Value::Int(3))])));
        // array claiming 2^32-1 elements, then EOF: must fail, not abort.
        assert_eq!(parse_cbor(&[0x9a, 0xff, 0xff, 0xff, 0xff]), None);
        // byte string claiming 2^63 bytes.
        assert_eq!(
            parse_cbor(&[0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            None
        );
    }
}
