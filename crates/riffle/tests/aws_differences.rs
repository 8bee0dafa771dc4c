//! End-to-end tests, through the real Rust AWS SDK against the real `riffle`
//! binary, of behaviours where Riffle used to differ from AWS (issue 9 item
//! 2). Each test names where AWS's answer comes from.
#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_kinesis::types::StreamStatus;
use aws_sdk_kinesis::Client;
use common::kinesis::{create_stream, describe_shards, err, sid, ACCOUNT};
use common::TestServer;

/// AWS's refusal of a tag outside its alphabet (kinesalite's recorded AWS
/// message; reference doc §1.7 "Tags").
const INVALID_TAGS: &str =
    "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @.";

fn invalid_tags<
    T: std::fmt::Debug,
    E: aws_sdk_kinesis::error::ProvideErrorMetadata + std::fmt::Debug,
>(
    r: Result<T, E>,
    what: &str,
) {
    let (code, msg) = err(r);
    assert_eq!(
        (code.as_str(), msg.as_str()),
        ("InvalidArgumentException", INVALID_TAGS),
        "{what}"
    );
}

/// "White space" in AWS's tag alphabet is the space character: tab, newline
/// and other control characters are refused on every tag-writing call.
#[tokio::test]
async fn tags_with_control_characters_are_refused_everywhere() {
    let server = TestServer::start();
    let c: Client = server.client().await;
    let name = "ctl-tags";
    create_stream(&c, name, 1).await;
    let stream_arn = format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{name}");
    // A plain space is fine.
    c.add_tags_to_stream()
        .stream_name(name)
        .tags("team name", "data eng")
        .send()
        .await
        .unwrap();
    for bad in ["a\tb", "a\nb", "a\rb", "a\u{7}b"] {
        invalid_tags(
            c.add_tags_to_stream()
                .stream_name(name)
                .tags(bad, "v")
                .send()
                .await,
            "AddTagsToStream key",
        );
        invalid_tags(
            c.add_tags_to_stream()
                .stream_name(name)
                .tags("k", bad)
                .send()
                .await,
            "AddTagsToStream value",
        );
        invalid_tags(
            c.tag_resource()
                .resource_arn(&stream_arn)
                .tags("k", bad)
                .send()
                .await,
            "TagResource value",
        );
        invalid_tags(
            c.remove_tags_from_stream()
                .stream_name(name)
                .tag_keys(bad)
                .send()
                .await,
            "RemoveTagsFromStream key",
        );
        invalid_tags(
            c.untag_resource()
                .resource_arn(&stream_arn)
                .tag_keys(bad)
                .send()
                .await,
            "UntagResource key",
        );
        invalid_tags(
            c.create_stream()
                .stream_name("ctl-tags-new")
                .shard_count(1)
                .tags(bad, "v")
                .send()
                .await,
            "CreateStream Tags",
        );
        invalid_tags(
            c.register_stream_consumer()
                .stream_arn(&stream_arn)
                .consumer_name("ctl-consumer")
                .tags("k", bad)
                .send()
                .await,
            "RegisterStreamConsumer Tags",
        );
    }
    // Nothing was created or changed by the refused calls.
    let tags = c
        .list_tags_for_stream()
        .stream_name(name)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().len(), 1);
    assert!(c
        .describe_stream_summary()
        .stream_name("ctl-tags-new")
        .send()
        .await
        .is_err());
    let consumers = c
        .list_stream_consumers()
        .stream_arn(&stream_arn)
        .send()
        .await
        .unwrap();
    assert!(consumers.consumers().is_empty());
}

