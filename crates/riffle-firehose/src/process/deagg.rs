//! The `RecordDeAggregation` processor: one record in, its sub-records out.
//!
//! AWS's processor ("multi record deaggregation", Firehose guide
//! `dynamic-partitioning-multirecord-deaggergation`) knows `SubRecordType`
//! `JSON` (consecutive JSON objects, `{"a":1}{"a":2}` or one per line; an
//! array is not valid input) and `DELIMITED` (split on the base64
//! `Delimiter` parameter), capped at 500 sub-records per record. Riffle adds
//! `KPL`: Kinesis Producer Library aggregated records (see [`super::kpl`]),
//! which AWS de-aggregates implicitly for a Kinesis stream source.
//!
//! Records that do not split (not valid concatenated JSON objects, no
//! delimiter, not a KPL record, or more than [`MAX_SUB_RECORDS`] JSON or
//! delimited pieces) pass through whole: AWS documents the cap but not what
//! happens past it, and passing through loses nothing.

use base64::Engine;

use super::{kpl, InRecord};

/// AWS's cap on JSON and DELIMITED sub-records per record.
pub const MAX_SUB_RECORDS: usize = 500;

/// How a record is split (`SubRecordType`, plus `KPL`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubRecordType {
    Json,
    Delimited(Vec<u8>),
    Kpl,
}

impl SubRecordType {
    /// From the processor's `SubRecordType` and `Delimiter` (base64) parameters.
    pub fn from_params(sub_record_type: &str, delimiter: Option<&str>) -> Result<Self, String> {
        match sub_record_type {
            "JSON" => Ok(SubRecordType::Json),
            "KPL" => Ok(SubRecordType::Kpl),
            "DELIMITED" => {
                let d = delimiter.ok_or(
                    "RecordDeAggregation with SubRecordType DELIMITED requires the Delimiter parameter",
                )?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(d)
                    .map_err(|_| format!("Delimiter {d:?} is not valid base64"))?;
                if bytes.is_empty() {
                    return Err("Delimiter must not be empty".into());
                }
                Ok(SubRecordType::Delimited(bytes))
            }
            other => Err(format!(
                "SubRecordType {other:?} is not supported: use JSON, DELIMITED or KPL"
            )),
        }
    }
}

/// Splits every record; sub-records keep their parent's arrival time and
/// get the record id `<parent>.<index>` (unique within a batch, as the
/// Lambda contract needs) and, with Kinesis metadata, their index as the
/// subsequence number (and, for KPL, their own partition key).
pub fn split_all(kind: &SubRecordType, records: Vec<InRecord>) -> Vec<InRecord> {
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        split_into(kind, r, &mut out);
    }
    out
}

fn split_into(kind: &SubRecordType, r: InRecord, out: &mut Vec<InRecord>) {
    let pieces: Vec<(Option<String>, bytes::Bytes)> = match kind {
        SubRecordType::Json => match split_json(&r.data) {
            Some(ranges) => ranges
                .into_iter()
                .map(|(a, b)| (None, r.data.slice(a..b)))
                .collect(),
            None => return out.push(r),
        },
        SubRecordType::Delimited(d) => match split_delimited(&r.data, d) {
            Some(ranges) => ranges
                .into_iter()
                .map(|(a, b)| (None, r.data.slice(a..b)))
                .collect(),
            None => return out.push(r),
        },
        SubRecordType::Kpl => match kpl::deaggregate(&r.data) {
            Some(users) => users
                .into_iter()
                .map(|u| (Some(u.partition_key), bytes::Bytes::from(u.data)))
                .collect(),
            None => return out.push(r),
        },
    };
    for (i, (pk, data)) in pieces.into_iter().enumerate() {
        let kinesis_metadata = r.kinesis_metadata.as_ref().map(|m| {
            let mut m = m.clone();
            m.subsequence_number = i as u64;
            if let Some(pk) = &pk {
                m.partition_key = pk.clone();
            }
            m
        });
        out.push(InRecord {
            record_id: format!("{}.{i}", r.record_id),
            data,
            arrival_ms: r.arrival_ms,
            kinesis_metadata,
        });
    }
}

/// Byte ranges of the consecutive JSON objects in `data`, or `None` when it
/// is not one or more JSON objects separated by nothing but whitespace, or
/// has more than [`MAX_SUB_RECORDS`] of them.
pub fn split_json(data: &[u8]) -> Option<Vec<(usize, usize)>> {
    let mut stream =
        serde_json::Deserializer::from_slice(data).into_iter::<serde::de::IgnoredAny>();
    let mut ranges = Vec::new();
    let mut prev_end = 0;
    while let Some(item) = stream.next() {
        item.ok()?;
        let end = stream.byte_offset();
        let start = prev_end
            + data[prev_end..end]
                .iter()
                .position(|b| !b.is_ascii_whitespace())?;
        if data[start] != b'{' {
            return None;
        }
        ranges.push((start, end));
        if ranges.len() > MAX_SUB_RECORDS {
            return None;
        }
        prev_end = end;
    }
    if ranges.is_empty() {
        return None;
    }
    Some(ranges)
}

