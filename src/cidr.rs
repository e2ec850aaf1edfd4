//! Address ranges in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`, or a bare address for one
//! host), as the settings name trusted networks.

use serde::{Deserialize, Deserializer};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// One address range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    base: IpAddr,
    prefix: u8,
}

/// Why a range could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not an address range: {reason} (expected e.g. 192.168.1.0/24)")]
pub struct CidrError {
    input: String,
    reason: &'static str,
}

impl Cidr {
    /// The range holding exactly `ip`.
    pub fn host(ip: IpAddr) -> Cidr {
        Cidr {
            base: ip,
            prefix: bits(ip),
        }
    }

    /// Whether `ip` is inside the range. An IPv4 address mapped into IPv6 (`::ffff:a.b.c.d`)
    /// matches the IPv4 range it maps.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.base, ip) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => {
                masked(u32::from(base).into(), self.prefix, 32)
                    == masked(u32::from(ip).into(), self.prefix, 32)
            }
            (IpAddr::V6(base), IpAddr::V6(ip)) => {
                masked(u128::from(base), self.prefix, 128)
                    == masked(u128::from(ip), self.prefix, 128)
            }
            _ => false,
        }
    }
}

/// Whether any of `ranges` holds `ip`.
pub fn any_contains(ranges: &[Cidr], ip: IpAddr) -> bool {
    ranges.iter().any(|r| r.contains(ip))
}

fn bits(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn masked(v: u128, prefix: u8, width: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        v >> (width - prefix)
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let err = |reason| CidrError {
            input: s.to_string(),
            reason,
        };
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let base: IpAddr = addr.parse().map_err(|_| err("bad address"))?;
        let prefix = match prefix {
            None => bits(base),
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits(base))
                .ok_or_else(|| err("bad prefix length"))?,
        };
        let width = bits(base);
        let host_part = match base {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            IpAddr::V6(v6) => u128::from(v6),
        } & if prefix == width {
            0
        } else {
            (1u128 << (width - prefix)) - 1
        };
        if host_part != 0 {
            return Err(err("host bits are set past the prefix length"));
        }
        Ok(Cidr { base, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_hold_their_addresses() {
        let office: Cidr = "192.168.10.0/24".parse().unwrap();
        assert!(office.contains(ip("192.168.10.1")));
        assert!(office.contains(ip("192.168.10.255")));
        assert!(!office.contains(ip("192.168.11.1")));
        assert!(office.contains(ip("::ffff:192.168.10.7")));
        assert!(!office.contains(ip("2001:db8::1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")));
        assert!(!v6.contains(ip("2001:db9::5")));
        let one: Cidr = "10.1.2.3".parse().unwrap();
        assert_eq!(one, Cidr::host(ip("10.1.2.3")));
        assert!(one.contains(ip("10.1.2.3")) && !one.contains(ip("10.1.2.4")));
    }

    #[test]
    fn bad_ranges_say_why() {
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0.1/8",
            "office",
            "10.0.0.0/x",
            "::/129",
        ] {
            let e = bad.parse::<Cidr>().unwrap_err().to_string();
            assert!(e.contains("not an address range"), "{bad}: {e}");
        }
        assert_eq!(
            "10.0.0.0/8".parse::<Cidr>().unwrap().to_string(),
            "10.0.0.0/8"
        );
    }
}
