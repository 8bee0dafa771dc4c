//! Sealed shard iterators and NextTokens at the engine: forged, tampered,
//! truncated, cross-kind, cross-stream, cross-shard and stale-incarnation
//! tokens are refused with AWS's errors (never a panic or another stream's
//! records), and tokens survive a restart because the key is on disk.
//!
//! Which error: anything that does not open, or is used where it was not
//! issued, is InvalidArgumentException; a valid token naming a stream
//! incarnation or shard that no longer exists is ResourceNotFoundException,
//! as for a deleted stream.
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use common::{base_config, create, get_records, iterator, put_record, stream, SHARD0};
use proptest::prelude::*;
use riffle_model::*;
use riffle_streams::iterator::IteratorToken;
use riffle_streams::seal::TokenKey;
use riffle_streams::{Engine, ManualClock, StreamsError};
use std::sync::Arc;

const SHARD1: &str = "shardId-000000000001";

fn arn(name: &str) -> String {
    format!("arn:aws:kinesis:us-east-1:000000000000:stream/{name}")
}

fn open(dir: &std::path::Path) -> Engine {
    Engine::open(base_config(dir)).unwrap()
}

async fn put(e: &Engine, name: &str, data: &str) {
    put_record(e, name, "pk", data.as_bytes().to_vec())
        .await
        .unwrap();
}

fn data(out: &GetRecordsOutput) -> Vec<String> {
    out.records
        .iter()
        .map(|r| String::from_utf8(r.data.0.clone()).unwrap())
        .collect()
}

async fn trim_horizon(e: &Engine, name: &str, shard: &str) -> String {
    iterator(e, name, shard, ShardIteratorType::TrimHorizon, None, None)
        .await
        .unwrap()
}

