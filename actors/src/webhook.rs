//! The CRM webhook's HTTP exchange (SPEC §3 op 13): one request with awc (actix's client:
//! HTTP/1.1, HTTPS through rustls with the ring provider and the system's root certificates),
//! bounded as a whole by the operation's timeout. What the reply means is decided by the pure
//! core (`core::webhook`, the webhook operation); this module only moves bytes.
//!
//! The future is not `Send` (awc is built for actix's single-threaded arbiters): call actors
//! spawn it on their own context.

use crate::core::webhook::{WebhookRequest, MAX_REPLY_BYTES};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How one exchange ended.
#[derive(Debug)]
pub enum Sent {
    /// A reply: its status and body (at most [`MAX_REPLY_BYTES`] bytes of it are read; a body
    /// that could not be read whole is empty for a status other than 200).
    Reply {
        /// HTTP status.
        status: u16,
        /// The body.
        body: Vec<u8>,
    },
    /// The timeout passed first.
    TimedOut,
    /// No reply (connection refused, DNS, TLS, a broken body of a 200).
    Failed(String),
}

/// The TLS client settings, built once: the system's root certificates (none found: HTTPS
/// fails and the operation takes `no_answer`).
fn tls() -> Option<Arc<rustls::ClientConfig>> {
    static TLS: OnceLock<Option<Arc<rustls::ClientConfig>>> = OnceLock::new();
    TLS.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            let _ = roots.add(cert);
        }
        // ring, as the admin API's TLS (src/http/tls.rs): no C/CMake build of aws-lc.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .ok()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Some(Arc::new(cfg))
    })
    .clone()
}

/// A client for one exchange (no connection is kept between calls), naming itself `agent`.
pub(crate) fn client(timeout: Duration, agent: &'static str) -> awc::Client {
    let mut connector = awc::Connector::new().timeout(timeout);
    if let Some(tls) = tls() {
        connector = connector.rustls_0_23(tls);
    }
    awc::Client::builder()
        .connector(connector)
        .timeout(timeout)
        .disable_redirects()
        .add_default_header(("User-Agent", agent))
        .finish()
}

/// Sends `request` and reads the reply, within its timeout.
pub async fn send(request: WebhookRequest) -> Sent {
    let timeout = Duration::from_millis(u64::from(request.timeout_ms));
    let exchange = async {
        let client = client(timeout, "vpbx-webhook");
        let sent = match request.body {
            Some(body) => {
                client
                    .post(&request.url)
                    .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
                    .send_body(body)
                    .await
            }
            None => client.get(&request.url).send().await,
        };
        let mut reply = match sent {
            Ok(r) => r,
            Err(awc::error::SendRequestError::Timeout) => return Sent::TimedOut,
            Err(e) => return Sent::Failed(e.to_string()),
        };
        let status = reply.status().as_u16();
        match reply.body().limit(MAX_REPLY_BYTES + 1).await {
            Ok(body) => Sent::Reply {
                status,
                body: body.to_vec(),
            },
            Err(_) if status != 200 => Sent::Reply {
                status,
                body: Vec::new(),
            },
            Err(awc::error::PayloadError::Overflow) => {
                Sent::Failed(format!("body larger than {MAX_REPLY_BYTES} bytes"))
            }
            Err(e) => Sent::Failed(format!("body: {e}")),
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or(Sent::TimedOut)
}
