//! Encryption at rest through the engine, on a real data directory: what
//! reaches the segment files, what reads return across Start/Stop and a
//! reopen, tampering, and the KMS errors for unusable keys.
#![allow(clippy::unwrap_used)]

mod common;

use common::{base_config, get_records, iterator, stream, SHARD0};
use riffle_kms::{KeyState, Keyring};
use riffle_model::*;
use riffle_streams::{Engine, StreamsError};
use std::path::{Path, PathBuf};

fn open(dir: &Path) -> Engine {
    Engine::open(base_config(dir)).unwrap()
}

fn secret(i: usize) -> String {
    format!("top-secret-record-{i:05}-7f3a9c")
}

async fn put_batch(e: &Engine, name: &str, data: Vec<String>) -> PutRecordsOutput {
    let out = e
        .put_records(PutRecordsInput {
            stream: stream(name),
            records: data
                .into_iter()
                .enumerate()
                .map(|(i, d)| PutRecordsEntry {
                    data: d.into_bytes().into(),
                    partition_key: format!("pk-{i}"),
                    explicit_hash_key: None,
                })
                .collect(),
        })
        .await
        .unwrap();
    assert_eq!(out.failed_record_count, 0);
    out
}

async fn encryption(e: &Engine, name: &str, key: &str, start: bool) -> Result<(), StreamsError> {
    let input = StreamEncryptionInput {
        stream: stream(name),
        encryption_type: "KMS".into(),
        key_id: key.into(),
    };
    if start {
        e.start_stream_encryption(input).await
    } else {
        e.stop_stream_encryption(input).await
    }
}

/// Every record of shard 0 from TRIM_HORIZON: (data, EncryptionType).
async fn read_all(e: &Engine, name: &str) -> Result<Vec<(String, Option<String>)>, StreamsError> {
    let mut it = iterator(e, name, SHARD0, ShardIteratorType::TrimHorizon, None, None).await?;
    let mut out = Vec::new();
    loop {
        let r = get_records(e, it).await?;
        if r.records.is_empty() {
            return Ok(out);
        }
        out.extend(
            r.records
                .into_iter()
                .map(|r| (String::from_utf8(r.data.0).unwrap(), r.encryption_type)),
        );
        it = r.next_shard_iterator.unwrap();
    }
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "log") {
                out.push(p);
            }
        }
    }
    out
}

/// The records among `needles` whose bytes appear in any segment file.
fn found_on_disk(dir: &Path, needles: &[String]) -> Vec<String> {
    let files: Vec<Vec<u8>> = segment_files(dir)
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(!files.is_empty());
    needles
        .iter()
        .filter(|n| {
            files
                .iter()
                .any(|f| f.windows(n.len()).any(|w| w == n.as_bytes()))
        })
        .cloned()
        .collect()
}

async fn describe(e: &Engine, name: &str) -> (String, Option<String>) {
    let d = e
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream: stream(name),
        })
        .await
        .unwrap()
        .stream_description_summary;
    (d.encryption_type, d.key_id)
}

