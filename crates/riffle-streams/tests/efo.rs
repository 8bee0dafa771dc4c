//! Domain-level tests of enhanced fan-out: consumer lifecycle and limits,
//! and the SubscribeToShard event logic (push delivery, continuation and
//! resume, heartbeats, lifetime, takeover, pacing, shard end conditions).
#![allow(clippy::unwrap_used)]

mod common;

use common::{config_with_sync, get_records, iterator, put_record, SHARD0};
use riffle_model::*;
use riffle_streams::{Engine, EngineConfig, ManualClock, StreamsError, Subscription, SyncPolicy};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ARN: &str = "arn:aws:kinesis:us-east-1:000000000000:stream/s";

fn config(dir: &std::path::Path) -> EngineConfig {
    let mut cfg = config_with_sync(dir, SyncPolicy::Never);
    cfg.subscription_heartbeat_ms = 10_000;
    cfg
}

async fn setup(cfg: EngineConfig) -> Engine {
    let e = Engine::open(cfg).unwrap();
    common::create(&e, "s", 1, None).await;
    e
}

async fn register(e: &Engine, name: &str) -> String {
    e.register_stream_consumer(RegisterStreamConsumerInput {
        stream_arn: ARN.into(),
        consumer_name: name.into(),
        tags: None,
    })
    .await
    .unwrap()
    .consumer
    .consumer_arn
}

async fn put(e: &Engine, data: &str) -> String {
    put_record(e, "s", "pk", data.as_bytes().to_vec())
        .await
        .unwrap()
        .sequence_number
}

async fn subscribe(
    e: &Engine,
    consumer: &str,
    kind: ShardIteratorType,
    seq: Option<String>,
) -> Result<Subscription, StreamsError> {
    e.subscribe_to_shard(SubscribeToShardInput {
        consumer_arn: consumer.into(),
        shard_id: SHARD0.into(),
        starting_position: StartingPosition {
            position_type: kind,
            sequence_number: seq,
            timestamp: None,
        },
    })
    .await
}

async fn next(sub: &mut Subscription) -> SubscribeToShardEvent {
    tokio::time::timeout(Duration::from_secs(10), sub.next_event())
        .await
        .expect("no event within 10 s")
        .expect("the subscription ended")
        .expect("the subscription failed")
}

fn data(ev: &SubscribeToShardEvent) -> Vec<String> {
    ev.records
        .iter()
        .map(|r| String::from_utf8(r.data.0.clone()).unwrap())
        .collect()
}

#[tokio::test]
async fn records_arrive_in_order_and_new_ones_are_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let e = Arc::new(setup(config(dir.path())).await);
    let c = register(&e, "c").await;
    for d in ["a", "b", "c"] {
        put(&e, d).await;
    }
    let mut sub = subscribe(&e, &c, ShardIteratorType::TrimHorizon, None)
        .await
        .unwrap();
    let ev = next(&mut sub).await;
    assert_eq!(data(&ev), ["a", "b", "c"]);
    assert_eq!(
        ev.continuation_sequence_number.as_deref(),
        Some(ev.records[2].sequence_number.as_str())
    );
    assert!(ev.child_shards.is_none());
    // The heartbeat is 10 s away, so an event within that time is a push.
    let writer = {
        let e = e.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            put(&e, "d").await
        })
    };
    let started = Instant::now();
    let ev = next(&mut sub).await;
    let seq = writer.await.unwrap();
    assert_eq!(data(&ev), ["d"]);
    assert_eq!(ev.records[0].sequence_number, seq);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn continuation_resumes_without_duplicates_even_on_an_empty_shard() {
    let dir = tempfile::tempdir().unwrap();
    let e = setup(config(dir.path())).await;
    let c = register(&e, "c").await;
    // First event at once, empty, with a continuation that precedes record 0.
    let mut sub = subscribe(&e, &c, ShardIteratorType::TrimHorizon, None)
        .await
        .unwrap();
    let ev = next(&mut sub).await;
    assert!(ev.records.is_empty());
    let c0 = ev.continuation_sequence_number.unwrap();
    drop(sub);
    put(&e, "r0").await;
    put(&e, "r1").await;
    let mut sub = subscribe(
        &e,
        &c,
        ShardIteratorType::AfterSequenceNumber,
        Some(c0.clone()),
    )
    .await
    .unwrap();
    assert_eq!(data(&next(&mut sub).await), ["r0", "r1"]);
    drop(sub);
    // GetShardIterator honours the same continuation.
    let it = iterator(
        &e,
        "s",
        SHARD0,
        ShardIteratorType::AfterSequenceNumber,
        Some(c0),
        None,
    )
    .await
    .unwrap();
    let got = get_records(&e, it).await.unwrap();
    assert_eq!(got.records.len(), 2);
    // A caught-up heartbeat's continuation is the last record: AFTER it gives only newer ones.
    let mut sub = subscribe(&e, &c, ShardIteratorType::Latest, None)
        .await
        .unwrap();
    let hb = next(&mut sub).await;
    assert!(hb.records.is_empty());
    assert_eq!(
        hb.continuation_sequence_number.as_deref(),
        Some(got.records[1].sequence_number.as_str())
    );
    drop(sub);
    put(&e, "r2").await;
    let mut sub = subscribe(
        &e,
        &c,
        ShardIteratorType::AfterSequenceNumber,
        hb.continuation_sequence_number,
    )
    .await
    .unwrap();
    assert_eq!(data(&next(&mut sub).await), ["r2"]);
}

