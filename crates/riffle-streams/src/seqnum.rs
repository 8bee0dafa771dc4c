//! Kinesis "version 2" sequence numbers: 186-bit values printed as ~56
//! decimal digits, laid out so that the KCL's `SequenceNumberValidator` can
//! read the shard index back out of them.
//!
//! Hex layout (47 digits): `2 | shard-create-secs(9) | shard-index & 0xF (1) |
//! seq-index(16) | 00 | record-secs(9) | shard-index(8) | 2`.
//! Riffle's seq-index is the record's offset in its shard log, so numbers are
//! strictly increasing within a shard and unique across the stream.

use num_bigint::BigUint;
use std::fmt::Write as _;

/// The largest seq-index; used for a closed shard's `EndingSequenceNumber`.
pub const MAX_SEQ_INDEX: u64 = 0x7fff_ffff_ffff_ffff;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeqParts {
    pub shard_create_secs: u64,
    pub shard_index: u32,
    pub seq_index: u64,
    pub record_secs: u64,
}

const SECS_MASK: u64 = 0xf_ffff_ffff; // 36 bits

pub fn encode(p: SeqParts) -> String {
    // The 188-bit value as `hi:lo` (60 + 128 bits), built with shifts instead of
    // a hex string and a bignum: this runs once per record written or read.
    let lo: u128 = 2
        | u128::from(p.shard_index) << 4
        | u128::from(p.record_secs & SECS_MASK) << 36
        | u128::from(p.seq_index) << 80;
    let hi: u64 = (p.seq_index >> 48)
        | u64::from(p.shard_index & 0xf) << 16
        | (p.shard_create_secs & SECS_MASK) << 20
        | 2 << 56;
    to_decimal([lo as u64, (lo >> 64) as u64, hi])
}

/// Decimal digits of a little-endian 192-bit number, by long division in
/// 19-digit chunks (10^19 is the largest power of ten below 2^64).
fn to_decimal(mut limbs: [u64; 3]) -> String {
    const CHUNK: u64 = 10_000_000_000_000_000_000;
    let mut chunks = [0u64; 4]; // 192 bits < 10^58 < 10^(19*4)
    let mut n = 0;
    while limbs.iter().any(|&l| l != 0) {
        let mut rem: u128 = 0;
        for limb in limbs.iter_mut().rev() {
            let cur = rem << 64 | u128::from(*limb);
            *limb = (cur / u128::from(CHUNK)) as u64;
            rem = cur % u128::from(CHUNK);
        }
        chunks[n] = rem as u64;
        n += 1;
    }
    let Some(top) = n.checked_sub(1) else {
        return "0".into();
    };
    let mut out = String::with_capacity(58);
    // Writing to a String cannot fail.
    let _ = write!(out, "{}", chunks[top]);
    for c in chunks[..top].iter().rev() {
        let _ = write!(out, "{c:019}");
    }
    out
}

/// Decodes a version-2 sequence number; `None` for anything else (bad digits,
/// another version, inconsistent shard index fields).
pub fn decode(s: &str) -> Option<SeqParts> {
    if s.is_empty() || s.len() > 129 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = BigUint::parse_bytes(s.as_bytes(), 10)?;
    let hex = n.to_str_radix(16);
    if hex.len() != 47 || !hex.starts_with('2') || !hex.ends_with('2') {
        return None;
    }
    let field = |from: usize, len: usize| u64::from_str_radix(&hex[from..from + len], 16).ok();
    let shard_create_secs = field(1, 9)?;
    let nibble = field(10, 1)?;
    let seq_index = field(11, 16)?;
    let record_secs = field(29, 9)?;
    let shard_index = u32::try_from(field(38, 8)?).ok()?;
    if u64::from(shard_index & 0xf) != nibble || seq_index > MAX_SEQ_INDEX {
        return None;
    }
    Some(SeqParts {
        shard_create_secs,
        shard_index,
        seq_index,
        record_secs,
    })
}

/// A shard creation time (epoch seconds) AWS refuses as impossible: at or past
/// it, a sequence number is invalid (kinesalite's "Date too large", which
/// reproduces AWS's answers to such numbers).
pub const MAX_CREATE_SECS: u64 = 16_025_175_000;