/// MergeShards takes the pair in hash order: ShardToMerge must be the lower
/// shard. The inverted pair is refused with AWS's message (reference doc §1.7
/// "MergeShards"; kinesalite checks `ShardToMerge.End + 1 == Adjacent.Start`),
/// and nothing is merged.
#[tokio::test]
async fn merge_shards_refuses_the_pair_given_inverted() {
    let server = TestServer::start();
    let c = server.client().await;
    let name = "merge-order";
    create_stream(&c, name, 2).await;
    let (code, msg) = err(c
        .merge_shards()
        .stream_name(name)
        .shard_to_merge(sid(1))
        .adjacent_shard_to_merge(sid(0))
        .send()
        .await);
    assert_eq!(
        (code.as_str(), msg.as_str()),
        (
            "InvalidArgumentException",
            format!(
                "Shards shardId-000000000001 and shardId-000000000000 in stream {name} under account {ACCOUNT} are not an adjacent pair of shards eligible for merging"
            )
            .as_str()
        )
    );
    let summary = c
        .describe_stream_summary()
        .stream_name(name)
        .send()
        .await
        .unwrap();
    let summary = summary.stream_description_summary().unwrap();
    assert_eq!(summary.stream_status(), &StreamStatus::Active);
    assert_eq!(summary.open_shard_count(), 2);
    assert_eq!(describe_shards(&c, name).await.len(), 2);
    // The same pair in hash order merges.
    c.merge_shards()
        .stream_name(name)
        .shard_to_merge(sid(0))
        .adjacent_shard_to_merge(sid(1))
        .send()
        .await
        .unwrap();
    let shards = describe_shards(&c, name).await;
    assert_eq!(shards.len(), 3);
    assert_eq!(shards[2].parent_shard_id(), Some(sid(0).as_str()));
    assert_eq!(shards[2].adjacent_parent_shard_id(), Some(sid(1).as_str()));
}

