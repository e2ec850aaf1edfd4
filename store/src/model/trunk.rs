//! SIP trunks: the switch's connections to carriers. A trunk brings calls in (a DID dialled at
//! the carrier maps to one of the company's virtual numbers) and takes calls out (to external
//! numbers, chosen by prefix). The carrier trusts the switch either because it registers with
//! credentials, or because calls come from known addresses (docs/decisions.md D18).

use super::TrunkId;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// A SIP trunk to a carrier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trunk {
    /// Id.
    pub id: TrunkId,
    /// Name shown to the admin (required, unique among trunks).
    pub name: String,
    /// A disabled trunk neither registers nor carries calls.
    #[serde(default = "super::yes")]
    pub enabled: bool,
    /// The carrier's SIP proxy: a host name, an IPv4 literal or an IPv6 literal (without
    /// brackets).
    pub host: String,
    /// The proxy's port (1–65535).
    #[serde(default = "default_port")]
    pub port: u16,
    /// Transport to the proxy.
    #[serde(default)]
    pub transport: TrunkTransport,
    /// How the carrier and the switch trust each other.
    pub auth: TrunkAuth,
    /// Inbound: DIDs the carrier delivers on this trunk, each mapped to a virtual number.
    #[serde(default)]
    pub dids: Vec<DidMapping>,
    /// The trunk carries outbound calls to external numbers.
    #[serde(default = "super::yes")]
    pub outbound: bool,
    /// Outbound number prefixes (digits) this trunk serves; empty means every number.
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// How outbound numbers are written in the Request-URI.
    #[serde(default)]
    pub number_format: NumberFormat,
    /// Simultaneous calls on the trunk (in and out); `None` means unlimited.
    #[serde(default)]
    pub max_channels: Option<u32>,
    /// Seconds an outbound INVITE waits for the carrier's first answer (100 Trying or any
    /// response, 1–32). With none, the call fails at once with 408 and a Warning instead of
    /// ringing until the SIP transaction gives up (32 s).
    #[serde(default = "default_response_timeout")]
    pub response_timeout_s: u32,
}

fn default_port() -> u16 {
    5060
}

/// Default of [`Trunk::response_timeout_s`].
pub const DEFAULT_RESPONSE_TIMEOUT_S: u32 = 5;

fn default_response_timeout() -> u32 {
    DEFAULT_RESPONSE_TIMEOUT_S
}

fn default_expires() -> u32 {
    300
}

/// The trunk an outbound call to `number` leaves by: among the enabled outbound trunks that
/// serve it, the one with the longest matching prefix (a trunk without prefixes matches with
/// length 0); the first in order on a tie. The ringing of external numbers and the routing
/// tracer both ask this.
pub fn pick_outbound<'a>(trunks: &'a [Trunk], number: &str) -> Option<&'a Trunk> {
    let digits = number.trim_start_matches('+');
    let mut best: Option<(&Trunk, usize)> = None;
    for t in trunks.iter().filter(|t| t.serves_outbound(digits)) {
        let len = t
            .prefixes
            .iter()
            .filter(|p| digits.starts_with(p.as_str()))
            .map(|p| p.len())
            .max()
            .unwrap_or(0);
        if best.is_none_or(|(_, l)| len > l) {
            best = Some((t, len));
        }
    }
    best.map(|(t, _)| t)
}

impl Trunk {
    /// Whether a request from `source` comes from this trunk's carrier by address: one of the
    /// addresses of IP authentication (an address or a CIDR block) contains it. Always false
    /// for a registration trunk. IPv4-mapped IPv6 sources (`::ffff:a.b.c.d`) match IPv4 entries.
    pub fn trusts_source(&self, source: IpAddr) -> bool {
        match &self.auth {
            TrunkAuth::Ip { addresses } => addresses
                .iter()
                .filter_map(|a| IpNet::parse(a).ok())
                .any(|n| n.contains(source)),
            TrunkAuth::Registration { .. } => false,
        }
    }

    /// Whether this trunk serves the outbound number `digits`: it is enabled, carries outbound
    /// calls, and has no prefixes or one that starts `digits` (a leading `+` is ignored).
    pub fn serves_outbound(&self, digits: &str) -> bool {
        let d = digits.trim_start_matches('+');
        self.enabled
            && self.outbound
            && (self.prefixes.is_empty() || self.prefixes.iter().any(|p| d.starts_with(p.as_str())))
    }

    /// `digits` (international, with or without `+`) as this trunk sends it in a Request-URI.
    pub fn format_number(&self, digits: &str) -> String {
        let d = digits.trim_start_matches('+');
        match self.number_format {
            NumberFormat::International => d.to_owned(),
            NumberFormat::Plus => format!("+{d}"),
        }
    }
}

/// Transport to the carrier's proxy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrunkTransport {
    /// UDP.
    #[default]
    Udp,
    /// TCP.
    Tcp,
}