/// Byte ranges between occurrences of `delim` (a trailing delimiter ends
/// the last piece rather than starting an empty one), or `None` when there
/// is nothing to split or more than [`MAX_SUB_RECORDS`] pieces.
pub fn split_delimited(data: &[u8], delim: &[u8]) -> Option<Vec<(usize, usize)>> {
    if delim.is_empty() || data.len() < delim.len() {
        return None;
    }
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + delim.len() <= data.len() {
        if &data[i..i + delim.len()] == delim {
            ranges.push((start, i));
            i += delim.len();
            start = i;
            if ranges.len() > MAX_SUB_RECORDS {
                return None;
            }
        } else {
            i += 1;
        }
    }
    if start < data.len() {
        ranges.push((start, data.len()));
    }
    if ranges.len() > MAX_SUB_RECORDS || ranges.is_empty() {
        return None;
    }
    if ranges.len() == 1 && ranges[0] == (0, data.len()) {
        return None; // no delimiter at all
    }
    Some(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::KinesisRecordMetadata;
    use bytes::Bytes;

    fn rec(id: &str, data: &[u8]) -> InRecord {
        InRecord {
            record_id: id.into(),
            data: Bytes::copy_from_slice(data),
            arrival_ms: 7,
            kinesis_metadata: None,
        }
    }

    fn datas(rs: &[InRecord]) -> Vec<&[u8]> {
        rs.iter().map(|r| &r.data[..]).collect()
    }

    #[test]
    fn json_objects_split_concatenated_or_one_per_line() {
        let out = split_all(
            &SubRecordType::Json,
            vec![
                rec("a", br#"{"a":1}{"a":2}"#),
                rec("b", b"{\"b\":{\"x\":[1,2]}}\n {\"b\":2}\n"),
            ],
        );
        assert_eq!(
            datas(&out),
            vec![
                &br#"{"a":1}"#[..],
                br#"{"a":2}"#,
                br#"{"b":{"x":[1,2]}}"#,
                br#"{"b":2}"#
            ]
        );
        let ids: Vec<_> = out.iter().map(|r| r.record_id.as_str()).collect();
        assert_eq!(ids, ["a.0", "a.1", "b.0", "b.1"]);
        assert!(out.iter().all(|r| r.arrival_ms == 7));
    }

    #[test]
    fn json_arrays_garbage_and_too_many_pass_through() {
        for data in [
            &br#"[{"a":1},{"a":2}]"#[..],
            b"not json",
            br#"{"a":1}{"a":"#,
            br#"{"a":1} 5"#,
            b"",
        ] {
            let out = split_all(&SubRecordType::Json, vec![rec("x", data)]);
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].record_id, "x");
            assert_eq!(&out[0].data[..], data);
        }
        let many = "{}".repeat(MAX_SUB_RECORDS + 1);
        let out = split_all(&SubRecordType::Json, vec![rec("x", many.as_bytes())]);
        assert_eq!(out.len(), 1);
        let max = "{}".repeat(MAX_SUB_RECORDS);
        let out = split_all(&SubRecordType::Json, vec![rec("x", max.as_bytes())]);
        assert_eq!(out.len(), MAX_SUB_RECORDS);
    }

    #[test]
    fn delimited_splits_on_the_decoded_delimiter() {
        let kind = SubRecordType::from_params("DELIMITED", Some("IyMjIw==")).expect("test"); // "####"
        assert_eq!(kind, SubRecordType::Delimited(b"####".to_vec()));
        let out = split_all(&kind, vec![rec("a", b"one####two########three####")]);
        assert_eq!(datas(&out), vec![&b"one"[..], b"two", b"", b"three"]);
        let out = split_all(&kind, vec![rec("b", b"no delimiter")]);
        assert_eq!(datas(&out), vec![&b"no delimiter"[..]]);
        assert_eq!(out[0].record_id, "b");
        let many = "x#".repeat(MAX_SUB_RECORDS + 1);
        let kind = SubRecordType::Delimited(b"#".to_vec());
        assert_eq!(split_all(&kind, vec![rec("c", many.as_bytes())]).len(), 1);
    }

    #[test]
    fn parameters_are_checked() {
        assert!(SubRecordType::from_params("DELIMITED", None).is_err());
        assert!(SubRecordType::from_params("DELIMITED", Some("%%%")).is_err());
        assert!(SubRecordType::from_params("CSV", None).is_err());
        assert_eq!(
            SubRecordType::from_params("JSON", None),
            Ok(SubRecordType::Json)
        );
    }

    #[test]
    fn kpl_sub_records_get_their_partition_key_and_subsequence_number() {
        let blob = kpl::aggregate(&[
            kpl::UserRecord {
                partition_key: "p1".into(),
                explicit_hash_key: None,
                data: b"first".to_vec(),
            },
            kpl::UserRecord {
                partition_key: "p2".into(),
                explicit_hash_key: None,
                data: b"second".to_vec(),
            },
        ]);
        let mut r = rec("k", &blob);
        r.kinesis_metadata = Some(KinesisRecordMetadata {
            shard_id: "shardId-000000000000".into(),
            partition_key: "outer".into(),
            approximate_arrival_ms: 5,
            sequence_number: "49".into(),
            subsequence_number: 0,
        });
        let out = split_all(&SubRecordType::Kpl, vec![r, rec("plain", b"plain")]);
        assert_eq!(datas(&out), vec![&b"first"[..], b"second", b"plain"]);
        let m = out[1].kinesis_metadata.as_ref().expect("test");
        assert_eq!((m.partition_key.as_str(), m.subsequence_number), ("p2", 1));
        assert_eq!(m.sequence_number, "49");
        assert_eq!(out[2].record_id, "plain");
    }
}