#[tokio::test]
async fn idle_subscriptions_send_heartbeats_and_end_after_their_lifetime() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.subscription_heartbeat_ms = 100;
    cfg.subscription_lifetime_ms = 700;
    let e = setup(cfg).await;
    let c = register(&e, "c").await;
    let started = Instant::now();
    let mut sub = subscribe(&e, &c, ShardIteratorType::Latest, None)
        .await
        .unwrap();
    let mut events = 0;
    while let Some(ev) = sub.next_event().await {
        let ev = ev.unwrap();
        assert!(ev.records.is_empty());
        assert!(ev.continuation_sequence_number.is_some());
        events += 1;
    }
    let took = started.elapsed();
    assert!(events >= 4, "only {events} heartbeats");
    assert!(took >= Duration::from_millis(650) && took < Duration::from_secs(5));
    assert!(sub.next_event().await.is_none());
    drop(sub);
    assert_eq!(e.live_subscriptions(), 0);
}

#[tokio::test]
async fn a_second_subscription_is_refused_then_takes_over() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.subscription_exclusive_ms = 300;
    let e = setup(cfg).await;
    let c = register(&e, "c").await;
    let mut first = subscribe(&e, &c, ShardIteratorType::Latest, None)
        .await
        .unwrap();
    next(&mut first).await;
    let err = subscribe(&e, &c, ShardIteratorType::Latest, None)
        .await
        .unwrap_err();
    assert!(matches!(err, StreamsError::ResourceInUse(_)), "{err:?}");
    // Another consumer on the same shard is independent.
    let other = register(&e, "other").await;
    let _other = subscribe(&e, &other, ShardIteratorType::Latest, None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
    let mut second = subscribe(&e, &c, ShardIteratorType::Latest, None)
        .await
        .unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(5), first.next_event())
        .await
        .unwrap();
    assert!(
        matches!(ended, Some(Err(StreamsError::ResourceInUse(_)))),
        "{ended:?}"
    );
    assert!(first.next_event().await.is_none());
    drop(first);
    // The old one leaving does not release the new one's slot.
    assert_eq!(e.live_subscriptions(), 2);
    next(&mut second).await;
}

