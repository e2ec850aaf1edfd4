//! A small client of the running switch's admin API, for the CLI commands that act on live
//! state (`vpbx bans list`, `vpbx bans lift`): HTTP/1.1 over a TCP connection (HTTPS with
//! rustls, trusting the switch's own certificate file), one request per connection, JSON
//! bodies. Errors are sentences an admin can act on (the switch
//! is not running, the token is wrong, the address is not banned).

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How the CLI authenticates to the API.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// An API token (`Authorization: Bearer`).
    Token(String),
    /// The admin password: a token is issued for the command and revoked after it.
    Password(String),
}

/// The admin API of a running switch.
#[derive(Debug, Clone)]
pub struct AdminApi {
    base: String,
    host: String,
    addr: SocketAddr,
    /// HTTPS: the client configuration and the name the certificate must carry.
    tls: Option<(
        Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
    token: String,
    /// A token issued for this session (revoked by [`AdminApi::close`]).
    issued: bool,
}

/// An answer of the API.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The JSON body (`Null` when there is none or it is not JSON).
    pub json: Value,
}

/// The base URL of the API from the settings' HTTP address (an unspecified address such as
/// `0.0.0.0` is reached on loopback).
pub fn base_url(http_addr: SocketAddr) -> String {
    let ip = if http_addr.ip().is_unspecified() {
        match http_addr {
            SocketAddr::V4(_) => "127.0.0.1".to_string(),
            SocketAddr::V6(_) => "[::1]".to_string(),
        }
    } else {
        match http_addr {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        }
    };
    format!("http://{ip}:{}", http_addr.port())
}

/// Host (as written), socket address, and whether it is HTTPS.
fn split_url(url: &str) -> Result<(String, SocketAddr, bool), String> {
    let (rest, https, default_port) = if let Some(r) = url.strip_prefix("http://") {
        (r, false, 80)
    } else if let Some(r) = url.strip_prefix("https://") {
        (r, true, 443)
    } else {
        return Err(format!("{url}: --api must be an http:// or https:// URL"));
    };
    let host = rest.split('/').next().unwrap_or("").to_string();
    if host.is_empty() {
        return Err(format!("{url}: no host in the URL"));
    }
    let with_port = if host.ends_with(']') || !host.contains(':') {
        format!("{host}:{default_port}")
    } else {
        host.clone()
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| format!("{url}: {e}"))?
        .next()
        .ok_or_else(|| format!("{url}: the host has no address"))?;
    Ok((host, addr, https))
}

/// A TLS client trusting the certificates in `ca` (PEM), e.g. the switch's own self-signed one.
fn tls_config(ca: &Path) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let certs = rustls::pki_types::CertificateDer::pem_file_iter(ca)
        .map_err(|e| format!("{}: {e}", ca.display()))?;
    for c in certs {
        let c = c.map_err(|e| format!("{}: {e}", ca.display()))?;
        roots.add(c).map_err(|e| format!("{}: {e}", ca.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("{}: no certificate in the file", ca.display()));
    }
    #[allow(deprecated)] // the server's provider (src/http/tls.rs): ring, no C toolchain
    let provider = rustls::crypto::ring::default_provider();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The name in the URL's host the server's certificate must carry.
fn server_name(host: &str) -> Result<rustls::pki_types::ServerName<'static>, String> {
    let bare = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
    };
    rustls::pki_types::ServerName::try_from(bare.to_string()).map_err(|e| format!("{host}: {e}"))
}

impl AdminApi {
    /// Connects to the API at `url` (`http://host:port` or `https://…`, whose certificate must
    /// be in the PEM file `ca`) and authenticates.
    pub fn connect(
        url: &str,
        ca: Option<&Path>,
        credentials: Credentials,
    ) -> Result<AdminApi, String> {
        let (host, addr, https) = split_url(url)?;
        let tls = if https {
            let ca = ca.ok_or_else(|| {
                format!("{url}: HTTPS needs the switch's certificate: give --cacert FILE")
            })?;
            Some((tls_config(ca)?, server_name(&host)?))
        } else {
            None
        };
        let mut api = AdminApi {
            base: url.trim_end_matches('/').to_string(),
            host,
            addr,
            tls,
            token: String::new(),
            issued: false,
        };
        match credentials {
            Credentials::Token(t) => api.token = t,
            Credentials::Password(p) => {
                let body = serde_json::json!({"username": "admin", "password": p});
                let a = api.request("POST", "/api/v1/auth/token", Some(&body))?;
                match (a.status, a.json["token"].as_str()) {
                    (200, Some(t)) => {
                        api.token = t.to_string();
                        api.issued = true;
                    }
                    (401, _) => {
                        return Err(format!(
                            "the admin API at {} refused the admin password (401): it is wrong",
                            api.base
                        ))
                    }
                    (s, _) => return Err(api.failure("logging in", s, &a.json)),
                }
            }
        }
        Ok(api)
    }

