//! What the edge needs from each service it serves. The edge decodes every
//! request with the protocol core against all services' tables, then hands
//! the accepted call to the one service whose table it matched.

use crate::respond::Reply;
use crate::security::RequestContext;
use prometheus_client::collector::Collector;
use riffle_protocol::{Call, ServiceSpec};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One AWS service behind the edge (Kinesis today; Firehose and Analytics
/// next). Implementations build their typed input from the [`Call`]
/// synchronously, then run it in the returned future.
pub trait Service: Send + Sync + 'static {
    /// The protocol table: target prefix, operations, schemas, IAM actions.
    fn spec(&self) -> &'static ServiceSpec;

    /// Authorizes and runs an accepted call and answers it (errors in the
    /// call's format). `ctx` names the authenticated caller; the service asks
    /// it to authorize each resource the call touches before acting.
    fn call<'s>(&'s self, call: Call<'_>, ctx: Arc<RequestContext>) -> BoxFuture<'s, Reply>;

    /// Blocking check for `/health/ready`; `Err` says why the service cannot serve.
    fn check_ready(&self) -> Result<(), String> {
        Ok(())
    }

    /// Periodic blocking work (timed transitions, retention, scaling), run
    /// on the blocking pool about every 100 ms; the service paces itself.
    fn maintain(&self) {}

    /// Shutdown began: end long-lived responses (event streams) so the
    /// server can drain.
    fn end_streams(&self) {}

    /// Blocking: make everything acknowledged durable before the process exits.
    fn flush(&self) {}

    /// The service's own `/metrics` families, read at scrape time.
    fn collector(&self) -> Option<Box<dyn Collector>> {
        None
    }
}
