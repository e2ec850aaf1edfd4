//! A small client of the running switch's admin API, for the CLI commands that act on live
//! state (`vpbx bans list`, `vpbx bans lift`): plain HTTP/1.1 over a TCP connection, one
//! request per connection, JSON bodies. Errors are sentences an admin can act on (the switch
//! is not running, the token is wrong, the address is not banned).

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
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

fn split_url(url: &str) -> Result<(String, SocketAddr), String> {
    let rest = match url.strip_prefix("http://") {
        Some(r) => r,
        None if url.starts_with("https://") => {
            return Err(format!(
                "{url}: the CLI speaks plain HTTP only; point --api at a plain-HTTP address of the switch (e.g. http://127.0.0.1:8080 with [http] plain_http not \"off\" and tls off)"
            ))
        }
        None => return Err(format!("{url}: --api must be an http:// URL")),
    };
    let host = rest.split('/').next().unwrap_or("").to_string();
    if host.is_empty() {
        return Err(format!("{url}: no host in the URL"));
    }
    let with_port = if host.ends_with(']') || !host.contains(':') {
        format!("{host}:80")
    } else {
        host.clone()
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| format!("{url}: {e}"))?
        .next()
        .ok_or_else(|| format!("{url}: the host has no address"))?;
    Ok((host, addr))
}

impl AdminApi {
    /// Connects to the API at `url` (`http://host:port`) and authenticates.
    pub fn connect(url: &str, credentials: Credentials) -> Result<AdminApi, String> {
        let (host, addr) = split_url(url)?;
        let mut api = AdminApi {
            base: url.trim_end_matches('/').to_string(),
            host,
            addr,
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
            format!(
                "cannot reach the switch's admin API at {} ({e}): is the switch running? Its address is [http] http_addr in the settings, or give --api URL",
                self.base
            )
        };
        let mut s =
            TcpStream::connect_timeout(&self.addr, Duration::from_secs(5)).map_err(unreachable)?;
        let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
        let _ = s.set_write_timeout(Some(Duration::from_secs(30)));
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
        s.read_to_end(&mut raw).map_err(unreachable)?;
        parse_answer(&raw).ok_or_else(|| {
            format!(
                "{}: not an HTTP answer (is this the switch's admin API? with [http] tls the plain address only redirects)",
                self.base
            )
        })
    }
}

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
        assert!(split_url("https://x:1").unwrap_err().contains("plain HTTP"));
        assert_eq!(
            split_url("http://127.0.0.1:9/").unwrap().1,
            "127.0.0.1:9".parse::<SocketAddr>().unwrap()
        );
    }
}
