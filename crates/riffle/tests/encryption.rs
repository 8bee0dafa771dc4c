//! Encryption at rest through the real server and the Rust SDK: records put
//! while a stream is encrypted come back after a restart marked
//! `EncryptionType: KMS`, and their bytes appear nowhere in the segment files.
//! Also `riffle kms`, the keyring CLI, against the same data directory.
#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{EncryptionType, PutRecordsRequestEntry};
use common::kinesis::{create_stream, err, trim_horizon};
use common::TestServer;
use std::path::{Path, PathBuf};
use std::process::Command;

const STREAM: &str = "sdk-encrypted";
const SHARD: &str = "shardId-000000000000";

fn secret(i: usize) -> String {
    format!("sdk-confidential-{i:04}-c0ffee")
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

fn riffle_kms(data_dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_riffle"))
        .arg("kms")
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("RIFFLE_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn encrypted_stream_survives_restart_and_keeps_no_plaintext_on_disk() {
    let mut server = TestServer::start();
    let c = server.client().await;
    create_stream(&c, STREAM, 1).await;
    c.start_stream_encryption()
        .stream_name(STREAM)
        .encryption_type(EncryptionType::Kms)
        .key_id("alias/aws/kinesis")
        .send()
        .await
        .unwrap();
    let d = c
        .describe_stream_summary()
        .stream_name(STREAM)
        .send()
        .await
        .unwrap();
    let d = d.stream_description_summary().unwrap();
    assert_eq!(d.encryption_type(), Some(&EncryptionType::Kms));
    assert_eq!(d.key_id(), Some("alias/aws/kinesis"));

    let secrets: Vec<String> = (0..300).map(secret).collect();
    for chunk in secrets.chunks(100) {
        let out = c
            .put_records()
            .stream_name(STREAM)
            .set_records(Some(
                chunk
                    .iter()
                    .map(|s| {
                        PutRecordsRequestEntry::builder()
                            .partition_key("pk")
                            .data(Blob::new(s.as_bytes()))
                            .build()
                            .unwrap()
                    })
                    .collect(),
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(out.failed_record_count(), Some(0));
        assert_eq!(out.encryption_type(), Some(&EncryptionType::Kms));
    }

    server.restart();
    let c = server.client().await;
    let mut it = trim_horizon(&c, STREAM, SHARD).await;
    let mut got = Vec::new();
    while got.len() < secrets.len() {
        let out = c.get_records().shard_iterator(&it).send().await.unwrap();
        for r in out.records() {
            assert_eq!(r.encryption_type(), Some(&EncryptionType::Kms));
            got.push(String::from_utf8(r.data().as_ref().to_vec()).unwrap());
        }
        if out.records().is_empty() {
            break;
        }
        it = out.next_shard_iterator().unwrap().to_string();
    }
    assert_eq!(got, secrets);

    let files = segment_files(server.data_dir());
    assert!(!files.is_empty());
    let bytes: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let leaked: Vec<&String> = secrets
        .iter()
        .filter(|s| {
            bytes
                .iter()
                .any(|f| f.windows(s.len()).any(|w| w == s.as_bytes()))
        })
        .collect();
    assert!(leaked.is_empty(), "plaintext on disk: {leaked:?}");

    // The keyring CLI sees the default key the server created, and a key it
    // adds is usable by the running server at once.
    let listed = riffle_kms(server.data_dir(), &["list-keys"]);
    assert!(listed.contains("alias/aws/kinesis"), "{listed}");
    let created = riffle_kms(
        server.data_dir(),
        &["create-key", "--alias", "alias/cli-key"],
    );
    let key_id = created.split('\t').next().unwrap().to_string();
    c.start_stream_encryption()
        .stream_name(STREAM)
        .encryption_type(EncryptionType::Kms)
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    riffle_kms(server.data_dir(), &["disable-key", "alias/cli-key"]);
    let e = c
        .start_stream_encryption()
        .stream_name(STREAM)
        .encryption_type(EncryptionType::Kms)
        .key_id("alias/cli-key")
        .send()
        .await;
    let (code, message) = err(e);
    assert_eq!(code, "KMSDisabledException");
    assert!(
        message.ends_with(&format!("key/{key_id} is disabled.")),
        "{message}"
    );
    let e = c
        .start_stream_encryption()
        .stream_name(STREAM)
        .encryption_type(EncryptionType::Kms)
        .key_id("alias/does-not-exist")
        .send()
        .await;
    assert_eq!(err(e).0, "KMSNotFoundException");
}