/// GetRecords must refuse `it` as "Invalid ShardIterator.".
async fn assert_invalid_iterator(e: &Engine, it: &str) {
    match get_records(e, it.to_string()).await {
        Err(StreamsError::InvalidArgument(m)) => assert_eq!(m, "Invalid ShardIterator.", "{it}"),
        other => panic!("{it}: expected Invalid ShardIterator., got {other:?}"),
    }
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn enc(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

async fn list_shards_page(e: &Engine, name: &str) -> String {
    e.list_shards(ListShardsInput {
        stream: stream(name),
        max_results: Some(1),
        ..Default::default()
    })
    .await
    .unwrap()
    .next_token
    .unwrap()
}

async fn list_shards_with(e: &Engine, tok: &str) -> Result<ListShardsOutput, StreamsError> {
    e.list_shards(ListShardsInput {
        next_token: Some(tok.into()),
        ..Default::default()
    })
    .await
}

async fn list_streams_with(e: &Engine, tok: &str) -> Result<ListStreamsOutput, StreamsError> {
    e.list_streams(ListStreamsInput {
        next_token: Some(tok.into()),
        ..Default::default()
    })
    .await
}

async fn register(e: &Engine, stream_name: &str, consumer: &str) {
    e.register_stream_consumer(RegisterStreamConsumerInput {
        stream_arn: arn(stream_name),
        consumer_name: consumer.into(),
        tags: None,
    })
    .await
    .unwrap();
}

async fn consumers_with(
    e: &Engine,
    stream_name: &str,
    tok: Option<&str>,
) -> Result<ListStreamConsumersOutput, StreamsError> {
    e.list_stream_consumers(ListStreamConsumersInput {
        stream_arn: arn(stream_name),
        next_token: tok.map(str::to_string),
        max_results: Some(1),
        stream_creation_timestamp: None,
    })
    .await
}

fn not_found(r: Result<impl std::fmt::Debug, StreamsError>) -> String {
    match r {
        Err(StreamsError::ResourceNotFound(m)) => m,
        other => panic!("expected ResourceNotFound, got {other:?}"),
    }
}

fn invalid_arg(r: Result<impl std::fmt::Debug, StreamsError>) -> String {
    match r {
        Err(StreamsError::InvalidArgument(m)) => m,
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

#[tokio::test]
async fn forged_and_tampered_iterators_are_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    create(&e, "s", 1, None).await;
    put(&e, "s", "secret").await;
    let real = trim_horizon(&e, "s", SHARD0).await;
    assert_eq!(
        data(&get_records(&e, real.clone()).await.unwrap()),
        ["secret"]
    );

    // AWS-shaped forgeries: the header and a random block of a valid length.
    let mut forged = vec![0u8, 0, 0, 0, 0, 0, 0, 1];
    forged.extend((0..224).map(|i| (i * 37 % 251) as u8));
    for s in [
        String::new(),
        "garbage".into(),
        "!!!!".into(),
        "A".repeat(512),
        enc(&forged),
        enc(&forged[..152]),
    ] {
        assert_invalid_iterator(&e, &s).await;
    }
    // Every single-bit flip of a real iterator, and every truncation.
    let raw = b64(&real);
    for i in (0..raw.len() * 8).step_by(7) {
        let mut b = raw.clone();
        b[i / 8] ^= 1 << (i % 8);
        assert_invalid_iterator(&e, &enc(&b)).await;
    }
    for cut in (0..real.len()).step_by(13) {
        assert_invalid_iterator(&e, &real[..cut]).await;
    }
    // A NextToken is no iterator, and an iterator no NextToken.
    create(&e, "t", 2, None).await;
    let page = list_shards_page(&e, "t").await;
    assert_invalid_iterator(&e, &page).await;
    assert_eq!(
        invalid_arg(list_shards_with(&e, &real).await),
        format!("Invalid ShardPageToken: {real}")
    );
}

#[tokio::test]
async fn iterators_for_another_stream_or_shard_read_nothing_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    create(&e, "a", 2, None).await;
    create(&e, "b", 1, None).await;
    put(&e, "a", "a-data").await;
    put(&e, "b", "b-data").await;
    let it_a = trim_horizon(&e, "a", SHARD0).await;

    // Used with another stream's ARN.
    let r = e
        .get_records(GetRecordsInput {
            shard_iterator: it_a.clone(),
            limit: None,
            stream_arn: Some(arn("b")),
        })
        .await;
    assert_eq!(invalid_arg(r), "Invalid ShardIterator.");

    // Re-sealed with the server's own key to name stream b, keeping a's uid:
    // the uid check refuses it (that incarnation of b does not exist).
    let key = TokenKey::load_or_create(dir.path()).unwrap();
    let tok = IteratorToken::open(&it_a, &key).unwrap();
    assert_eq!((tok.stream_name.as_str(), tok.shard_index), ("a", 0));
    let to_b = IteratorToken {
        stream_name: "b".into(),
        ..tok.clone()
    };
    assert_eq!(
        not_found(get_records(&e, to_b.seal(&key).unwrap()).await),
        "Shard shardId-000000000000 in stream b under account 000000000000 does not exist"
    );

    // Halves of two shards' iterators spliced together.
    let it_a1 = trim_horizon(&e, "a", SHARD1).await;
    let (x, y) = (b64(&it_a), b64(&it_a1));
    let mut spliced = x[..x.len() / 2].to_vec();
    spliced.extend_from_slice(&y[y.len() / 2..]);
    assert_invalid_iterator(&e, &enc(&spliced)).await;

    // Re-sealed for a shard the stream does not have.
    let missing = IteratorToken {
        shard_index: 9,
        ..tok.clone()
    };
    match get_records(&e, missing.seal(&key).unwrap()).await {
        Err(StreamsError::ResourceNotFound(m)) => assert_eq!(
            m,
            "Shard shardId-000000000009 in stream a under account 000000000000 does not exist"
        ),
        other => panic!("{other:?}"),
    }
    // A key other than the server's forges nothing.
    let other = tok.seal(&TokenKey::generate().unwrap()).unwrap();
    assert_invalid_iterator(&e, &other).await;
}

#[tokio::test]
async fn extreme_issue_times_are_refused_without_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new());
    let e = Engine::open_with_clock(base_config(dir.path()), clock).unwrap();
    create(&e, "s", 1, None).await;
    let key = TokenKey::load_or_create(dir.path()).unwrap();
    let tok = IteratorToken::open(&trim_horizon(&e, "s", SHARD0).await, &key).unwrap();
    for (t, expired) in [
        (i64::MIN, true),
        (i64::MIN + 1, true),
        (i64::MAX, false),
        (e.now_ms() + 3_600_000, false),
    ] {
        let s = IteratorToken {
            issued_ms: t,
            ..tok.clone()
        }
        .seal(&key)
        .unwrap();
        match (get_records(&e, s).await, expired) {
            (Err(StreamsError::ExpiredIterator(m)), true) => {
                assert!(m.starts_with("Iterator expired."), "{m}")
            }
            (Err(StreamsError::InvalidArgument(m)), false) => {
                assert_eq!(m, "Invalid ShardIterator.")
            }
            (other, _) => panic!("issued at {t}: {other:?}"),
        }
    }
    // The same extremes in a NextToken's issue time cannot be made from
    // outside; page tokens' expiry is covered by the unit tests.
}

