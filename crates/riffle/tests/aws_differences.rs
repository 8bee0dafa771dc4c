//! End-to-end tests, through the real Rust AWS SDK against the real `riffle`
//! binary, of behaviours where Riffle used to differ from AWS (issue 9 item
//! 2). Each test names where AWS's answer comes from.
#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_kinesis::Client;
use common::kinesis::{create_stream, err, ACCOUNT};
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
