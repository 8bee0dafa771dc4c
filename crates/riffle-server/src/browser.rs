//! Keeping web pages away from an open-mode server.
//!
//! In open mode (no authentication) any page a developer visits could
//! otherwise read and write streams on their local Riffle: by CORS (the page
//! calls `http://127.0.0.1:4567` directly) or by DNS rebinding (the page's
//! own name is re-pointed at 127.0.0.1, so the browser sees a same-origin
//! request that carries the page's `Host`). So in open mode:
//!
//! - CORS allows only configured origins (`--cors-origin`; `*` allows all);
//! - a request's `Host` (HTTP/2: `:authority`) must name the address the
//!   client connected to, `localhost`, `127.0.0.1`, `[::1]` or an
//!   `--allow-host` name, on any port.
//!
//! With authentication every request must be signed, so a page gains
//! nothing: CORS answers every origin as AWS does and `Host` is not checked.

use crate::ServerConfig;
use axum::http::{HeaderMap, HeaderValue};
use std::net::{IpAddr, SocketAddr};

#[derive(Debug, Clone)]
pub(crate) struct BrowserPolicy {
    /// Requests must be signed: browsers need no special treatment.
    authenticated: bool,
    /// `--cors-origin '*'`.
    any_origin: bool,
    /// Lower-case, without a trailing `/`.
    origins: Vec<String>,
    /// `--allow-host` names, lower-case, each with its port if it gave one.
    hosts: Vec<(String, Option<u16>)>,
}

impl BrowserPolicy {
    pub(crate) fn new(cfg: &ServerConfig) -> BrowserPolicy {
        BrowserPolicy {
            authenticated: cfg.authenticated,
            any_origin: cfg.cors_origins.iter().any(|o| o.trim() == "*"),
            origins: cfg
                .cors_origins
                .iter()
                .map(|o| normalize_origin(o))
                .collect(),
            hosts: cfg
                .allowed_hosts
                .iter()
                .map(|h| {
                    let (name, port) = split_host(h.trim());
                    (normalize_name(name), port)
                })
                .collect(),
        }
    }

    /// The `Access-Control-Allow-Origin` a response to a request with these
    /// headers gets, if any: `*` when authenticated (as AWS answers), the
    /// request's own origin when it is configured, else none.
    pub(crate) fn allow_origin(&self, h: &HeaderMap) -> Option<HeaderValue> {
        let origin = h.get("origin")?;
        if self.authenticated || self.any_origin {
            return Some(HeaderValue::from_static("*"));
        }
        let text = origin.to_str().ok()?;
        let wanted = normalize_origin(text);
        self.origins.contains(&wanted).then(|| origin.clone())
    }

    /// Whether a request naming `host` (its `Host` or `:authority`) that
    /// arrived on a connection to `local` is served. Always in
    /// authenticated mode; a request naming no host is refused in open mode.
    pub(crate) fn host_allowed(&self, host: Option<&str>, local: Option<SocketAddr>) -> bool {
        if self.authenticated {
            return true;
        }
        let Some(host) = host else {
            return false;
        };
        let (name, port) = split_host(host.trim());
        let name = normalize_name(name);
        if matches!(name.as_str(), "localhost" | "127.0.0.1" | "[::1]") {
            return true;
        }
        let ip = name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .unwrap_or(&name)
            .parse::<IpAddr>()
            .ok();
        if let (Some(ip), Some(local)) = (ip, local) {
            if canonical(ip) == canonical(local.ip()) {
                return true;
            }
        }
        self.hosts
            .iter()
            .any(|(n, p)| *n == name && (p.is_none() || *p == port))
    }
}

/// IPv4-mapped IPv6 (a dual-stack socket's view of an IPv4 client) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn normalize_origin(o: &str) -> String {
    o.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Lower-case, without the trailing dot of a fully qualified name.
fn normalize_name(n: &str) -> String {
    n.trim_end_matches('.').to_ascii_lowercase()
}

/// `name[:port]`, where `name` may be a bracketed IPv6 address.
fn split_host(h: &str) -> (&str, Option<u16>) {
    if h.starts_with('[') {
        if let Some(end) = h.find(']') {
            let (name, rest) = h.split_at(end + 1);
            return (name, rest.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
        return (h, None);
    }
    match h.rsplit_once(':') {
        // One colon: name and port. More: an unbracketed IPv6 address.
        Some((name, port)) if !name.contains(':') => (name, port.parse().ok()),
        _ => (h, None),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn policy(authenticated: bool, origins: &[&str], hosts: &[&str]) -> BrowserPolicy {
        BrowserPolicy::new(&ServerConfig {
            authenticated,
            cors_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_hosts: hosts.iter().map(|s| s.to_string()).collect(),
            ..ServerConfig::default()
        })
    }

    fn origin(o: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("origin", HeaderValue::from_str(o).unwrap());
        h
    }

    #[test]
    fn open_mode_cors_allows_only_listed_origins() {
        let p = policy(false, &["http://localhost:3000/"], &[]);
        assert_eq!(
            p.allow_origin(&origin("http://LOCALHOST:3000")).unwrap(),
            "http://LOCALHOST:3000"
        );
        assert!(p.allow_origin(&origin("http://evil.example.com")).is_none());
        assert!(p.allow_origin(&HeaderMap::new()).is_none());
        assert!(policy(false, &[], &[])
            .allow_origin(&origin("http://localhost:3000"))
            .is_none());
        assert_eq!(
            policy(false, &["*"], &[])
                .allow_origin(&origin("http://any.example"))
                .unwrap(),
            "*"
        );
        // Authenticated: every origin, as AWS.
        assert_eq!(
            policy(true, &[], &[])
                .allow_origin(&origin("http://any.example"))
                .unwrap(),
            "*"
        );
    }

    #[test]
    fn open_mode_hosts() {
        let local: SocketAddr = "192.168.1.5:4567".parse().unwrap();
        let p = policy(false, &[], &["riffle.internal", "Box.Lan:8080"]);
        for ok in [
            "localhost",
            "localhost:4567",
            "127.0.0.1:9",
            "[::1]:4567",
            "[::1]",
            "192.168.1.5:4567",
            "riffle.internal:4567",
            "RIFFLE.internal.",
            "box.lan:8080",
        ] {
            assert!(p.host_allowed(Some(ok), Some(local)), "{ok}");
        }
        for bad in [
            "evil.example.com",
            "evil.example.com:4567",
            "localhost.evil.example.com",
            "192.168.1.6:4567",
            "box.lan:8081",
            "box.lan",
            "",
        ] {
            assert!(!p.host_allowed(Some(bad), Some(local)), "{bad}");
        }
        assert!(!p.host_allowed(None, Some(local)));
        let v6: SocketAddr = "[fd00::5]:4567".parse().unwrap();
        assert!(p.host_allowed(Some("[FD00:0::5]:4567"), Some(v6)));
        let mapped: SocketAddr = "[::ffff:10.0.0.7]:4567".parse().unwrap();
        assert!(p.host_allowed(Some("10.0.0.7:4567"), Some(mapped)));
        // Authenticated: not checked.
        assert!(policy(true, &[], &[]).host_allowed(Some("evil.example.com"), None));
    }
}