/// A CREATING stream refuses SplitShard and MergeShards with
/// ResourceInUseException naming its state (reference doc §1.7 "Not active
/// for split/merge", recorded by kinesalite against AWS), and a stream deleted
/// while CREATING describes as DELETING with no shards until it is gone.
#[tokio::test]
async fn creating_stream_refuses_resharding_and_deletes_without_shards() {
    let server =
        TestServer::start_with(&["--transition-delay-ms", "4000", "--no-throughput-limits"]);
    let c = server.client().await;
    let name = "still-creating";
    create_stream(&c, name, 2).await;
    let not_active =
        format!("Stream {name} under account {ACCOUNT} not ACTIVE, instead in state CREATING");
    let (code, msg) = err(c
        .split_shard()
        .stream_name(name)
        .shard_to_split(sid(0))
        .new_starting_hash_key("1000")
        .send()
        .await);
    assert_eq!(
        (code.as_str(), msg.as_str()),
        ("ResourceInUseException", not_active.as_str())
    );
    let (code, msg) = err(c
        .merge_shards()
        .stream_name(name)
        .shard_to_merge(sid(0))
        .adjacent_shard_to_merge(sid(1))
        .send()
        .await);
    assert_eq!(
        (code.as_str(), msg.as_str()),
        ("ResourceInUseException", not_active.as_str())
    );

    c.delete_stream().stream_name(name).send().await.unwrap();
    let d = c.describe_stream().stream_name(name).send().await.unwrap();
    let d = d.stream_description().unwrap();
    assert_eq!(d.stream_status(), &StreamStatus::Deleting);
    assert!(
        d.shards().is_empty(),
        "shards of a stream deleted while CREATING: {:?}",
        d.shards()
    );
    assert!(!d.has_more_shards());
    // Until it is gone; then it is not found.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match c.describe_stream().stream_name(name).send().await {
            Ok(d) => {
                let d = d.stream_description().unwrap();
                assert_eq!(d.stream_status(), &StreamStatus::Deleting);
                assert!(d.shards().is_empty());
            }
            Err(e) => {
                let (code, _) = err::<(), _>(Err(e));
                assert_eq!(code, "ResourceNotFoundException");
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "stream never went away"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// GetResourcePolicy on an existing stream or consumer with no policy answers
/// the empty policy document `{"Policy":"{}"}` (AWS's recorded response), not
/// ResourceNotFoundException; a policy that was put and deleted reads `{}` too.
#[tokio::test]
async fn get_resource_policy_without_policy_is_empty_document() {
    let server = TestServer::start();
    let c = server.client().await;
    let name = "no-policy";
    create_stream(&c, name, 1).await;
    let stream_arn = format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{name}");
    let got = c
        .get_resource_policy()
        .resource_arn(&stream_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(got.policy(), "{}");

    let consumer = c
        .register_stream_consumer()
        .stream_arn(&stream_arn)
        .consumer_name("reader")
        .send()
        .await
        .unwrap();
    let consumer_arn = consumer.consumer().unwrap().consumer_arn().to_string();
    let got = c
        .get_resource_policy()
        .resource_arn(&consumer_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(got.policy(), "{}");

    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kinesis:DescribeStreamSummary","Resource":"{stream_arn}"}}]}}"#
    );
    c.put_resource_policy()
        .resource_arn(&stream_arn)
        .policy(&policy)
        .send()
        .await
        .unwrap();
    let got = c
        .get_resource_policy()
        .resource_arn(&stream_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(got.policy(), policy);
    c.delete_resource_policy()
        .resource_arn(&stream_arn)
        .send()
        .await
        .unwrap();
    let got = c
        .get_resource_policy()
        .resource_arn(&stream_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(got.policy(), "{}");

    // A resource that does not exist is still not found.
    let (code, _) = err(c
        .get_resource_policy()
        .resource_arn(format!(
            "arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/missing"
        ))
        .send()
        .await);
    assert_eq!(code, "ResourceNotFoundException");
}

/// A hex sequence-number layout as the decimal string AWS takes.
fn seq_hex(h: &str) -> String {
    let mut digits = vec![0u32]; // little-endian base 10^9
    for c in h.chars() {
        let mut carry = c.to_digit(16).unwrap() as u64;
        for d in digits.iter_mut() {
            let v = u64::from(*d) * 16 + carry;
            *d = (v % 1_000_000_000) as u32;
            carry = v / 1_000_000_000;
        }
        while carry > 0 {
            digits.push((carry % 1_000_000_000) as u32);
            carry /= 1_000_000_000;
        }
    }
    let mut s = digits.last().unwrap().to_string();
    for d in digits.iter().rev().skip(1) {
        s.push_str(&format!("{d:09}"));
    }
    s
}

/// PutRecord's SequenceNumberForOrdering and GetShardIterator's
/// StartingSequenceNumber are decoded as AWS decodes them (cases recorded
/// against AWS in kinesalite's putRecord/getShardIterator tests; its
/// `db/index.js` parseSequence is the layout oracle).
#[tokio::test]
async fn sequence_numbers_decode_as_aws() {
    let server = TestServer::start();
    let c = server.client().await;
    let name = "seq-layouts";
    create_stream(&c, name, 1).await;
    let put = |seq: String| {
        c.put_record()
            .stream_name(name)
            .partition_key("a")
            .data(aws_sdk_kinesis::primitives::Blob::new(b"x".to_vec()))
            .sequence_number_for_ordering(seq)
            .send()
    };
    // Version 1 (the older layout), all zero: accepted.
    put(seq_hex("20000000000000000000000000000000000000000000001"))
        .await
        .unwrap();
    // Version 2, all zero: accepted.
    put(seq_hex("20000000000000000000000000000000000000000000002"))
        .await
        .unwrap();
    let invalid_ordering = |seq: &str| {
        format!(
            "ExclusiveMinimumSequenceNumber {seq} used in PutRecord on stream {name} under account {ACCOUNT} is invalid."
        )
    };
    for seq in [
        // Impossible shard creation time (version 0 and version 2 layouts).
        "26227199374822427428162556223570313216".to_string(),
        seq_hex("2ffffffffff7fffffffffffffff000000000007fffffff2"),
        // Version 4, and a leading 3.
        seq_hex("20000000000000000000000000000000000000000000004"),
        seq_hex("30000000000000000000000000000000000000000000001"),
    ] {
        let (code, msg) = err(put(seq.clone()).await);
        assert_eq!(
            (code.as_str(), msg.as_str()),
            ("InvalidArgumentException", invalid_ordering(&seq).as_str()),
            "SequenceNumberForOrdering {seq}"
        );
    }

    let at = |seq: &str| {
        c.get_shard_iterator()
            .stream_name(name)
            .shard_id(sid(0))
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::AtSequenceNumber)
            .starting_sequence_number(seq)
            .send()
    };
    let (code, msg) = err(at("5").await);
    assert_eq!(
        (code.as_str(), msg.as_str()),
        (
            "InvalidArgumentException",
            "Invalid StartingSequenceNumber. It encodes shardId-000000000005, while it was used in a call to a shard with shardId-000000000000"
        )
    );
    let top_bit = seq_hex("20000000000000000000000000000000000000800000002");
    let (code, msg) = err(at(&top_bit).await);
    assert_eq!(
        (code.as_str(), msg.as_str()),
        (
            "InvalidArgumentException",
            "Invalid StartingSequenceNumber. It encodes shardId--02147483648, while it was used in a call to a shard with shardId-000000000000"
        )
    );
    let large_date = "26227199374822427428162556223570313216";
    let (code, msg) = err(at(large_date).await);
    assert_eq!(
        (code.as_str(), msg.as_str()),
        (
            "InvalidArgumentException",
            format!(
                "StartingSequenceNumber {large_date} used in GetShardIterator on shard shardId-000000000000 in stream {name} under account {ACCOUNT} is invalid."
            )
            .as_str()
        )
    );
}

/// A child shard's StartingSequenceNumber encodes a creation time after its
/// parent's EndingSequenceNumber (AWS's children start after their parents
/// end), and both still decode as this stream's numbers.
#[tokio::test]
async fn child_shard_starts_after_parent_ends() {
    let server = TestServer::start();
    let c = server.client().await;
    let name = "child-time";
    create_stream(&c, name, 1).await;
    c.split_shard()
        .stream_name(name)
        .shard_to_split(sid(0))
        .new_starting_hash_key((1u128 << 127).to_string())
        .send()
        .await
        .unwrap();
    let shards = describe_shards(&c, name).await;
    assert_eq!(shards.len(), 3);
    let parent_end = shards[0]
        .sequence_number_range()
        .unwrap()
        .ending_sequence_number()
        .unwrap()
        .to_string();
    let field = |seq: &str, lo: usize, n: usize| {
        let l = common::kinesis::check_seq_layout(seq);
        common::kinesis::bits(&l, lo, n)
    };
    // Record time: bits 44..80; shard creation time: bits 148..184.
    let parent_end_secs = field(&parent_end, 44, 36);
    for child in &shards[1..] {
        let start = child
            .sequence_number_range()
            .unwrap()
            .starting_sequence_number();
        let child_create = field(start, 148, 36);
        assert!(
            child_create > parent_end_secs,
            "child {} created at {child_create}, parent ended at {parent_end_secs}",
            child.shard_id()
        );
        // The child's own starting number is accepted on the child.
        c.get_shard_iterator()
            .stream_name(name)
            .shard_id(child.shard_id())
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::AtSequenceNumber)
            .starting_sequence_number(start)
            .send()
            .await
            .unwrap();
    }
    // Records written to a child carry the child's encoded creation time.
    let (shard, seq) = common::kinesis::put_record(&c, name, "pk", b"d").await;
    let child = shards.iter().find(|s| s.shard_id() == shard).unwrap();
    let start = child
        .sequence_number_range()
        .unwrap()
        .starting_sequence_number();
    assert_eq!(field(&seq, 148, 36), field(start, 148, 36));
}

/// Control-plane calls are rate-limited as AWS documents them (KDS guide
/// quota table, API reference per operation), with a one-second burst, under
/// the same switch as the data-plane limits. Messages: AWS's recorded
/// "Rate exceeded for stream {name} under account {acct}." (DescribeStream,
/// botocore#821) and "Rate exceeded for account {acct}." (ListStreams,
/// Graylog2/graylog-plugin-integrations#341); GetShardIterator's throttle is
/// ProvisionedThroughputExceededException naming the shard.
#[tokio::test]
async fn control_plane_rates_are_limited_like_aws() {
    let server = TestServer::start_limited();
    let c = server.client().await;
    let name = "rated";
    create_stream(&c, name, 2).await;
    let raw = common::no_retry_client_for(&server.endpoint()).await;

    /// Sends `n` calls back to back; returns (successes, first error).
    async fn burst<F, Fut, T, E>(n: usize, mut call: F) -> (usize, Option<(String, String)>)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
        T: std::fmt::Debug,
        E: aws_sdk_kinesis::error::ProvideErrorMetadata + std::fmt::Debug,
    {
        let mut ok = 0;
        let mut first = None;
        for _ in 0..n {
            match call().await {
                Ok(_) => ok += 1,
                Err(e) => {
                    if first.is_none() {
                        first = Some(err::<T, E>(Err(e)));
                    }
                }
            }
        }
        (ok, first)
    }

    let started = std::time::Instant::now();
    let (ok, first) = burst(40, || raw.describe_stream().stream_name(name).send()).await;
    let secs = started.elapsed().as_secs_f64();
    assert!(ok >= 10, "the one-second burst of 10 was not granted: {ok}");
    assert!(
        (ok as f64) <= 10.0 + 10.0 * secs + 1.0,
        "{ok} DescribeStream calls in {secs:.2}s exceed 10/s"
    );
    assert_eq!(
        first,
        Some((
            "LimitExceededException".to_string(),
            format!("Rate exceeded for stream {name} under account {ACCOUNT}.")
        ))
    );

    let (ok, first) = burst(20, || raw.list_streams().send()).await;
    assert!((5..20).contains(&ok), "ListStreams admitted {ok} of 20");
    assert_eq!(
        first,
        Some((
            "LimitExceededException".to_string(),
            format!("Rate exceeded for account {ACCOUNT}.")
        ))
    );

    let (ok, first) = burst(20, || {
        raw.get_shard_iterator()
            .stream_name(name)
            .shard_id(sid(0))
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::Latest)
            .send()
    })
    .await;
    assert!(
        (5..20).contains(&ok),
        "GetShardIterator admitted {ok} of 20"
    );
    assert_eq!(
        first,
        Some((
            "ProvisionedThroughputExceededException".to_string(),
            format!(
                "Rate exceeded for shard {} in stream {name} under account {ACCOUNT}.",
                sid(0)
            )
        ))
    );
    // Per shard: the other shard has its own five.
    raw.get_shard_iterator()
        .stream_name(name)
        .shard_id(sid(1))
        .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::Latest)
        .send()
        .await
        .unwrap();

    // The SDK retries LimitExceededException with backoff: a retrying client
    // gets through a burst above the limit.
    for _ in 0..15 {
        c.describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .unwrap();
    }
    for _ in 0..12 {
        c.describe_stream().stream_name(name).send().await.unwrap();
    }
}

/// With throughput limits off (`--no-throughput-limits`), control-plane
/// calls are not rate-limited either.
#[tokio::test]
async fn control_plane_rates_follow_the_throughput_switch() {
    let server = TestServer::start();
    let c = server.client().await;
    create_stream(&c, "unrated", 1).await;
    let raw = common::no_retry_client_for(&server.endpoint()).await;
    for _ in 0..40 {
        raw.describe_stream()
            .stream_name("unrated")
            .send()
            .await
            .unwrap();
        raw.list_streams().send().await.unwrap();
    }
}
