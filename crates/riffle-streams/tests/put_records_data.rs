//! PutRecords with record data still in base64 (as the protocol hands it
//! over from a JSON body): decoded straight into the shard's batch, sized
//! against the record limit by its decoded length, and never stored if it
//! does not decode.
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use bytes::Bytes;
use common::{base_config, create, get_records, iterator, stream, SHARD0};
use riffle_model::*;
use riffle_streams::{Engine, StreamsError};

fn b64(data: &[u8]) -> RecordData {
    let text = base64::engine::general_purpose::STANDARD.encode(data);
    RecordData::from_base64(Bytes::from(text)).unwrap()
}

fn entry(data: RecordData, key: &str) -> PutRecordsEntry {
    PutRecordsEntry {
        data,
        partition_key: key.into(),
        explicit_hash_key: None,
    }
}

async fn put(e: &Engine, name: &str, records: Vec<PutRecordsEntry>) -> PutRecordsOutput {
    e.put_records(PutRecordsInput {
        stream: stream(name),
        records,
    })
    .await
    .unwrap()
}

async fn read_shard0(e: &Engine, name: &str) -> Vec<(String, Vec<u8>)> {
    let it = iterator(e, name, SHARD0, ShardIteratorType::TrimHorizon, None, None)
        .await
        .unwrap();
    get_records(e, it)
        .await
        .unwrap()
        .records
        .into_iter()
        .map(|r| (r.partition_key, r.data.0))
        .collect()
}

#[tokio::test]
async fn base64_and_raw_records_are_stored_as_their_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(base_config(dir.path())).unwrap();
    create(&e, "s", 1, None).await;
    let big: Vec<u8> = (0..10_240u32).map(|i| (i * 131 % 251) as u8).collect();
    let records = vec![
        entry(b64(b"hello"), "a"),
        entry(RecordData::from(b"raw".to_vec()), "b"),
        entry(b64(&[]), "c"),
        entry(b64(&big), "d"),
        entry(b64(&[0xff, 0, 0xfe]), "e"),
    ];
    assert!(records[0].data.is_base64() && !records[1].data.is_base64());
    let out = put(&e, "s", records).await;
    assert_eq!(out.failed_record_count, 0);
    let got = read_shard0(&e, "s").await;
    let want: Vec<(String, Vec<u8>)> = vec![
        ("a".into(), b"hello".to_vec()),
        ("b".into(), b"raw".to_vec()),
        ("c".into(), vec![]),
        ("d".into(), big),
        ("e".into(), vec![0xff, 0, 0xfe]),
    ];
    assert_eq!(got, want);
}

#[tokio::test]
async fn a_one_mebibyte_record_fits_and_one_byte_more_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(base_config(dir.path())).unwrap();
    create(&e, "s", 1, None).await; // 1 MiB records, the default
    let key = "pk";
    let fits: Vec<u8> = (0..(1 << 20) - key.len())
        .map(|i| (i % 253) as u8)
        .collect();
    let out = put(&e, "s", vec![entry(b64(&fits), key)]).await;
    assert_eq!(out.failed_record_count, 0);

    let over = vec![7u8; (1 << 20) - key.len() + 1];
    let err = e
        .put_records(PutRecordsInput {
            stream: stream("s"),
            records: vec![entry(b64(&[1]), "x"), entry(b64(&over), key)],
        })
        .await
        .unwrap_err();
    match err {
        StreamsError::InvalidArgument(msg) => assert!(
            msg.starts_with("Record size 1048577 bytes (data plus partition key) exceeds"),
            "{msg}"
        ),
        other => panic!("{other:?}"),
    }
    // The refused request stored nothing, not even its small record.
    let got = read_shard0(&e, "s").await;
    assert_eq!(got, vec![(key.to_string(), fits)]);
}

#[tokio::test]
async fn data_that_does_not_decode_never_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(base_config(dir.path())).unwrap();
    create(&e, "s", 1, None).await;
    // Mislabelled by its maker: not base64, and a length the text cannot decode to.
    let bad = RecordData::from_checked_base64(Bytes::from_static(b"a!k="), 2);
    let short = RecordData::from_checked_base64(Bytes::from_static(b"aGk="), 3);
    for broken in [bad, short] {
        let out = put(&e, "s", vec![entry(b64(b"first"), "k"), entry(broken, "k")]).await;
        // One batch per shard: the whole batch fails, as any failed append does.
        assert_eq!(out.failed_record_count, 2);
        for r in &out.records {
            assert_eq!(r.error_code.as_deref(), Some("InternalFailure"));
            assert!(r.sequence_number.is_none());
        }
    }
    let out = put(&e, "s", vec![entry(b64(b"after"), "k")]).await;
    assert_eq!(out.failed_record_count, 0);
    assert_eq!(
        read_shard0(&e, "s").await,
        vec![("k".to_string(), b"after".to_vec())]
    );
}