/// What AWS reads out of a sequence number of any layout it knows, before it
/// checks that the number belongs to the shard (kinesalite `parseSequence`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnySeq {
    /// 0 (numbers below 2^129, the oldest layout), 1 or 2.
    pub version: u8,
    pub shard_create_secs: u64,
    /// The shard index as AWS prints it: a Java `int`, so an encoding whose
    /// top bit is set names a negative index (`shardId--02147483648`).
    pub shard_index: i32,
    /// The record time; version 0 carries none.
    pub record_secs: Option<u64>,
}

/// Why [`parse_any`] refused a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Not a sequence number AWS accepts: the caller's InvalidArgument.
    Invalid,
    /// Layout version 3: AWS fails with InternalFailure (HTTP 500).
    Version3,
}

/// Decodes a sequence number the way AWS does, accepting the older layouts:
/// numbers below 2^124 are read as if 2^124 were added (so a small number
/// like `5` is a version-0 number naming shard 5), numbers below 2^129 are
/// version 0, and 186-bit numbers carry their version in the last hex digit
/// (1: `2|create(9)|nibble|byte(2)|record(9)|rand(14)|seq(2)|shard(8)|1`,
/// 2: the layout of [`encode`]).
pub fn parse_any(s: &str) -> Result<AnySeq, ParseError> {
    if s.is_empty() || s.len() > 129 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::Invalid);
    }
    let mut n = BigUint::parse_bytes(s.as_bytes(), 10).ok_or(ParseError::Invalid)?;
    let one = BigUint::from(1u32);
    if n < (&one << 124u32) {
        n += &one << 124u32;
    }
    let hex = n.to_str_radix(16);
    let field = |from: usize, len: usize| {
        hex.get(from..from + len)
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .ok_or(ParseError::Invalid)
    };
    let create = |secs: u64| {
        if secs >= MAX_CREATE_SECS {
            Err(ParseError::Invalid)
        } else {
            Ok(secs)
        }
    };
    if n < (&one << 129u32) {
        return Ok(AnySeq {
            version: 0,
            shard_create_secs: create(field(1, 9)?)?,
            shard_index: field(28, 4)? as i32,
            record_secs: None,
        });
    }
    let low = &one << 185u32;
    let high = BigUint::from(3u32) << 184u32;
    if n <= low || n >= high {
        return Err(ParseError::Invalid);
    }
    match field(46, 1)? {
        2 => {
            if field(11, 1)? > 7 {
                return Err(ParseError::Invalid);
            }
            Ok(AnySeq {
                version: 2,
                shard_create_secs: create(field(1, 9)?)?,
                shard_index: field(38, 8)? as u32 as i32,
                record_secs: Some(field(29, 9)?),
            })
        }
        1 => Ok(AnySeq {
            version: 1,
            shard_create_secs: create(field(1, 9)?)?,
            shard_index: field(38, 8)? as u32 as i32,
            record_secs: Some(field(13, 9)?),
        }),
        3 => Err(ParseError::Version3),
        _ => Err(ParseError::Invalid),
    }
}

