//! Validated request members, lined up with their schema, for a service's
//! request builder to move into its typed input.

use crate::schema::{Member, Ty};
use crate::typecheck::{BlobValue, Checked};
use bytes::Bytes;
use riffle_model::{RecordData, Timestamp};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Struct fields lined up with their schema members; values are moved out.
pub struct Fields<'a> {
    members: &'static [Member],
    vals: Vec<Option<Checked<'a>>>,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(members: &'static [Member], vals: Vec<Option<Checked<'a>>>) -> Self {
        Fields { members, vals }
    }

    fn index(&self, name: &str) -> Option<usize> {
        let i = self.members.iter().position(|m| m.name == name);
        debug_assert!(i.is_some(), "{name} is not in the schema");
        i
    }

    fn take(&mut self, name: &str) -> Option<Checked<'a>> {
        let i = self.index(name)?;
        self.vals.get_mut(i)?.take()
    }

    pub fn string(&mut self, name: &str) -> Option<String> {
        match self.take(name)? {
            Checked::Str(s) => Some(s.into_owned()),
            _ => None,
        }
    }

    pub fn int(&mut self, name: &str) -> Option<i64> {
        match self.take(name)? {
            Checked::Int(i) => Some(i),
            _ => None,
        }
    }

    pub fn boolean(&mut self, name: &str) -> Option<bool> {
        match self.take(name)? {
            Checked::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn timestamp(&mut self, name: &str) -> Option<Timestamp> {
        match self.take(name)? {
            Checked::Timestamp(ms) => Some(Timestamp(ms)),
            _ => None,
        }
    }

    pub fn blob(&mut self, name: &str) -> Option<Vec<u8>> {
        match self.take(name)? {
            Checked::Blob(b) => Some(b.into_vec()),
            _ => None,
        }
    }

    /// A blob kept undecoded: base64 text borrowed from `body` (the buffer the
    /// request was decoded from) becomes a slice of it, sharing the buffer;
    /// anything else (CBOR bytes, escaped JSON text, no `body`) is decoded now.
    pub fn record_data(&mut self, name: &str, body: Option<&Bytes>) -> Option<RecordData> {
        match self.take(name)? {
            Checked::Blob(BlobValue::Base64 {
                text: Cow::Borrowed(text),
                len,
            }) if body.is_some_and(|b| within(b, text.as_bytes())) => {
                let body = body?;
                Some(RecordData::from_checked_base64(
                    body.slice_ref(text.as_bytes()),
                    len,
                ))
            }
            Checked::Blob(b) => Some(RecordData::from(b.into_vec())),
            _ => None,
        }
    }

    pub fn strings(&mut self, name: &str) -> Option<Vec<String>> {
        match self.take(name)? {
            Checked::List(items) => Some(
                items
                    .into_iter()
                    .filter_map(|i| match i {
                        Some(Checked::Str(s)) => Some(s.into_owned()),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => None,
        }
    }

    pub fn string_map(&mut self, name: &str) -> Option<BTreeMap<String, String>> {
        match self.take(name)? {
            Checked::Map(entries) => Some(
                entries
                    .into_iter()
                    .filter_map(|(k, v)| match v {
                        Some(Checked::Str(v)) => Some((k.into_owned(), v.into_owned())),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => None,
        }
    }

    pub fn structure(&mut self, name: &str) -> Option<Fields<'a>> {
        let i = self.index(name)?;
        let Ty::Struct(children) = self.members.get(i)?.ty else {
            return None;
        };
        match self.vals.get_mut(i)?.take()? {
            Checked::Struct(vals) => Some(Fields::new(children, vals)),
            _ => None,
        }
    }

    pub fn structures(&mut self, name: &str) -> Option<Vec<Fields<'a>>> {
        let i = self.index(name)?;
        let Ty::List(elem) = self.members.get(i)?.ty else {
            return None;
        };
        let Ty::Struct(children) = elem.ty else {
            return None;
        };
        match self.vals.get_mut(i)?.take()? {
            Checked::List(items) => Some(
                items
                    .into_iter()
                    .filter_map(|item| match item {
                        Some(Checked::Struct(vals)) => Some(Fields::new(children, vals)),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => None,
        }
    }
}

impl Fields<'_> {
    /// The members present, under their wire names, as JSON for an audit
    /// record (CloudTrail's `requestParameters`). Record payloads never go
    /// into the audit trail: blobs are left out, and so are lists whose
    /// elements carry one (PutRecords' `Records`). Timestamps are epoch
    /// seconds, as on the wire.
    pub fn audit_json(&self) -> serde_json::Value {
        struct_json(self.members, &self.vals)
    }
}

fn struct_json(members: &[Member], vals: &[Option<Checked<'_>>]) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (m, v) in members.iter().zip(vals) {
        if let Some(v) = v {
            if let Some(j) = checked_json(&m.ty, v) {
                map.insert(m.name.to_string(), j);
            }
        }
    }
    serde_json::Value::Object(map)
}

/// Whether a value of this type is or holds a record payload.
fn carries_payload(ty: &Ty) -> bool {
    match ty {
        Ty::Blob => true,
        Ty::List(e) | Ty::Map(e) => carries_payload(&e.ty),
        Ty::Struct(ms) => ms.iter().any(|m| carries_payload(&m.ty)),
        _ => false,
    }
}

fn checked_json(ty: &Ty, v: &Checked<'_>) -> Option<serde_json::Value> {
    use serde_json::Value as J;
    Some(match (ty, v) {
        (Ty::Blob, _) => return None,
        (Ty::List(e) | Ty::Map(e), _) if carries_payload(&e.ty) => return None,
        (_, Checked::Str(s)) => J::String(s.to_string()),
        (_, Checked::Int(i)) => J::from(*i),
        (_, Checked::Double(f)) => J::from(*f),
        (_, Checked::Bool(b)) => J::Bool(*b),
        (_, Checked::Timestamp(ms)) => J::from(*ms as f64 / 1000.0),
        (_, Checked::Blob(_)) => return None,
        (Ty::List(e), Checked::List(items)) => J::Array(
            items
                .iter()
                .flatten()
                .filter_map(|i| checked_json(&e.ty, i))
                .collect(),
        ),
        (Ty::Map(e), Checked::Map(entries)) => J::Object(
            entries
                .iter()
                .filter_map(|(k, v)| Some((k.to_string(), checked_json(&e.ty, v.as_ref()?)?)))
                .collect(),
        ),
        (Ty::Struct(ms), Checked::Struct(vals)) => struct_json(ms, vals),
        _ => return None,
    })
}

/// Whether `part` lies inside `whole` (so `Bytes::slice_ref` accepts it).
fn within(whole: &[u8], part: &[u8]) -> bool {
    let (w, p) = (whole.as_ptr_range(), part.as_ptr_range());
    w.start <= p.start && p.end <= w.end
}