    /// Revokes the token issued for this session, if any.
    pub fn close(self) {
        if self.issued {
            let _ = self.request("POST", "/api/v1/auth/logout", None);
        }
    }

    /// A sentence for an unexpected answer.
    pub fn failure(&self, what: &str, status: u16, json: &Value) -> String {
        let detail = json["message"]
            .as_str()
            .map(str::to_string)
            .or_else(|| json["error"].as_str().map(str::to_string))
            .unwrap_or_default();
        match status {
            401 => format!(
                "the admin API at {} refused the credentials (401: {detail}): the token is wrong, expired or revoked; give a valid one with --token or VPBX_ADMIN_TOKEN (POST /api/v1/auth/token issues one), or the admin password in VPBX_ADMIN_PASSWORD",
                self.base
            ),
            _ => format!("{what}: the admin API answered {status} {detail}"),
        }
    }

    /// One request; `body` is sent as JSON.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        let unreachable = |e: std::io::Error| {
            match e
            .get_ref()
            .and_then(|i| i.downcast_ref::<rustls::Error>())
        {
            Some(tls) => format!(
                "{}: TLS: {tls} (is --cacert the switch's certificate, and does it name this host?)",
                self.base
            ),
            None => format!(
                "cannot reach the switch's admin API at {} ({e}): is the switch running? Its address is [http] http_addr (https_addr with tls) in the settings, or give --api URL",
                self.base
            ),
        }
        };
        let tcp =
            TcpStream::connect_timeout(&self.addr, Duration::from_secs(5)).map_err(unreachable)?;
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(30)));
        let _ = tcp.set_write_timeout(Some(Duration::from_secs(30)));
        let mut s: Box<dyn ReadWrite> = match &self.tls {
            None => Box::new(tcp),
            Some((config, name)) => {
                let conn = rustls::ClientConnection::new(config.clone(), name.clone())
                    .map_err(|e| format!("{}: {e}", self.base))?;
                Box::new(rustls::StreamOwned::new(conn, tcp))
            }
        };
        let payload = body.map(|b| b.to_string()).unwrap_or_default();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: application/json\r\nUser-Agent: vpbx-cli\r\n",
            self.host
        );
        if !self.token.is_empty() {
            head.push_str(&format!("Authorization: Bearer {}\r\n", self.token));
        }
        if body.is_some() {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", payload.len()));
        s.write_all(head.as_bytes()).map_err(unreachable)?;
        s.write_all(payload.as_bytes()).map_err(unreachable)?;
        let mut raw = Vec::new();
        if let Err(e) = s.read_to_end(&mut raw) {
            // A TLS peer may close without close_notify once the answer is complete.
            if raw.is_empty() || e.kind() != std::io::ErrorKind::UnexpectedEof {
                return Err(unreachable(e));
            }
        }
        parse_answer(&raw).ok_or_else(|| {
            format!(
                "{}: not an HTTP answer (is this the switch's admin API? With [http] tls its plain address only redirects: use the https:// address)",
                self.base
            )
        })
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// Status and JSON body of a `Connection: close` answer (plain or chunked body).
fn parse_answer(raw: &[u8]) -> Option<Answer> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    if status == 308 || status == 301 || status == 302 {
        return None;
    }
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked {
        let mut out = String::new();
        let mut rest = body;
        loop {
            let (size, after) = rest.split_once("\r\n")?;
            let n = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
            if n == 0 {
                break;
            }
            out.push_str(after.get(..n)?);
            rest = after.get(n..)?.strip_prefix("\r\n")?;
        }
        out
    } else {
        body.to_string()
    };
    Some(Answer {
        status,
        json: serde_json::from_str(&body).unwrap_or(Value::Null),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_plain_and_chunked() {
        let a =
            parse_answer(b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{\"items\":[]}").unwrap();
        assert_eq!(a.status, 200);
        assert_eq!(a.json["items"], serde_json::json!([]));
        let a = parse_answer(
            b"HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((a.status, a.json["a"].as_i64()), (404, Some(1)));
        assert!(parse_answer(b"HTTP/1.1 308 Permanent Redirect\r\n\r\n").is_none());
    }

    #[test]
    fn urls() {
        assert_eq!(
            base_url("0.0.0.0:8080".parse().unwrap()),
            "http://127.0.0.1:8080"
        );
        assert_eq!(base_url("[::1]:8080".parse().unwrap()), "http://[::1]:8080");
        assert!(split_url("ftp://x:1").unwrap_err().contains("http://"));
        let (host, addr, https) = split_url("https://127.0.0.1:9/").unwrap();
        assert_eq!(
            (host.as_str(), addr, https),
            ("127.0.0.1:9", "127.0.0.1:9".parse().unwrap(), true)
        );
        assert!(server_name("localhost:8443").is_ok());
        assert!(server_name("[::1]:8443").is_ok());
        assert!(server_name("127.0.0.1").is_ok());
    }
}