/// A shard id as AWS prints an index it decoded: Java's `shardId-%012d`,
/// which puts a minus sign inside the width for a negative index.
pub fn shard_id_signed(index: i32) -> String {
    format!("shardId-{index:012}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn worked_example_from_reference() {
        let p = SeqParts {
            shard_create_secs: 1700000000,
            shard_index: 1,
            seq_index: 5,
            record_secs: 1700000100,
        };
        let s = encode(p);
        assert_eq!(
            s,
            "49646437577130777162115407028973509772956158055602454546"
        );
        assert_eq!(decode(&s), Some(p));
    }

    #[test]
    fn kcl_fields() {
        let p = SeqParts {
            shard_create_secs: 1764000000,
            shard_index: 123,
            seq_index: 42,
            record_secs: 1764000005,
        };
        let n = BigUint::parse_bytes(encode(p).as_bytes(), 10).unwrap();
        assert_eq!(n.bits(), 186);
        let version: BigUint = (&n >> 184u32) & BigUint::from(0xfu32);
        assert_eq!(version, BigUint::from(2u32));
        let shard: BigUint = (&n >> 4u32) & BigUint::from(0xffff_ffffu32);
        assert_eq!(shard, BigUint::from(123u32));
    }

    #[test]
    fn adjacent_shards_differ_as_on_aws() {
        let a = BigUint::parse_bytes(
            encode(SeqParts {
                shard_create_secs: 1,
                shard_index: 0,
                seq_index: 0,
                record_secs: 1,
            })
            .as_bytes(),
            10,
        )
        .unwrap();
        let b = BigUint::parse_bytes(
            encode(SeqParts {
                shard_create_secs: 1,
                shard_index: 1,
                seq_index: 0,
                record_secs: 1,
            })
            .as_bytes(),
            10,
        )
        .unwrap();
        let diff =
            BigUint::parse_bytes(b"22300745198530623141535718272648361505980432", 10).unwrap();
        assert_eq!(b - a, diff);
    }

    fn hex(h: &str) -> String {
        BigUint::parse_bytes(h.as_bytes(), 16)
            .unwrap()
            .to_str_radix(10)
    }

    /// The cases recorded against AWS in kinesalite's tests.
    #[test]
    fn parses_older_layouts_as_aws() {
        let v1 = parse_any(&hex("20000000000000000000000000000000000000000000001")).unwrap();
        assert_eq!(
            (v1.version, v1.shard_index, v1.record_secs),
            (1, 0, Some(0))
        );
        let small = parse_any("5").unwrap();
        assert_eq!((small.version, small.shard_index), (0, 5));
        assert_eq!(shard_id_signed(small.shard_index), "shardId-000000000005");
        // Version 0 with a creation time AWS calls impossible.
        assert_eq!(
            parse_any("26227199374822427428162556223570313216"),
            Err(ParseError::Invalid)
        );
        assert_eq!(
            parse_any(&hex("2ffffffffff7fffffffffffffff000000000007fffffff2")),
            Err(ParseError::Invalid)
        );
        // 8 at the top of the seq-index: invalid; at the top of the shard index: negative.
        assert_eq!(
            parse_any(&hex("20000000000800000000000000000000000000000000002")),
            Err(ParseError::Invalid)
        );
        let neg = parse_any(&hex("20000000000000000000000000000000000000800000002")).unwrap();
        assert_eq!(shard_id_signed(neg.shard_index), "shardId--02147483648");
        assert_eq!(
            parse_any(&hex("20000000000000000000000000000000000000000000003")),
            Err(ParseError::Version3)
        );
        for bad in [
            "20000000000000000000000000000000000000000000004",
            "30000000000000000000000000000000000000000000001",
            "1ffffffffff7fffffffffffffff000000000007fffffff2",
        ] {
            assert_eq!(parse_any(&hex(bad)), Err(ParseError::Invalid), "{bad}");
        }
        // Riffle's own numbers read back the same through both decoders.
        let p = SeqParts {
            shard_create_secs: 1_764_000_000,
            shard_index: 7,
            seq_index: 42,
            record_secs: 1_764_000_009,
        };
        let any = parse_any(&encode(p)).unwrap();
        assert_eq!(
            (
                any.version,
                any.shard_create_secs,
                any.shard_index,
                any.record_secs
            ),
            (2, p.shard_create_secs, 7, Some(p.record_secs))
        );
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(decode("abc"), None);
        assert_eq!(decode("12345"), None);
        assert_eq!(decode(""), None);
    }

    proptest! {
        #[test]
        fn round_trip_and_order(create in 0u64..0xf_ffff_ffff, shard in any::<u32>(), a in 0u64..MAX_SEQ_INDEX, b in 0u64..MAX_SEQ_INDEX, t in 0u64..0xf_ffff_ffff) {
            let pa = SeqParts { shard_create_secs: create, shard_index: shard, seq_index: a, record_secs: t };
            let pb = SeqParts { seq_index: b, ..pa };
            prop_assert_eq!(decode(&encode(pa)), Some(pa));
            let na = BigUint::parse_bytes(encode(pa).as_bytes(), 10).unwrap();
            let nb = BigUint::parse_bytes(encode(pb).as_bytes(), 10).unwrap();
            prop_assert_eq!(a.cmp(&b), na.cmp(&nb));
            // Same digits as the hex layout read as one big number.
            let hex = format!("2{:09x}{:x}{:016x}00{:09x}{:08x}2", create, shard & 0xf, a, t, shard);
            prop_assert_eq!(na, BigUint::parse_bytes(hex.as_bytes(), 16).unwrap());
        }
    }
}
