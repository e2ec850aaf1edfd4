//! The switch's HTTP side: plain HTTP/1.0 GETs (every call bounded), `/health` and the RTP
//! counters of `/metrics`.

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(crate) async fn http_get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let code: u16 = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        if code != 200 {
            return Err(format!("GET {path}: HTTP {code}"));
        }
        Ok(text
            .split_once("\r\n\r\n")
            .map(|x| x.1.to_string())
            .unwrap_or_default())
    };
    tokio::time::timeout(Duration::from_secs(3), fut)
        .await
        .map_err(|_| format!("GET {path}: timeout"))?
}

pub(crate) async fn active_calls(http: SocketAddr) -> Option<i64> {
    let body = http_get(http, "/health").await.ok()?;
    let v: Value = serde_json::from_str(&body).ok()?;
    v.get("active_calls")?.as_i64()
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RtpCounters {
    pub(crate) received: f64,
    pub(crate) sent: f64,
    pub(crate) lost: f64,
    pub(crate) late: f64,
    pub(crate) invalid: f64,
    /// Received or made but not sent (`vpbx_rtp_packets_dropped_total`): the socket refused
    /// them, or a bridged or mixed peer had no room.
    pub(crate) dropped_send: f64,
    pub(crate) dropped_link: f64,
}

impl RtpCounters {
    pub(crate) fn delta(&self, before: &RtpCounters) -> RtpCounters {
        RtpCounters {
            received: self.received - before.received,
            sent: self.sent - before.sent,
            lost: self.lost - before.lost,
            late: self.late - before.late,
            invalid: self.invalid - before.invalid,
            dropped_send: self.dropped_send - before.dropped_send,
            dropped_link: self.dropped_link - before.dropped_link,
        }
    }
    /// (lost %, late %) of the packets the switch should have received.
    pub(crate) fn pcts(&self) -> (f64, f64) {
        let expected = self.received + self.lost;
        if expected <= 0.0 {
            return (0.0, 0.0);
        }
        (self.lost / expected * 100.0, self.late / expected * 100.0)
    }
    pub(crate) fn json(&self) -> Value {
        let (lost, late) = self.pcts();
        json!({
            "received": self.received, "sent": self.sent, "lost": self.lost,
            "late": self.late, "invalid": self.invalid,
            "lost_pct": lost, "late_pct": late, "lost_late_pct": lost + late,
        })
    }
}

/// Sums every series of `name` in Prometheus text (absent counters are 0).
pub(crate) fn prom_value(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            if !(rest.starts_with(' ') || rest.starts_with('{')) {
                return None;
            }
            l.rsplit(' ').next()?.parse::<f64>().ok()
        })
        .sum()
}

pub(crate) async fn rtp_counters(http: SocketAddr) -> Result<RtpCounters, String> {
    let t = http_get(http, "/metrics").await?;
    Ok(RtpCounters {
        received: prom_value(&t, "vpbx_rtp_packets_received_total"),
        sent: prom_value(&t, "vpbx_rtp_packets_sent_total"),
        lost: prom_value(&t, "vpbx_rtp_packets_lost_total"),
        late: prom_value(&t, "vpbx_rtp_packets_late_total"),
        invalid: prom_value(&t, "vpbx_rtp_packets_invalid_total"),
        dropped_send: prom_value(
            &t,
            r#"vpbx_rtp_packets_dropped_total{reason="send_failed"}"#,
        ),
        dropped_link: prom_value(&t, r#"vpbx_rtp_packets_dropped_total{reason="link_full"}"#),
    })
}

/// A blocking HTTP/1.0 request (connect bound 5 s, read bound `read`): the status and the body.
pub(crate) fn request(
    at: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    read: Duration,
) -> Result<(u16, String), String> {
    let mut s =
        TcpStream::connect_timeout(&at, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(read)).map_err(|e| e.to_string())?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: soak\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    Ok((code, body))
}
