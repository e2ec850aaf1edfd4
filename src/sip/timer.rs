//! Session timers (RFC 4028) when the peer asks for them — pure negotiation.
//!
//! An INVITE with `Session-Expires` gets it back in our 2xx with `Require: timer` (when the
//! caller supports timers). The refresher is the caller unless it asked us to refresh. Below
//! our minimum (90 s by default, RFC 4028 §4) the INVITE is refused with 422 and `Min-SE`.

/// The default minimum session interval, seconds (RFC 4028 §4).
pub const MIN_SE: u32 = 90;

/// Who refreshes the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    /// The caller (UAC of the dialog).
    Uac,
    /// We (the UAS).
    Uas,
}

/// The negotiated timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimer {
    /// Session interval, seconds.
    pub interval: u32,
    /// Who refreshes.
    pub refresher: Refresher,
    /// Whether our 2xx carries `Require: timer` (the caller said `Supported: timer`).
    pub require: bool,
}

impl SessionTimer {
    /// The `Session-Expires` value of our 2xx.
    pub fn header_value(&self) -> String {
        let r = match self.refresher {
            Refresher::Uac => "uac",
            Refresher::Uas => "uas",
        };
        format!("{};refresher={r}", self.interval)
    }
}

/// `Session-Expires: 1800;refresher=uac` → (1800, Some(Uac)).
pub fn parse_session_expires(value: &str) -> Option<(u32, Option<Refresher>)> {
    let mut parts = value.split(';');
    let secs = parts.next()?.trim().parse::<u32>().ok()?;
    let mut refresher = None;
    for p in parts {
        if let Some((k, v)) = p.split_once('=') {
            if k.trim().eq_ignore_ascii_case("refresher") {
                refresher = match v.trim().to_ascii_lowercase().as_str() {
                    "uac" => Some(Refresher::Uac),
                    "uas" => Some(Refresher::Uas),
                    _ => None,
                };
            }
        }
    }
    Some((secs, refresher))
}

/// Negotiates from the INVITE's `Session-Expires` value and whether it said `Supported: timer`.
/// `Ok(None)`: no session timer. `Err(min)`: refuse with 422 and `Min-SE: min`.
pub fn negotiate(
    session_expires: Option<&str>,
    supports_timer: bool,
    min_se: u32,
) -> Result<Option<SessionTimer>, u32> {
    let Some(v) = session_expires else {
        return Ok(None);
    };
    let Some((interval, refresher)) = parse_session_expires(v) else {
        return Ok(None);
    };
    if interval < min_se {
        return Err(min_se);
    }
    // Without timer support the caller cannot be asked to refresh: we do it (RFC 4028 §9).
    let refresher = match (refresher, supports_timer) {
        (_, false) => Refresher::Uas,
        (Some(r), true) => r,
        (None, true) => Refresher::Uac,
    };
    Ok(Some(SessionTimer {
        interval,
        refresher,
        require: supports_timer,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(None, true, MIN_SE), Ok(None));
        assert_eq!(negotiate(Some("60"), true, MIN_SE), Err(90));
        let t = negotiate(Some("1800"), true, MIN_SE).unwrap().unwrap();
        assert_eq!(t.header_value(), "1800;refresher=uac");
        assert!(t.require);
        let t = negotiate(Some("600;refresher=uas"), true, MIN_SE)
            .unwrap()
            .unwrap();
        assert_eq!(t.refresher, Refresher::Uas);
        let t = negotiate(Some("600;refresher=uac"), false, MIN_SE)
            .unwrap()
            .unwrap();
        assert_eq!((t.refresher, t.require), (Refresher::Uas, false));
        assert_eq!(negotiate(Some("x"), true, MIN_SE), Ok(None));
    }
}