/// How the carrier and the switch trust each other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TrunkAuth {
    /// The switch registers to the carrier with these credentials, and answers the carrier's
    /// 401/407 challenges on outbound INVITEs with them.
    Registration {
        /// Digest user name.
        username: String,
        /// Digest password (kept in clear: the switch must compute digest responses).
        password: String,
        /// Registration expiry the switch asks for, seconds (60–3600).
        #[serde(default = "default_expires")]
        expires_s: u32,
        /// Realm to answer; `None` answers whatever realm the carrier challenges with.
        #[serde(default)]
        realm: Option<String>,
    },
    /// IP authentication: calls from these source addresses are the carrier's.
    Ip {
        /// IPv4/IPv6 addresses or CIDR blocks (`10.0.0.0/24`), at least one.
        addresses: Vec<String>,
    },
}

/// Inbound: a DID the carrier delivers, mapped to one of the company's virtual numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DidMapping {
    /// The dialled number as the carrier sends it (digits, 1–20).
    pub did: String,
    /// Digits of an existing virtual number that handles these calls.
    pub number: String,
}

/// How outbound numbers are written in the Request-URI.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberFormat {
    /// Digits in international format without `+` (`79161234567`).
    #[default]
    International,
    /// E.164 with a leading `+` (`+79161234567`).
    Plus,
}

/// An IP address or a CIDR block (`10.0.0.0/24`, `2001:db8::/32`); a bare address is a block
/// of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    /// The network address (host bits are zero).
    pub addr: IpAddr,
    /// Prefix length (32 or 128 for a bare address).
    pub prefix: u8,
}

impl IpNet {
    /// Parses an address or a CIDR block; a block with host bits set is refused (the message
    /// names the network address that was probably meant).
    pub fn parse(s: &str) -> Result<IpNet, String> {
        let (addr_part, prefix_part) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr_part
            .parse()
            .map_err(|_| format!("'{s}' is not an IP address or a CIDR block"))?;
        let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_part {
            None => max,
            Some(p) => {
                let ok = !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit());
                match p.parse::<u8>() {
                    Ok(n) if ok && n <= max => n,
                    _ => return Err(format!("'{s}': the prefix length must be 0–{max}")),
                }
            }
        };
        let net = IpNet {
            addr: mask(addr, prefix),
            prefix,
        };
        if net.addr != addr {
            return Err(format!(
                "'{s}' has host bits set; the block is {}/{prefix}",
                net.addr
            ));
        }
        Ok(net)
    }

    /// Whether `ip` lies in this block (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & m).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_parse_and_contain() {
        let n = IpNet::parse("10.0.0.0/24").unwrap();
        assert!(n.contains(ip("10.0.0.77")));
        assert!(!n.contains(ip("10.0.1.1")));
        assert!(n.contains(ip("::ffff:10.0.0.9")));
        assert!(IpNet::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(!IpNet::parse("0.0.0.0/0").unwrap().contains(ip("::1")));
        let one = IpNet::parse("192.0.2.10").unwrap();
        assert_eq!(one.prefix, 32);
        assert!(one.contains(ip("192.0.2.10")) && !one.contains(ip("192.0.2.11")));
        let v6 = IpNet::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert_eq!(IpNet::parse("::1").unwrap().prefix, 128);
        for bad in [
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0/24",
            "host",
            "",
            "2001:db8::/129",
            "[::1]",
        ] {
            assert!(IpNet::parse(bad).is_err(), "{bad}");
        }
        let e = IpNet::parse("10.0.0.1/24").unwrap_err();
        assert!(e.contains("10.0.0.0/24"), "{e}");
    }

    #[test]
    fn trunk_helpers() {
        let mut t: Trunk = serde_json::from_value(serde_json::json!({
            "id": 1, "name": "Carrier", "host": "sip.carrier.example",
            "auth": {"kind": "ip", "addresses": ["192.0.2.0/28", "2001:db8::1"]},
            "prefixes": ["7495", "7499"]
        }))
        .unwrap();
        assert_eq!(
            (t.port, t.transport, t.enabled, t.outbound),
            (5060, TrunkTransport::Udp, true, true)
        );
        assert!(t.trusts_source(ip("192.0.2.15")));
        assert!(!t.trusts_source(ip("192.0.2.16")));
        assert!(t.trusts_source(ip("2001:db8::1")));
        assert!(t.serves_outbound("+74991234567"));
        assert!(!t.serves_outbound("79161234567"));
        assert_eq!(t.format_number("+74951234567"), "74951234567");
        t.number_format = NumberFormat::Plus;
        assert_eq!(t.format_number("74951234567"), "+74951234567");
        t.prefixes.clear();
        assert!(t.serves_outbound("79161234567"));
        t.outbound = false;
        assert!(!t.serves_outbound("79161234567"));
        let r: TrunkAuth = serde_json::from_value(
            serde_json::json!({"kind": "registration", "username": "u", "password": "p"}),
        )
        .unwrap();
        assert_eq!(
            r,
            TrunkAuth::Registration {
                username: "u".into(),
                password: "p".into(),
                expires_s: 300,
                realm: None
            }
        );
        assert!(serde_json::from_value::<TrunkAuth>(
            serde_json::json!({"kind": "ip", "addresses": [], "extra": 1})
        )
        .is_err());
    }
}
