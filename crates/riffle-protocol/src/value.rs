//! The generic value tree a request body is decoded into once: JSON by our
//! parser in `json.rs` (tested to build exactly what serde_json builds through
//! the visitor below), CBOR by ciborium through that visitor.
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

/// How many container elements a body of `len` bytes may parse into. Every
/// element costs at least one byte on the wire but ~50 bytes in the tree, so
/// without a budget a 16 MiB body of `[0,0,...]` would take ~400 MiB; with it
/// a tree stays within ~15x its body (plus a constant). Legitimate requests
/// spend far less: a PutRecords entry is ~30 bytes for 3 elements.
pub fn node_budget(len: usize) -> usize {
    len / 4 + 4096
}

thread_local! {
    /// Elements the parse running on this thread may still create.
    static BUDGET: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

/// Runs one parse with the budget for a body of `len` bytes.
fn with_budget<T>(len: usize, parse: impl FnOnce() -> T) -> T {
    let saved = BUDGET.with(|b| b.replace(node_budget(len)));
    let out = parse();
    BUDGET.with(|b| b.set(saved));
    out
}

fn spend<E: de::Error>() -> Result<(), E> {
    BUDGET.with(|b| match b.get().checked_sub(1) {
        Some(left) => {
            b.set(left);
            Ok(())
        }
        None => Err(E::custom("request body has too many elements for its size")),
    })
}

mod json;

/// Parses a JSON body; strings without escapes borrow from `body`. The same
/// tree, and the same refusals, as serde_json through [`Value`]'s
/// `Deserialize` (see `json.rs` for why it is not serde_json itself).
pub fn parse_json(body: &[u8]) -> Option<Value<'_>> {
    json::parse(body)
}

/// [`parse_json`] as serde_json does it: the reference the fast parser is
/// tested against.
#[cfg(test)]
fn parse_json_serde(body: &[u8]) -> Option<Value<'_>> {
    with_budget(body.len(), || serde_json::from_slice(body).ok())
}

/// Parses a CBOR body (one top-level item; trailing bytes are ignored).
pub fn parse_cbor(body: &[u8]) -> Option<Value<'static>> {
    with_budget(body.len(), || {
        let mut scratch = [0u8; 16 * 1024];
        ciborium::de::from_reader_with_buffer::<OwnedValue, _>(body, &mut scratch)
            .ok()
            .map(|v| v.0)
    })
}

/// Whether `body` is one JSON object (or CBOR map), checked without building
/// anything: what AWS answers for a request it will not run still depends on it.
pub fn is_object(format: crate::Format, body: &[u8]) -> bool {
    match format {
        crate::Format::Json => serde_json::from_slice::<IsObject>(body).is_ok(),
        crate::Format::Cbor => {
            let mut scratch = [0u8; 16 * 1024];
            ciborium::de::from_reader_with_buffer::<IsObject, _>(body, &mut scratch).is_ok()
        }
    }
}

/// Accepts a map of anything, skipped; fails on every other value.
struct IsObject;

impl<'de> Deserialize<'de> for IsObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = IsObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<IsObject, A::Error> {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(IsObject)
            }
        }
        d.deserialize_any(V)
    }
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
            spend()?;
            while let Some(v) = seq.next_element::<$elem>()? {
                spend()?;
                out.push($unwrap(v));
            }
            Ok(Value::Array(out))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(MAX_PREALLOC));
            spend()?;
            while let Some(k) = map.next_key::<$elem>()? {
                spend()?;
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

    #[test]
    fn element_budget_bounds_the_tree() {
        // 200,000 elements in ~400 KB: over the budget (~104,000), refused.
        let dense = format!("{{\"a\":[{}0]}}", "0,".repeat(200_000));
        assert!(node_budget(dense.len()) < 200_000);
        assert_eq!(parse_json(dense.as_bytes()), None);
        // Still valid JSON: the syntax-only scan accepts it.
        assert!(is_object(crate::Format::Json, dense.as_bytes()));
        // The same count of elements with realistic payloads fits.
        let roomy = format!("{{\"a\":[{}0]}}", "\"abcdefghijklmnop\",".repeat(100_000));
        assert!(parse_json(roomy.as_bytes()).is_some());
        // A failed parse leaves no budget behind for the next one.
        assert!(parse_json(br#"{"a":[1,2,3]}"#).is_some());
    }

    #[test]
    fn is_object_matches_parse() {
        for body in [
            &b"{}"[..],
            b"[]",
            b"1",
            b"{\"a\":",
            b"{\"a\":1} x",
            b"null",
            b" {} ",
        ] {
            assert_eq!(
                is_object(crate::Format::Json, body),
                parse_json(body).is_some_and(|v| v.is_map()),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(is_object(crate::Format::Cbor, &[0xa1, 0x61, b'a', 0x01]));
        assert!(!is_object(crate::Format::Cbor, &[0x81, 0x01]));
        assert!(!is_object(crate::Format::Cbor, &[0xa1, 0x61]));
    }
}
