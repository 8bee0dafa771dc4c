//! An HTTP client for the Rust AWS SDK that speaks HTTP/2 with prior knowledge
//! (h2c) over plain TCP.
//!
//! The SDK's default hyper client only negotiates HTTP/2 through ALPN over TLS,
//! and `aws-smithy-http-client` keeps its hyper builder private, so this
//! implements the smithy runtime traits directly on a `hyper_util` legacy
//! client built with `http2_only(true)`. Requests go out as h2 frames from the
//! first byte (the connection preface); there is no HTTP/1.1 fallback. Response
//! bodies are handed back as a streaming `SdkBody`, so event streams
//! (SubscribeToShard) are delivered as they arrive, not buffered.
#![allow(dead_code, clippy::unwrap_used)]

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::error::Error as _;
use std::sync::Mutex;
use std::time::Duration;

/// (connect timeout, read timeout): what a connector is built for.
type Key = (Option<Duration>, Option<Duration>);

/// The [`HttpClient`]: one h2c connector per distinct timeout setting, each
/// with its own connection pool (h2 multiplexes requests on one connection).
#[derive(Debug, Default)]
pub struct H2cHttpClient {
    connectors: Mutex<Vec<(Key, SharedHttpConnector)>>,
}

impl HttpClient for H2cHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut cache = self.connectors.lock().unwrap();
        if let Some((_, c)) = cache.iter().find(|(k, _)| *k == key) {
            return c.clone();
        }
        let c = SharedHttpConnector::new(H2cConnector::new(key));
        cache.push((key, c.clone()));
        c
    }
}

/// The [`HttpConnector`]: a hyper client that only speaks HTTP/2.
#[derive(Debug, Clone)]
pub struct H2cConnector {
    client: Client<TcpConnector, SdkBody>,
    /// Time allowed until the response head arrives (not the whole body:
    /// an event stream stays open for minutes).
    read_timeout: Option<Duration>,
}

impl H2cConnector {
    fn new((connect_timeout, read_timeout): Key) -> Self {
        let mut tcp = TcpConnector::new();
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(connect_timeout);
        let client = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .build(tcp);
        H2cConnector {
            client,
            read_timeout,
        }
    }
}

impl HttpConnector for H2cConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(r) => r,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let response = self.client.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let response = match read_timeout {
                Some(t) => tokio::time::timeout(t, response)
                    .await
                    .map_err(|e| ConnectorError::timeout(e.into()))?,
                None => response.await,
            }
            .map_err(connector_error)?;
            // hyper::body::Incoming implements http-body 1.x: stream it as is.
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// Connection failures and dropped connections are I/O errors (the SDK
/// retries those); anything else is not.
fn connector_error(e: hyper_util::client::legacy::Error) -> ConnectorError {
    let transient = e.is_connect()
        || e.source()
            .and_then(|s| s.downcast_ref::<hyper::Error>())
            .is_some_and(|h| h.is_closed() || h.is_canceled() || h.is_incomplete_message());
    if transient {
        ConnectorError::io(e.into())
    } else {
        ConnectorError::other(e.into(), None)
    }
}

/// An SDK [`HttpClient`] speaking h2c.
pub fn h2c_http_client() -> SharedHttpClient {
    SharedHttpClient::new(H2cHttpClient::default())
}

/// Like [`super::client_for`] (same credentials, region and config), but every
/// request goes over HTTP/2 with prior knowledge.
pub async fn h2c_client_for(endpoint: &str) -> aws_sdk_kinesis::Client {
    let conf = super::client_for(endpoint)
        .await
        .config()
        .to_builder()
        .http_client(h2c_http_client())
        .build();
    aws_sdk_kinesis::Client::from_conf(conf)
}
