//! A stub HTTP server on 127.0.0.1 — a TCP listener speaking enough HTTP/1.1 for the switch's
//! clients: it records every request and answers each as its handler says. The CRM of the
//! webhook tests and the speech service of the voice assistant's are both one of these.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request the stub received.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// The `Content-Type` header (empty when none).
    pub content_type: String,
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The query string's parameters (empty without a query).
    pub fn query(&self) -> BTreeMap<String, String> {
        form(self.target.split_once('?').map_or("", |(_, q)| q))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What the stub answers to one request: a status and a JSON body, after a delay.
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    pub body: String,
    /// How long the stub waits before answering.
    pub delay: Duration,
}

impl HttpReply {
    /// `status` with `body` (served as `application/json`), at once.
    pub fn new(status: u16, body: &str) -> HttpReply {
        HttpReply {
            status,
            body: body.to_owned(),
            delay: Duration::ZERO,
        }
    }

    /// 200 with `body`, at once.
    pub fn ok(body: &str) -> HttpReply {
        Self::new(200, body)
    }

    /// The same reply, only after `delay`.
    pub fn after(self, delay: Duration) -> HttpReply {
        HttpReply { delay, ..self }
    }
}

/// A running stub: its address and the requests it received, oldest first.
pub struct HttpStub {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<HttpRequest>>>,
}

impl HttpStub {
    /// Starts a stub answering every request with `answer(request)`.
    pub async fn start(
        answer: impl Fn(&HttpRequest) -> HttpReply + Send + Sync + 'static,
    ) -> HttpStub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<HttpRequest>>> = Arc::default();
        let log = Arc::clone(&seen);
        let answer = Arc::new(answer);
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (log, answer) = (Arc::clone(&log), Arc::clone(&answer));
                tokio::spawn(async move { serve(sock, &log, |r| answer(r)).await });
            }
        });
        HttpStub { addr, seen }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<HttpRequest> {
        self.seen.lock().unwrap().clone()
    }

    /// How many requests arrived so far.
    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// The latest request.
    pub fn last(&self) -> HttpRequest {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a request")
    }
}

/// Reads one request from `sock`, logs it, answers it with `answer` and closes the connection.
async fn serve(
    mut sock: tokio::net::TcpStream,
    log: &Mutex<Vec<HttpRequest>>,
    answer: impl Fn(&HttpRequest) -> HttpReply,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = sock.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = sock.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let mut first = head.lines().next().unwrap_or("").split(' ');
    let request = HttpRequest {
        method: first.next().unwrap_or("").to_owned(),
        target: first.next().unwrap_or("").to_owned(),
        content_type: header("content-type").unwrap_or_default(),
        body: buf[head_end..].to_vec(),
    };
    let reply = answer(&request);
    log.lock().unwrap().push(request);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let reason = match reply.status {
        200 => "OK",
        500 => "Internal Server Error",
        _ => "X",
    };
    let text = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        reply.status,
        reply.body.len(),
        reply.body
    );
    let _ = sock.write_all(text.as_bytes()).await;
    let _ = sock.shutdown().await;
}

/// `a=1&b=x+y` → {a: 1, b: "x y"} (enough for the switch's encoding of our values).
pub fn form(s: &str) -> BTreeMap<String, String> {
    let decode = |v: &str| {
        let v = v.replace('+', " ");
        let mut out = Vec::new();
        let b = v.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() {
                out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    };
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// The parts of a `multipart/form-data` body: (name, content type, data).
pub fn multipart(content_type: &str, body: &[u8]) -> Vec<(String, String, Vec<u8>)> {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .unwrap_or_else(|| panic!("no boundary in {content_type}"))
        .trim_matches('"');
    let delim = format!("--{boundary}");
    let find = |hay: &[u8], needle: &[u8], from: usize| {
        hay[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|i| i + from)
    };
    let mut parts = Vec::new();
    let mut at = find(body, delim.as_bytes(), 0).expect("first boundary");
    loop {
        at += delim.len();
        if body[at..].starts_with(b"--") {
            break;
        }
        assert!(body[at..].starts_with(b"\r\n"), "a CRLF after the boundary");
        at += 2;
        let head_end = find(body, b"\r\n\r\n", at).expect("part headers");
        let head = String::from_utf8_lossy(&body[at..head_end]).to_string();
        let next = find(body, format!("\r\n{delim}").as_bytes(), head_end).expect("next boundary");
        let field = |name: &str| {
            head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
        };
        let name = field("content-disposition")
            .and_then(|d| {
                d.split(';').find_map(|p| {
                    p.trim()
                        .strip_prefix("name=")
                        .map(|n| n.trim_matches('"').to_owned())
                })
            })
            .expect("a part name");
        parts.push((
            name,
            field("content-type").unwrap_or_default(),
            body[head_end + 4..next].to_vec(),
        ));
        at = next + 2;
    }
    parts
}
