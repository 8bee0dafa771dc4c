//! Kinesis helpers shared by the SDK end-to-end tests: AWS's fixed names and
//! formats, service-error extraction, the sequence-number layout check, and
//! the SDK calls most tests make the same way.
#![allow(dead_code)]

use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{Shard, ShardIteratorType};
use aws_sdk_kinesis::Client;
use std::time::{SystemTime, UNIX_EPOCH};

/// The account every riffle resource lives in.
pub const ACCOUNT: &str = "000000000000";

pub fn arn(name: &str) -> String {
    format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{name}")
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The id of the shard with index `i`.
pub fn sid(i: u32) -> String {
    format!("shardId-{i:012}")
}

/// The `(code, message)` of a call that must fail with a service error.
pub fn err<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<T, E>,
) -> (String, String) {
    let e = r.expect_err("the call should have failed");
    let code = e
        .code()
        .unwrap_or_else(|| panic!("no error code in {e:?}"))
        .to_string();
    (code, e.message().unwrap_or_default().to_string())
}

/// Ordering of decimal sequence numbers (no leading zeros).
pub fn seq_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// A decimal number as little-endian 32-bit limbs.
pub fn limbs(dec: &str) -> Vec<u32> {
    let mut l = vec![0u32];
    for c in dec.bytes() {
        assert!(c.is_ascii_digit(), "not a decimal number: {dec}");
        let mut carry = u64::from(c - b'0');
        for x in l.iter_mut() {
            let v = u64::from(*x) * 10 + carry;
            *x = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            l.push(carry as u32);
        }
    }
    l
}

/// `n` bits of `l` from bit `lo` up.
pub fn bits(l: &[u32], lo: usize, n: usize) -> u64 {
    (0..n).fold(0u64, |acc, i| {
        let b = lo + i;
        let bit = l.get(b / 32).map(|x| (x >> (b % 32)) & 1).unwrap_or(0);
        acc | (u64::from(bit) << i)
    })
}

pub fn bit_len(l: &[u32]) -> usize {
    for (i, x) in l.iter().enumerate().rev() {
        if *x != 0 {
            return i * 32 + 32 - x.leading_zeros() as usize;
        }
    }
    0
}

/// Checks a sequence number is AWS's 56-digit "version 2" layout (what the
/// KCL's SequenceNumberValidator decodes) and returns it as limbs, for the
/// caller to take its fields apart with [`bits`]: the shard index is bits
/// 4..36 (its low nibble again at 144..148).
pub fn check_seq_layout(seq: &str) -> Vec<u32> {
    assert_eq!(seq.len(), 56, "sequence number {seq} is not 56 digits");
    assert!(
        seq.bytes().all(|b| b.is_ascii_digit()) && !seq.starts_with('0'),
        "bad sequence number {seq}"
    );
    let l = limbs(seq);
    assert_eq!(bit_len(&l), 186, "sequence number {seq} is not 186 bits");
    assert_eq!(bits(&l, 184, 4), 2, "version nibble of {seq}");
    assert_eq!(bits(&l, 0, 4), 2, "trailing version nibble of {seq}");
    let shard = bits(&l, 4, 32);
    assert_eq!(bits(&l, 144, 4), shard & 0xF, "shard-index nibble of {seq}");
    l
}

/// CreateStream with `shards` provisioned shards.
pub async fn create_stream(c: &Client, name: &str, shards: i32) {
    c.create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await
        .unwrap();
}

/// The shards DescribeStream lists (its first page).
pub async fn describe_shards(c: &Client, name: &str) -> Vec<Shard> {
    let out = c.describe_stream().stream_name(name).send().await.unwrap();
    out.stream_description().unwrap().shards().to_vec()
}

/// Every shard of `stream`, following ListShards' NextToken.
pub async fn list_all_shards(c: &Client, stream: &str) -> Vec<Shard> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let req = match &token {
            Some(t) => c.list_shards().next_token(t),
            None => c.list_shards().stream_name(stream),
        };
        let page = req.send().await.unwrap();
        out.extend(page.shards().to_vec());
        match page.next_token() {
            Some(t) => token = Some(t.to_string()),
            None => return out,
        }
    }
}

/// PutRecord; returns the `(shard id, sequence number)` it was stored at.
pub async fn put_record(c: &Client, stream: &str, pk: &str, data: &[u8]) -> (String, String) {
    let out = c
        .put_record()
        .stream_name(stream)
        .partition_key(pk)
        .data(Blob::new(data.to_vec()))
        .send()
        .await
        .unwrap();
    (
        out.shard_id().to_string(),
        out.sequence_number().to_string(),
    )
}

/// A TRIM_HORIZON iterator for `shard` of `stream`.
pub async fn trim_horizon(c: &Client, stream: &str, shard: &str) -> String {
    c.get_shard_iterator()
        .stream_name(stream)
        .shard_id(shard)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator()
        .unwrap()
        .to_string()
}
