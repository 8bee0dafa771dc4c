//! `CompressionFormat` of S3 objects, with Firehose's default file
//! extensions (Firehose guide, "S3 object name format"): GZIP `.gz`, ZIP
//! `.zip`, Snappy `.snappy`, HADOOP_SNAPPY `.hsnappy`, none for UNCOMPRESSED.
//!
//! * `Snappy` is the Snappy *framing* format (stream identifier, CRC-32C per
//!   chunk), what `python -m snappy -d` and `snap::read::FrameDecoder` read.
//! * `HADOOP_SNAPPY` is Hadoop's `BlockCompressorStream` layout that
//!   `SnappyCodec` reads: per chunk a big-endian u32 uncompressed length, then
//!   a big-endian u32 compressed length and one raw Snappy block.
//! * `ZIP` is an archive with one deflated entry named like the object
//!   without its extension (AWS does not document the entry name).
//!
//! Every output is a pure function of its input (no wall-clock time in the
//! gzip or zip headers), so a retried delivery writes the same bytes.

use std::io::{Cursor, Write};

use bytes::Bytes;
use flate2::write::GzEncoder;
use thiserror::Error;

/// Input per Hadoop block: Hadoop's `SnappyCodec` buffer (256 KiB) minus its
/// compression overhead (`bufferSize / 6 + 32`), so that Hadoop's reader,
/// with its default buffer, takes every block.
const HADOOP_BLOCK: usize = 256 * 1024 - (256 * 1024 / 6 + 32);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    #[default]
    Uncompressed,
    Gzip,
    Zip,
    Snappy,
    HadoopSnappy,
}