#[tokio::test]
async fn tokens_of_a_deleted_and_recreated_stream_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    create(&e, "s", 2, None).await;
    put(&e, "s", "old").await;
    register(&e, "s", "c1").await;
    register(&e, "s", "c2").await;
    let it = trim_horizon(&e, "s", SHARD0).await;
    let shards_page = list_shards_page(&e, "s").await;
    let consumers_page = consumers_with(&e, "s", None)
        .await
        .unwrap()
        .next_token
        .unwrap();

    e.delete_stream(DeleteStreamInput {
        stream: stream("s"),
        enforce_consumer_deletion: true,
    })
    .await
    .unwrap();
    // Deleted: the stream is gone.
    assert_eq!(
        not_found(get_records(&e, it.clone()).await),
        "Shard shardId-000000000000 in stream s under account 000000000000 does not exist"
    );
    create(&e, "s", 2, None).await;
    put(&e, "s", "new").await;
    register(&e, "s", "c1").await;
    register(&e, "s", "c2").await;

    // Tokens naming the stream (iterators, ListShards pages): that stream is
    // gone, as before the name was reused.
    assert_eq!(
        not_found(get_records(&e, it.clone()).await),
        "Shard shardId-000000000000 in stream s under account 000000000000 does not exist"
    );
    assert_eq!(
        not_found(list_shards_with(&e, &shards_page).await),
        "Stream s under account 000000000000 not found."
    );
    // A consumer page given with the new stream's ARN: not one of its pages.
    assert_eq!(
        invalid_arg(consumers_with(&e, "s", Some(&consumers_page)).await),
        format!("Invalid NextToken: {consumers_page}")
    );
    // The new incarnation's own tokens work.
    let fresh = trim_horizon(&e, "s", SHARD0).await;
    assert_eq!(data(&get_records(&e, fresh).await.unwrap()), ["new"]);
    let page = list_shards_page(&e, "s").await;
    assert_eq!(
        list_shards_with(&e, &page).await.unwrap().shards[0].shard_id,
        SHARD1
    );
}