#[tokio::test]
async fn reads_are_paced_per_consumer() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.subscription_read_bytes_per_sec = 100_000;
    let e = setup(cfg).await;
    let c = register(&e, "c").await;
    let chunk = "x".repeat(10_000 - 2);
    for _ in 0..30 {
        put(&e, &chunk).await;
    }
    let mut sub = subscribe(&e, &c, ShardIteratorType::TrimHorizon, None)
        .await
        .unwrap();
    let started = Instant::now();
    let mut got = 0;
    let mut events = 0;
    while got < 30 {
        let ev = next(&mut sub).await;
        got += ev.records.len();
        events += 1;
        // One event never holds more than the bucket's one second.
        assert!(ev.records.len() <= 10, "{} records", ev.records.len());
        if got < 30 {
            assert!(ev.millis_behind_latest >= 0);
        }
    }
    // 300 kB at 100 kB/s with a 100 kB burst: at least ~2 s.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1700), "took {took:?}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert!(events >= 3);
}

#[tokio::test]
async fn deregistering_ends_the_subscription() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.subscription_heartbeat_ms = 50;
    let e = setup(cfg).await;
    let c = register(&e, "c").await;
    let mut sub = subscribe(&e, &c, ShardIteratorType::Latest, None)
        .await
        .unwrap();
    next(&mut sub).await;
    e.deregister_stream_consumer(ConsumerRef {
        consumer_arn: Some(c.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut last = None;
    while let Some(ev) = tokio::time::timeout(Duration::from_secs(5), sub.next_event())
        .await
        .unwrap()
    {
        last = Some(ev);
    }
    assert!(
        matches!(last, Some(Err(StreamsError::ResourceNotFound(_)))),
        "{last:?}"
    );
    // Before streaming: unknown consumer, unknown shard, bad position.
    let err = subscribe(&e, &c, ShardIteratorType::Latest, None)
        .await
        .unwrap_err();
    assert!(matches!(err, StreamsError::ResourceNotFound(_)), "{err:?}");
    let c2 = register(&e, "c2").await;
    let err = e
        .subscribe_to_shard(SubscribeToShardInput {
            consumer_arn: c2.clone(),
            shard_id: "shardId-000000000007".into(),
            starting_position: StartingPosition::default(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StreamsError::ResourceNotFound(_)), "{err:?}");
    let err = subscribe(&e, &c2, ShardIteratorType::AtSequenceNumber, None)
        .await
        .unwrap_err();
    assert!(matches!(err, StreamsError::InvalidArgument(_)), "{err:?}");
}

#[tokio::test]
async fn consumer_lifecycle_limits_and_pagination() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new());
    let mut cfg = config(dir.path());
    cfg.transition_delay_ms = 500;
    cfg.max_consumers_per_stream = 7;
    let e = Engine::open_with_clock(cfg, clock.clone()).unwrap();
    common::create(&e, "s", 1, None).await;
    clock.advance_ms(600);
    let out = e
        .register_stream_consumer(RegisterStreamConsumerInput {
            stream_arn: ARN.into(),
            consumer_name: "c0".into(),
            tags: None,
        })
        .await
        .unwrap()
        .consumer;
    assert_eq!(out.consumer_status, ConsumerStatus::Creating);
    let created_secs = out.consumer_creation_timestamp.0 / 1000;
    assert_eq!(
        out.consumer_arn,
        format!("{ARN}/consumer/c0:{created_secs}")
    );
    // Not ACTIVE yet: no subscription.
    let err = subscribe(&e, &out.consumer_arn, ShardIteratorType::Latest, None)
        .await
        .unwrap_err();
    assert!(matches!(err, StreamsError::ResourceInUse(_)), "{err:?}");
    for i in 1..5 {
        register(&e, &format!("c{i}")).await;
    }
    // Five CREATING at once is the limit.
    let err = e
        .register_stream_consumer(RegisterStreamConsumerInput {
            stream_arn: ARN.into(),
            consumer_name: "c5".into(),
            tags: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StreamsError::LimitExceeded(_)), "{err:?}");
    clock.advance_ms(600);
    let d = e
        .describe_stream_consumer(ConsumerRef {
            stream_arn: Some(ARN.into()),
            consumer_name: Some("c0".into()),
            consumer_arn: None,
        })
        .await
        .unwrap()
        .consumer_description;
    assert_eq!(d.consumer_status, ConsumerStatus::Active);
    assert_eq!(d.consumer_arn, out.consumer_arn);
    assert_eq!(d.stream_arn, ARN);
    register(&e, "c5").await;
    register(&e, "c6").await;
    let err = e
        .register_stream_consumer(RegisterStreamConsumerInput {
            stream_arn: ARN.into(),
            consumer_name: "c7".into(),
            tags: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StreamsError::LimitExceeded(_)), "{err:?}");
    let err = e
        .register_stream_consumer(RegisterStreamConsumerInput {
            stream_arn: ARN.into(),
            consumer_name: "c1".into(),
            tags: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StreamsError::ResourceInUse(_)), "{err:?}");
    // Pages of 3 cover all 7 in creation order.
    let mut names = vec![];
    let mut token = None;
    loop {
        let page = e
            .list_stream_consumers(ListStreamConsumersInput {
                stream_arn: ARN.into(),
                next_token: token.clone(),
                max_results: Some(3),
                stream_creation_timestamp: None,
            })
            .await
            .unwrap();
        assert!(page.consumers.len() <= 3);
        names.extend(page.consumers.into_iter().map(|c| c.consumer_name));
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(names, ["c0", "c1", "c2", "c3", "c4", "c5", "c6"]);
    // Tokens expire after 300 s.
    let page = e
        .list_stream_consumers(ListStreamConsumersInput {
            stream_arn: ARN.into(),
            next_token: None,
            max_results: Some(1),
            stream_creation_timestamp: None,
        })
        .await
        .unwrap();
    clock.advance_ms(301_000);
    let err = e
        .list_stream_consumers(ListStreamConsumersInput {
            stream_arn: ARN.into(),
            next_token: page.next_token,
            max_results: None,
            stream_creation_timestamp: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StreamsError::ExpiredNextToken(_)), "{err:?}");
    // Tags on the consumer ARN.
    e.tag_resource(TagResourceInput {
        resource_arn: out.consumer_arn.clone(),
        tags: [("k".to_string(), "v".to_string())].into(),
    })
    .await
    .unwrap();
    let tags = e
        .list_tags_for_resource(ListTagsForResourceInput {
            resource_arn: out.consumer_arn.clone(),
        })
        .await
        .unwrap()
        .tags;
    assert_eq!(tags.len(), 1);
    assert_eq!((tags[0].key.as_str(), tags[0].value.as_str()), ("k", "v"));
    // Deregister: DELETING, then gone; DeleteStream needs EnforceConsumerDeletion.
    e.deregister_stream_consumer(ConsumerRef {
        consumer_arn: Some(out.consumer_arn.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    let d = e
        .describe_stream_consumer(ConsumerRef {
            consumer_arn: Some(out.consumer_arn.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        d.consumer_description.consumer_status,
        ConsumerStatus::Deleting
    );
    clock.advance_ms(600);
    e.settle_all();
    let err = e
        .describe_stream_consumer(ConsumerRef {
            consumer_arn: Some(out.consumer_arn.clone()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StreamsError::ResourceNotFound(_)), "{err:?}");
    let summary = e
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream: StreamRef {
                name: Some("s".into()),
                arn: None,
            },
        })
        .await
        .unwrap();
    assert_eq!(summary.stream_description_summary.consumer_count, 6);
    let err = e
        .delete_stream(DeleteStreamInput {
            stream: StreamRef {
                name: Some("s".into()),
                arn: None,
            },
            enforce_consumer_deletion: false,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StreamsError::ResourceInUse(_)), "{err:?}");
}

#[tokio::test]
async fn consumers_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let arn = {
        let e = setup(config(dir.path())).await;
        register(&e, "durable").await
    };
    let e = Engine::open(config(dir.path())).unwrap();
    let d = e
        .describe_stream_consumer(ConsumerRef {
            consumer_arn: Some(arn.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(d.consumer_description.consumer_name, "durable");
    assert_eq!(
        d.consumer_description.consumer_status,
        ConsumerStatus::Active
    );
}