#[tokio::test(flavor = "multi_thread")]
async fn encrypted_records_never_reach_disk_in_plaintext_and_read_back_across_epochs_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let before: Vec<String> = (0..5).map(|i| format!("plain-before-{i}")).collect();
    let secrets: Vec<String> = (0..1000).map(secret).collect();
    let after: Vec<String> = (0..5).map(|i| format!("plain-after-{i}")).collect();
    {
        let e = open(dir.path());
        common::create(&e, "enc", 1, None).await;
        let out = put_batch(&e, "enc", before.clone()).await;
        assert_eq!(out.encryption_type, None);
        encryption(&e, "enc", "alias/aws/kinesis", true)
            .await
            .unwrap();
        assert_eq!(
            describe(&e, "enc").await,
            ("KMS".to_string(), Some("alias/aws/kinesis".to_string()))
        );
        for chunk in secrets.chunks(100) {
            let out = put_batch(&e, "enc", chunk.to_vec()).await;
            assert_eq!(out.encryption_type.as_deref(), Some("KMS"));
        }
        encryption(&e, "enc", "alias/aws/kinesis", false)
            .await
            .unwrap();
        assert_eq!(describe(&e, "enc").await, ("NONE".to_string(), None));
        put_batch(&e, "enc", after.clone()).await;

        let want: Vec<(String, Option<String>)> = before
            .iter()
            .map(|d| (d.clone(), None))
            .chain(secrets.iter().map(|d| (d.clone(), Some("KMS".to_string()))))
            .chain(after.iter().map(|d| (d.clone(), None)))
            .collect();
        assert_eq!(read_all(&e, "enc").await.unwrap(), want);
    }
    // The scan itself works: plaintext epochs are on disk.
    let plain: Vec<String> = before.iter().chain(&after).cloned().collect();
    assert_eq!(found_on_disk(dir.path(), &plain), plain);
    assert_eq!(found_on_disk(dir.path(), &secrets), Vec::<String>::new());
    // Nor are they anywhere else in the data directory (metadata, keyring).
    let keyring = std::fs::read_to_string(dir.path().join(riffle_kms::KEYRING_FILE)).unwrap();
    assert!(!keyring.contains("top-secret"));

    let e = open(dir.path());
    let got = read_all(&e, "enc").await.unwrap();
    assert_eq!(got.len(), 1010);
    assert_eq!(got[5], (secret(0), Some("KMS".to_string())));
    assert_eq!(got[1004], (secret(999), Some("KMS".to_string())));
    assert_eq!(got[1005], (after[0].clone(), None));
    for (i, s) in secrets.iter().enumerate() {
        assert_eq!(&got[5 + i].0, s);
    }
    // Encryption can start again after a reopen, with a new data key.
    encryption(&e, "enc", "alias/aws/kinesis", true)
        .await
        .unwrap();
    let out = common::put_record(&e, "enc", "pk", b"third-epoch-secret".to_vec())
        .await
        .unwrap();
    assert_eq!(out.encryption_type.as_deref(), Some("KMS"));
    let got = read_all(&e, "enc").await.unwrap();
    assert_eq!(
        got.last().unwrap(),
        &("third-epoch-secret".to_string(), Some("KMS".to_string()))
    );
    drop(e);
    assert!(found_on_disk(dir.path(), &["third-epoch-secret".to_string()]).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn altered_ciphertext_is_refused_not_returned() {
    let dir = tempfile::tempdir().unwrap();
    {
        let e = open(dir.path());
        common::create(&e, "t", 1, None).await;
        encryption(&e, "t", "alias/aws/kinesis", true)
            .await
            .unwrap();
        put_batch(&e, "t", (0..10).map(secret).collect()).await;
        assert_eq!(read_all(&e, "t").await.unwrap().len(), 10);
    }
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 1);
    let mut bytes = std::fs::read(&files[0]).unwrap();
    // Flip one ciphertext bit, then fix the batch CRC so only the AEAD tag can tell.
    let batch = 32; // after the segment header
    bytes[batch + 32 + 40] ^= 0x04;
    let crc = crc32c::crc32c(&bytes[batch + 8..]);
    bytes[batch + 4..batch + 8].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&files[0], &bytes).unwrap();

    let e = open(dir.path());
    let err = read_all(&e, "t").await.unwrap_err();
    assert!(
        matches!(
            &err,
            StreamsError::Log(riffle_log::LogError::Cipher { source, .. })
                if source.message.contains("authentication failed")
        ),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unusable_keys_fail_with_the_kms_error_codes() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    common::create(&e, "k", 1, None).await;
    let code = |r: Result<(), StreamsError>| match r {
        Err(StreamsError::Kms { code, message }) => (code, message),
        other => panic!("expected a KMS error, got {other:?}"),
    };
    let (c, m) = code(encryption(&e, "k", "alias/missing", true).await);
    assert_eq!(c, "KMSNotFoundException");
    assert_eq!(
        m,
        "Alias arn:aws:kms:us-east-1:000000000000:alias/missing is not found."
    );
    let (c, _) = code(encryption(&e, "k", "12345678-1234-1234-1234-123456789012", true).await);
    assert_eq!(c, "KMSNotFoundException");

    // An operator adds a key with the CLI's library while the engine runs.
    let ring = Keyring::open(dir.path(), "us-east-1", "000000000000").unwrap();
    let key = ring.create_key(Some("alias/app"), "").unwrap();
    for form in [
        key.key_id.clone(),
        key.arn.clone(),
        "alias/app".to_string(),
        "arn:aws:kms:us-east-1:000000000000:alias/app".to_string(),
    ] {
        encryption(&e, "k", &form, true).await.unwrap();
        assert_eq!(describe(&e, "k").await.1, Some(form));
    }
    common::put_record(&e, "k", "pk", secret(1).into_bytes())
        .await
        .unwrap();

    ring.set_state(&key.key_id, KeyState::Disabled).unwrap();
    let (c, m) = code(encryption(&e, "k", "alias/app", true).await);
    assert_eq!(c, "KMSDisabledException");
    assert_eq!(m, format!("{} is disabled.", key.arn));
    ring.set_state(&key.key_id, KeyState::PendingDeletion)
        .unwrap();
    let (c, m) = code(encryption(&e, "k", &key.arn, true).await);
    assert_eq!(c, "KMSInvalidStateException");
    assert_eq!(m, format!("{} is pending deletion.", key.arn));

    // After a restart the data keys cannot be unwrapped: reads and writes fail
    // with the key's error instead of returning or storing anything.
    drop(e);
    let e = open(dir.path());
    let Err(StreamsError::Kms { code, .. }) = read_all(&e, "k").await else {
        panic!("read of records sealed under a pending-deletion key succeeded")
    };
    assert_eq!(code, "KMSInvalidStateException");
    let Err(StreamsError::Kms { code, .. }) =
        common::put_record(&e, "k", "pk", b"x".to_vec()).await
    else {
        panic!("write under a pending-deletion key succeeded")
    };
    assert_eq!(code, "KMSInvalidStateException");
    let r = e
        .put_records(PutRecordsInput {
            stream: stream("k"),
            records: vec![PutRecordsEntry {
                data: b"y".to_vec().into(),
                partition_key: "pk".into(),
                explicit_hash_key: None,
            }],
        })
        .await;
    assert!(
        matches!(
            r,
            Err(StreamsError::Kms {
                code: "KMSInvalidStateException",
                ..
            })
        ),
        "{r:?}"
    );
    // Enabling the key again brings them back (after a reopen, which unwraps again).
    ring.set_state(&key.key_id, KeyState::Enabled).unwrap();
    drop(e);
    let e = open(dir.path());
    assert_eq!(
        read_all(&e, "k").await.unwrap(),
        vec![(secret(1), Some("KMS".to_string()))]
    );
}