#[tokio::test]
async fn next_tokens_are_sealed_per_operation_and_stream() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    for n in ["a", "b", "c"] {
        create(&e, n, 2, None).await;
    }
    register(&e, "a", "c1").await;
    register(&e, "a", "c2").await;
    let streams_page = e
        .list_streams(ListStreamsInput {
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap()
        .next_token
        .unwrap();
    assert_eq!(
        list_streams_with(&e, &streams_page)
            .await
            .unwrap()
            .stream_names,
        ["b", "c"]
    );
    let shards_page = list_shards_page(&e, "a").await;
    let consumers_page = consumers_with(&e, "a", None)
        .await
        .unwrap()
        .next_token
        .unwrap();
    assert_eq!(
        consumers_with(&e, "a", Some(&consumers_page))
            .await
            .unwrap()
            .consumers[0]
            .consumer_name,
        "c2"
    );
    // Each token only where it was issued.
    assert_eq!(
        invalid_arg(list_shards_with(&e, &streams_page).await),
        format!("Invalid ShardPageToken: {streams_page}")
    );
    assert_eq!(
        invalid_arg(list_shards_with(&e, &consumers_page).await),
        format!("Invalid ShardPageToken: {consumers_page}")
    );
    assert_eq!(
        invalid_arg(list_streams_with(&e, &shards_page).await),
        format!("Invalid NextToken: {shards_page}")
    );
    assert_eq!(
        invalid_arg(consumers_with(&e, "a", Some(&streams_page)).await),
        format!("Invalid NextToken: {streams_page}")
    );
    // A consumer page of stream a is refused for stream b.
    assert_eq!(
        invalid_arg(consumers_with(&e, "b", Some(&consumers_page)).await),
        format!("Invalid NextToken: {consumers_page}")
    );
    // Tampered and truncated.
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let raw = url.decode(&shards_page).unwrap();
    for i in (0..raw.len() * 8).step_by(5) {
        let mut b = raw.clone();
        b[i / 8] ^= 1 << (i % 8);
        let t = url.encode(&b);
        assert_eq!(
            invalid_arg(list_shards_with(&e, &t).await),
            format!("Invalid ShardPageToken: {t}")
        );
    }
    for cut in 0..streams_page.len() {
        let t = &streams_page[..cut];
        assert_eq!(
            invalid_arg(list_streams_with(&e, t).await),
            format!("Invalid NextToken: {t}")
        );
    }
}

#[tokio::test]
async fn next_tokens_expire_after_five_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new());
    let e = Engine::open_with_clock(base_config(dir.path()), clock.clone()).unwrap();
    create(&e, "a", 2, None).await;
    create(&e, "b", 1, None).await;
    let streams_page = e
        .list_streams(ListStreamsInput {
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap()
        .next_token
        .unwrap();
    let shards_page = list_shards_page(&e, "a").await;
    clock.advance_ms(300_000);
    assert!(list_shards_with(&e, &shards_page).await.is_ok());
    assert!(list_streams_with(&e, &streams_page).await.is_ok());
    clock.advance_ms(1);
    match list_shards_with(&e, &shards_page).await {
        Err(StreamsError::ExpiredNextToken(m)) => assert_eq!(
            m,
            format!("The timestamp on the NextToken has expired: {shards_page}")
        ),
        other => panic!("{other:?}"),
    }
    match list_streams_with(&e, &streams_page).await {
        Err(StreamsError::ExpiredNextToken(m)) => {
            assert_eq!(m, format!("The NextToken has expired: {streams_page}"))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn tokens_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (it, shards_page) = {
        let e = open(dir.path());
        create(&e, "s", 2, None).await;
        put(&e, "s", "kept").await;
        (
            trim_horizon(&e, "s", SHARD0).await,
            list_shards_page(&e, "s").await,
        )
    };
    let key_file = TokenKey::path_in(dir.path());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let key_bytes = std::fs::read(&key_file).unwrap();
    let e = open(dir.path());
    assert_eq!(std::fs::read(&key_file).unwrap(), key_bytes);
    let out = get_records(&e, it.clone()).await.unwrap();
    assert_eq!(data(&out), ["kept"]);
    // And the iterator it hands back works too.
    put(&e, "s", "after").await;
    let next = get_records(&e, out.next_shard_iterator.unwrap())
        .await
        .unwrap();
    assert_eq!(data(&next), ["after"]);
    assert_eq!(
        list_shards_with(&e, &shards_page).await.unwrap().shards[0].shard_id,
        SHARD1
    );
    drop(e);
    // A new key (the file removed) voids them: refused, not misread.
    std::fs::remove_file(&key_file).unwrap();
    let e = open(dir.path());
    assert_ne!(std::fs::read(&key_file).unwrap(), key_bytes);
    let old_key = TokenKey::from_bytes(&key_bytes.as_slice().try_into().unwrap());
    assert!(IteratorToken::open(&it, &old_key).is_some());
    assert_invalid_iterator(&e, &it).await;
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Arbitrary text as an iterator or a NextToken: always InvalidArgument.
    #[test]
    fn arbitrary_tokens_are_invalid_arguments(s in any::<String>(), b in proptest::collection::vec(any::<u8>(), 0..400)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let e = open(dir.path());
        rt.block_on(async {
            create(&e, "s", 1, None).await;
            register(&e, "s", "c").await;
            let mut aws_like = vec![0u8, 0, 0, 0, 0, 0, 0, 1];
            aws_like.extend(&b);
            for t in [s.clone(), enc(&b), enc(&aws_like)] {
                prop_assert!(matches!(get_records(&e, t.clone()).await, Err(StreamsError::InvalidArgument(_))), "{}", t);
                prop_assert!(matches!(list_shards_with(&e, &t).await, Err(StreamsError::InvalidArgument(_))), "{}", t);
                prop_assert!(matches!(list_streams_with(&e, &t).await, Err(StreamsError::InvalidArgument(_))), "{}", t);
                prop_assert!(matches!(consumers_with(&e, "s", Some(&t)).await, Err(StreamsError::InvalidArgument(_))), "{}", t);
            }
            Ok(())
        })?;
    }

    /// Valid iterators re-sealed with the server's key for another stream (or
    /// with a changed uid) never read that stream: Err, no panic.
    #[test]
    fn resealed_iterators_never_read_another_stream(name in "[a-z]{2,10}", uid in "[a-z0-9-]{0,40}", shard in 0u32..3, offset in any::<u64>()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let e = open(dir.path());
        let key = TokenKey::load_or_create(dir.path()).unwrap();
        rt.block_on(async {
            create(&e, "victim", 2, None).await;
            put(&e, "victim", "private").await;
            create(&e, "s", 1, None).await;
            let tok = IteratorToken::open(&trim_horizon(&e, "s", SHARD0).await, &key).unwrap();
            for forged in [
                IteratorToken { stream_name: "victim".into(), shard_index: shard, offset, ..tok.clone() },
                IteratorToken { stream_name: name.clone(), shard_index: shard, offset, ..tok.clone() },
                IteratorToken { stream_name: "victim".into(), stream_uid: uid.clone(), shard_index: shard, offset, ..tok.clone() },
            ] {
                let r = get_records(&e, forged.seal(&key).unwrap()).await;
                prop_assert!(r.is_err(), "{:?} read {:?}", forged, r);
            }
            Ok(())
        })?;
    }
}
