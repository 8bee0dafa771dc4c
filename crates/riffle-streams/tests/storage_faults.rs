//! Startup against a damaged data directory (issue 9): a shard folder the
//! metadata lists but the disk lacks stops the start; folders the metadata
//! does not know are quarantined, never deleted; deleted streams' leftovers
//! in `trash/` are removed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{base_config, create, put_record, SHARD0};
use riffle_model::*;
use riffle_streams::{Engine, StreamsError};
use std::path::{Path, PathBuf};

fn stream_folder(data: &Path) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(data.join("streams"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1);
    dirs.remove(0)
}

#[tokio::test]
async fn a_missing_shard_directory_stops_the_start_and_is_not_recreated() {
    let dir = tempfile::tempdir().unwrap();
    {
        let e = Engine::open(base_config(dir.path())).unwrap();
        create(&e, "precious", 2, None).await;
        put_record(&e, "precious", "k", b"v".to_vec())
            .await
            .unwrap();
    }
    let shard1 = stream_folder(dir.path()).join("000000000001");
    std::fs::remove_dir_all(&shard1).unwrap();
    let err = match Engine::open(base_config(dir.path())) {
        Ok(_) => panic!("started with a shard directory missing"),
        Err(e) => e,
    };
    let msg = err.to_string();
    assert!(matches!(err, StreamsError::Internal(_)), "{msg}");
    assert!(msg.contains("precious"), "{msg}");
    assert!(msg.contains("shardId-000000000001"), "{msg}");
    assert!(!shard1.exists(), "the missing shard was recreated empty");
    // The shard that is there was left alone.
    assert!(stream_folder(dir.path()).join("000000000000").is_dir());
}

#[tokio::test]
async fn unknown_stream_folders_are_quarantined_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let e = Engine::open(base_config(dir.path())).unwrap();
        create(&e, "kept", 1, None).await;
    }
    let stranger = dir.path().join("streams").join("stranger-0123");
    std::fs::create_dir_all(stranger.join("000000000000")).unwrap();
    std::fs::write(stranger.join("000000000000").join("data.log"), b"bytes").unwrap();
    // A previous quarantine of the same name is not overwritten.
    std::fs::create_dir_all(dir.path().join("quarantine").join("stranger-0123")).unwrap();

    let e = Engine::open(base_config(dir.path())).unwrap();
    assert!(!stranger.exists());
    let moved = dir.path().join("quarantine").join("stranger-0123.1");
    assert_eq!(
        std::fs::read(moved.join("000000000000").join("data.log")).unwrap(),
        b"bytes"
    );
    assert!(dir.path().join("quarantine").join("stranger-0123").is_dir());
    // The known stream is untouched and works.
    put_record(&e, "kept", "k", b"v".to_vec()).await.unwrap();
    let it = e
        .get_shard_iterator(GetShardIteratorInput {
            stream: common::stream("kept"),
            shard_id: SHARD0.into(),
            iterator_type: ShardIteratorType::TrimHorizon,
            ..Default::default()
        })
        .await
        .unwrap();
    let got = e
        .get_records(GetRecordsInput {
            shard_iterator: it.shard_iterator,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(got.records.len(), 1);
}

#[tokio::test]
async fn deleted_streams_go_through_trash_and_leftovers_are_removed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    {
        let e = Engine::open(base_config(dir.path())).unwrap();
        create(&e, "gone", 1, None).await;
        e.delete_stream(DeleteStreamInput {
            stream: common::stream("gone"),
            enforce_consumer_deletion: false,
        })
        .await
        .unwrap();
    }
    assert_eq!(
        std::fs::read_dir(dir.path().join("streams"))
            .unwrap()
            .count(),
        0
    );
    // A deletion interrupted after its rename to trash/.
    let leftover = dir.path().join("trash").join("gone-abc");
    std::fs::create_dir_all(leftover.join("000000000000")).unwrap();
    let _e = Engine::open(base_config(dir.path())).unwrap();
    assert!(!leftover.exists());
    assert!(!dir.path().join("quarantine").exists());
}
