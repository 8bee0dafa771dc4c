//! Large GetRecords responses, sent as they are encoded.
//!
//! A 10 MiB GetRecords would otherwise hold its records and a ~13.4 MiB JSON
//! body at once, and glibc keeps such buffers in its arenas after they are
//! freed, so memory stayed at the read-time peak. The body is produced chunk
//! by chunk as the client reads it, with its exact length announced up front,
//! so the response still carries a Content-Length like every AWS response.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use riffle_model::GetRecordsOutput;
use riffle_protocol::GetRecordsJsonStream;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Responses with at least this much record data are streamed.
pub(crate) const STREAM_THRESHOLD: usize = 1024 * 1024;
const CHUNK: usize = 256 * 1024;

pub(crate) fn should_stream(o: &GetRecordsOutput) -> bool {
    o.records.iter().map(|r| r.data.0.len()).sum::<usize>() >= STREAM_THRESHOLD
}

pub(crate) struct JsonBody {
    chunks: GetRecordsJsonStream,
    remaining: u64,
}

impl JsonBody {
    /// `None` if the output cannot be serialized.
    pub(crate) fn new(o: GetRecordsOutput) -> Option<JsonBody> {
        let chunks = GetRecordsJsonStream::new(o, CHUNK)?;
        let remaining = chunks.len();
        Some(JsonBody { chunks, remaining })
    }
}

impl Body for JsonBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.chunks.next() {
            Some(chunk) => {
                self.remaining = self.remaining.saturating_sub(chunk.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}
