//! The only non-AWS routes: `GET /metrics`, `GET /health/live` and
//! `GET /health/ready`. Every other request (any other method or path)
//! goes to the AWS handler unchanged, so e.g. `GET /` still gets AWS's 403.

use crate::handler::{handle, AppState};
use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, Request, StatusCode};
use axum::response::Response;
use riffle_model::Input;
use std::borrow::Cow;

/// Entry point for every request.
pub(crate) async fn route(State(state): State<AppState>, req: Request<Body>) -> Response {
    if req.method() == Method::GET {
        match req.uri().path() {
            "/metrics" => return metrics(&state),
            "/health/live" => return json(StatusCode::OK, r#"{"status":"live"}"#.into()),
            "/health/ready" => return ready(&state).await,
            _ => {}
        }
    }
    handle(State(state), req).await
}

fn metrics(state: &AppState) -> Response {
    match state.metrics.render() {
        Ok(text) => Response::builder()
            .status(StatusCode::OK)
            .header("content-type", crate::metrics::CONTENT_TYPE)
            .body(Body::from(text))
            .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR)),
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// Ready once the engine is open (it is, or the server would not be
/// listening) and the data directory takes a write.
async fn ready(state: &AppState) -> Response {
    let engine = state.engine.clone();
    let res = tokio::task::spawn_blocking(move || engine.check_ready()).await;
    match res {
        Ok(Ok(())) => json(StatusCode::OK, r#"{"status":"ready"}"#.into()),
        Ok(Err(e)) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"status": "not ready", "reason": e.to_string()}).to_string(),
        ),
        Err(e) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"status": "not ready", "reason": e.to_string()}).to_string(),
        ),
    }
}

fn json(status: StatusCode, body: String) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR))
}

fn plain(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

/// The AWS error code in an error body the protocol layer rendered (JSON
/// `__type` or XML `<Code>`/root element); `None` for success or when absent.
/// Only plain identifiers are returned, so label values stay few and tame.
pub(crate) fn error_code_of(status: u16, body: &[u8]) -> Option<Cow<'static, str>> {
    if status < 400 {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    let code = if let Some(rest) = text.split_once("\"__type\":\"").map(|(_, r)| r) {
        rest.split('"').next()?
    } else if let Some(rest) = text.split_once("<Code>").map(|(_, r)| r) {
        rest.split('<').next()?
    } else {
        let rest = text.trim_start().strip_prefix('<')?;
        let rest = rest.strip_prefix("?xml").map_or(rest, |r| {
            r.split_once("?>")
                .map_or("", |(_, r)| r.trim_start().trim_start_matches('<'))
        });
        rest.split(|c: char| !c.is_ascii_alphanumeric()).next()?
    };
    // `__type` may carry a namespace prefix (`ns#Code`).
    let code = code.rsplit('#').next().unwrap_or(code);
    let tame = !code.is_empty()
        && code.len() <= 64
        && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.');
    tame.then(|| Cow::Owned(code.to_string()))
}

/// The stream a request names, for the request log (only computed when
/// debug logging is on).
pub(crate) fn stream_of(input: &Input) -> Option<String> {
    use Input as I;
    let r = match input {
        I::CreateStream(i) => return Some(i.stream_name.clone()),
        I::DeleteStream(i) => &i.stream,
        I::DescribeStream(i) => &i.stream,
        I::DescribeStreamSummary(i) => &i.stream,
        I::ListShards(i) => &i.stream,
        I::PutRecord(i) => &i.stream,
        I::PutRecords(i) => &i.stream,
        I::GetShardIterator(i) => &i.stream,
        I::GetRecords(i) => {
            return riffle_streams::iterator::IteratorToken::decode(&i.shard_iterator)
                .map(|t| t.stream_name)
        }
        _ => return None,
    };
    r.name.clone().or_else(|| {
        r.arn
            .as_ref()
            .and_then(|a| a.rsplit('/').next())
            .map(String::from)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_from_bodies() {
        assert_eq!(error_code_of(200, b"{}"), None);
        assert_eq!(
            error_code_of(
                400,
                br#"{"__type":"ResourceNotFoundException","message":"x"}"#
            )
            .as_deref(),
            Some("ResourceNotFoundException")
        );
        assert_eq!(
            error_code_of(400, br#"{"__type":"com.amazon#SerializationException"}"#).as_deref(),
            Some("SerializationException")
        );
        assert_eq!(
            error_code_of(
                403,
                b"<AccessDeniedException>\n  <Message>no</Message>\n</AccessDeniedException>\n"
            )
            .as_deref(),
            Some("AccessDeniedException")
        );
        assert_eq!(
            error_code_of(404, b"<UnknownOperationException/>").as_deref(),
            Some("UnknownOperationException")
        );
        assert_eq!(error_code_of(413, b""), None);
        assert_eq!(error_code_of(400, br#"{"__type":"a b"}"#), None);
    }
}