#[derive(Debug, Error)]
pub enum CompressError {
    #[error("unknown CompressionFormat {0:?}")]
    Unknown(String),
    #[error("compressing: {0}")]
    Io(#[from] std::io::Error),
    #[error("writing the zip archive: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("snappy: {0}")]
    Snappy(#[from] snap::Error),
}

impl Compression {
    /// The model's spelling (`UNCOMPRESSED`, `GZIP`, `ZIP`, `Snappy`,
    /// `HADOOP_SNAPPY`); `None` is AWS's default, UNCOMPRESSED.
    pub fn parse(format: Option<&str>) -> Result<Self, CompressError> {
        Ok(match format {
            None | Some("UNCOMPRESSED") => Self::Uncompressed,
            Some("GZIP") => Self::Gzip,
            Some("ZIP") => Self::Zip,
            Some("Snappy") => Self::Snappy,
            Some("HADOOP_SNAPPY") => Self::HadoopSnappy,
            Some(other) => return Err(CompressError::Unknown(other.to_string())),
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uncompressed => "UNCOMPRESSED",
            Self::Gzip => "GZIP",
            Self::Zip => "ZIP",
            Self::Snappy => "Snappy",
            Self::HadoopSnappy => "HADOOP_SNAPPY",
        }
    }

    /// Firehose's default file extension for this format.
    pub fn default_extension(self) -> &'static str {
        match self {
            Self::Uncompressed => "",
            Self::Gzip => ".gz",
            Self::Zip => ".zip",
            Self::Snappy => ".snappy",
            Self::HadoopSnappy => ".hsnappy",
        }
    }

    /// The extension objects get: `FileExtension` when set and not empty,
    /// else the format's default.
    pub fn extension(self, file_extension: Option<&str>) -> String {
        match file_extension.filter(|e| !e.is_empty()) {
            Some(ext) => ext.to_string(),
            None => self.default_extension().to_string(),
        }
    }

    /// Concatenates `records` byte for byte (Firehose adds no delimiters)
    /// and compresses the result. `entry_name` names the ZIP entry.
    pub fn compress(self, records: &[Bytes], entry_name: &str) -> Result<Bytes, CompressError> {
        let total: usize = records.iter().map(Bytes::len).sum();
        match self {
            Self::Uncompressed => {
                if let [only] = records {
                    return Ok(only.clone());
                }
                let mut out = Vec::with_capacity(total);
                for r in records {
                    out.extend_from_slice(r);
                }
                Ok(out.into())
            }
            Self::Gzip => {
                let mut enc = GzEncoder::new(
                    Vec::with_capacity(total / 4),
                    flate2::Compression::default(),
                );
                for r in records {
                    enc.write_all(r)?;
                }
                Ok(enc.finish()?.into())
            }
            Self::Zip => {
                let mut zip = zip::ZipWriter::new(Cursor::new(Vec::with_capacity(total / 4)));
                let options = zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated)
                    .large_file(total as u64 >= u64::from(u32::MAX));
                zip.start_file(entry_name, options)?;
                for r in records {
                    zip.write_all(r)?;
                }
                Ok(zip.finish()?.into_inner().into())
            }
            Self::Snappy => {
                let mut enc = snap::write::FrameEncoder::new(Vec::with_capacity(total / 2));
                for r in records {
                    enc.write_all(r)?;
                }
                enc.flush()?;
                let out = enc
                    .into_inner()
                    .map_err(|e| CompressError::Io(std::io::Error::other(e.to_string())))?;
                Ok(out.into())
            }
            Self::HadoopSnappy => {
                // Hadoop blocks cut the concatenated input at fixed sizes, so
                // gather it first.
                let mut all = Vec::with_capacity(total);
                for r in records {
                    all.extend_from_slice(r);
                }
                let mut encoder = snap::raw::Encoder::new();
                let mut out = Vec::with_capacity(total / 2 + 16);
                for chunk in all.chunks(HADOOP_BLOCK) {
                    let block = encoder.compress_vec(chunk)?;
                    out.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
                    out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                    out.extend_from_slice(&block);
                }
                Ok(out.into())
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Read;

    fn records() -> Vec<Bytes> {
        let mut big = Vec::new();
        for i in 0..120_000u32 {
            big.extend_from_slice(format!("{{\"n\":{i}}}\n").as_bytes());
        }
        vec![
            Bytes::from_static(b"{\"a\":1}"),
            Bytes::new(),
            Bytes::from_static(b"no delimiter"),
            Bytes::from(big),
            Bytes::from_static(&[0, 255, 10, 13]),
        ]
    }

    fn concat(records: &[Bytes]) -> Vec<u8> {
        records.iter().flat_map(|r| r.iter().copied()).collect()
    }

    fn hadoop_decode(mut data: &[u8]) -> Vec<u8> {
        let u32_at = |d: &[u8]| u32::from_be_bytes(d[..4].try_into().unwrap()) as usize;
        let mut out = Vec::new();
        while !data.is_empty() {
            let raw_len = u32_at(data);
            let block_len = u32_at(&data[4..]);
            assert!(raw_len <= HADOOP_BLOCK);
            let block = &data[8..8 + block_len];
            let raw = snap::raw::Decoder::new().decompress_vec(block).unwrap();
            assert_eq!(raw.len(), raw_len);
            out.extend_from_slice(&raw);
            data = &data[8 + block_len..];
        }
        out
    }

    #[test]
    fn every_format_round_trips_byte_for_byte() {
        let recs = records();
        let want = concat(&recs);
        assert!(want.len() > 2 * HADOOP_BLOCK, "several Hadoop blocks");

        let plain = Compression::Uncompressed.compress(&recs, "x").unwrap();
        assert_eq!(&plain[..], &want[..]);

        let gz = Compression::Gzip.compress(&recs, "x").unwrap();
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
        let mut got = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut got)
            .unwrap();
        assert_eq!(got, want);

        let z = Compression::Zip.compress(&recs, "stream-1-2018").unwrap();
        let mut archive = zip::ZipArchive::new(Cursor::new(z.to_vec())).unwrap();
        assert_eq!(archive.len(), 1);
        let mut entry = archive.by_index(0).unwrap();
        assert_eq!(entry.name(), "stream-1-2018");
        let mut got = Vec::new();
        entry.read_to_end(&mut got).unwrap();
        assert_eq!(got, want);

        let sn = Compression::Snappy.compress(&recs, "x").unwrap();
        // The framing format's stream identifier chunk.
        assert_eq!(&sn[..10], b"\xff\x06\x00\x00sNaPpY");
        let mut got = Vec::new();
        snap::read::FrameDecoder::new(&sn[..])
            .read_to_end(&mut got)
            .unwrap();
        assert_eq!(got, want);

        let hs = Compression::HadoopSnappy.compress(&recs, "x").unwrap();
        assert_eq!(hadoop_decode(&hs), want);
        assert!(hs.len() < want.len() / 2);
    }

    #[test]
    fn output_is_deterministic_and_empty_input_works() {
        let recs = records();
        for c in [
            Compression::Gzip,
            Compression::Zip,
            Compression::Snappy,
            Compression::HadoopSnappy,
        ] {
            assert_eq!(
                c.compress(&recs, "e").unwrap(),
                c.compress(&recs, "e").unwrap(),
                "{c:?}"
            );
            c.compress(&[], "e").unwrap();
        }
        assert!(Compression::Uncompressed
            .compress(&[], "e")
            .unwrap()
            .is_empty());
        assert!(Compression::HadoopSnappy
            .compress(&[], "e")
            .unwrap()
            .is_empty());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Arbitrary records in every format decode to their concatenation.
        #[test]
        fn arbitrary_records_round_trip(
            recs in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..2000), 0..8)
        ) {
            let recs: Vec<Bytes> = recs.into_iter().map(Bytes::from).collect();
            let want = concat(&recs);
            let mut got = Vec::new();
            let gz = Compression::Gzip.compress(&recs, "e").unwrap();
            flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut got).unwrap();
            proptest::prop_assert_eq!(&got, &want);
            got.clear();
            let sn = Compression::Snappy.compress(&recs, "e").unwrap();
            snap::read::FrameDecoder::new(&sn[..]).read_to_end(&mut got).unwrap();
            proptest::prop_assert_eq!(&got, &want);
            let hs = Compression::HadoopSnappy.compress(&recs, "e").unwrap();
            proptest::prop_assert_eq!(&hadoop_decode(&hs), &want);
            let z = Compression::Zip.compress(&recs, "e").unwrap();
            got.clear();
            zip::ZipArchive::new(Cursor::new(z.to_vec())).unwrap().by_index(0).unwrap().read_to_end(&mut got).unwrap();
            proptest::prop_assert_eq!(&got, &want);
        }
    }

    #[test]
    fn names_and_extensions() {
        for (wire, c, ext) in [
            ("UNCOMPRESSED", Compression::Uncompressed, ""),
            ("GZIP", Compression::Gzip, ".gz"),
            ("ZIP", Compression::Zip, ".zip"),
            ("Snappy", Compression::Snappy, ".snappy"),
            ("HADOOP_SNAPPY", Compression::HadoopSnappy, ".hsnappy"),
        ] {
            assert_eq!(Compression::parse(Some(wire)).unwrap(), c);
            assert_eq!(c.as_str(), wire);
            assert_eq!(c.extension(None), ext);
            assert_eq!(c.extension(Some("")), ext);
            assert_eq!(c.extension(Some(".json.x")), ".json.x");
        }
        assert_eq!(Compression::parse(None).unwrap(), Compression::Uncompressed);
        assert!(Compression::parse(Some("SNAPPY")).is_err());
    }
}
