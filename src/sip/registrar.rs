//! The registrar's binding table (RFC 3261 §10.3), pure: REGISTER requests are applied with the
//! time as an argument and the result says what to answer and what changed, so the shell can
//! persist the changes and the tests can drive hours of expiry in microseconds.

use std::collections::HashMap;
use vpbx_store::model::SipLineId;
use vpbx_store::registrations::Binding;

/// Expiry limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Shorter requests get 423 Interval Too Brief with this `Min-Expires`.
    pub min_expires: u32,
    /// Used when the request names no expiry.
    pub default_expires: u32,
    /// Longer requests are shortened to this.
    pub max_expires: u32,
    /// Contacts per line.
    pub max_contacts: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            min_expires: 60,
            default_expires: 3600,
            max_expires: 7200,
            max_contacts: 10,
        }
    }
}

/// The Contact part of a REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contacts {
    /// No Contact header: a query for the current bindings.
    Query,
    /// `Contact: *` (valid only with `Expires: 0`).
    Star,
    /// Contact URIs with their own `expires` parameter if any.
    List(Vec<(String, Option<u32>)>),
}

/// One REGISTER, already authenticated for `line`.
#[derive(Debug, Clone)]
pub struct Register {
    /// The line.
    pub line: SipLineId,
    /// Contacts.
    pub contacts: Contacts,
    /// `Expires` header.
    pub expires: Option<u32>,
    /// Call-ID.
    pub call_id: String,
    /// CSeq number.
    pub cseq: u32,
    /// Where it came from (`ip:port`).
    pub source: String,
    /// `udp` / `tcp`.
    pub transport: String,
    /// User-Agent.
    pub user_agent: String,
    /// Now, ms since the epoch.
    pub now_ms: u64,
}

/// A change to persist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Add or refresh.
    Put(Binding),
    /// Remove.
    Remove(SipLineId, String),
}

/// What to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 200 OK listing the line's bindings (with their remaining seconds).
    Ok {
        /// Current bindings of the line.
        bindings: Vec<Binding>,
        /// What changed.
        changes: Vec<Change>,
    },
    /// 423 Interval Too Brief with `Min-Expires`.
    TooBrief(u32),
    /// 400 with a reason.
    Bad(&'static str),
}

/// All bindings of all lines.
#[derive(Debug, Default)]
pub struct Table {
    lines: HashMap<SipLineId, Vec<Binding>>,
}

impl Table {
    /// A table holding `bindings` (e.g. loaded from the store), minus those expired at `now_ms`.
    pub fn load(bindings: Vec<Binding>, now_ms: u64) -> (Table, Vec<Change>) {
        let mut t = Table::default();
        for b in bindings {
            t.lines.entry(b.line).or_default().push(b);
        }
        let removed = t.expire(now_ms);
        (t, removed)
    }

    /// Live bindings of a line.
    pub fn of(&self, line: SipLineId) -> &[Binding] {
        self.lines.get(&line).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Lines with at least one binding.
    pub fn registered_lines(&self) -> Vec<SipLineId> {
        self.lines
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, _)| *k)
            .collect()
    }

    /// Drops bindings expired at `now_ms`.
    pub fn expire(&mut self, now_ms: u64) -> Vec<Change> {
        let mut out = Vec::new();
        for bindings in self.lines.values_mut() {
            bindings.retain(|b| {
                let live = b.expires_unix_ms > now_ms;
                if !live {
                    out.push(Change::Remove(b.line, b.contact.clone()));
                }
                live
            });
        }
        self.lines.retain(|_, v| !v.is_empty());
        out
    }

    /// Applies one REGISTER (RFC 3261 §10.3 steps 6–8).
    pub fn apply(&mut self, limits: &Limits, r: Register) -> Outcome {
        let mut changes = self.expire(r.now_ms);
        let list = match r.contacts {
            Contacts::Query => {
                return Outcome::Ok {
                    bindings: self.of(r.line).to_vec(),
                    changes,
                }
            }
            Contacts::Star => {
                if r.expires != Some(0) {
                    return Outcome::Bad("Contact: * requires Expires: 0");
                }
                for b in self.lines.remove(&r.line).unwrap_or_default() {
                    changes.push(Change::Remove(b.line, b.contact));
                }
                return Outcome::Ok {
                    bindings: Vec::new(),
                    changes,
                };
            }
            Contacts::List(list) => list,
        };
        // Validate every contact before changing anything.
        for (_, e) in &list {
            let secs = e.or(r.expires).unwrap_or(limits.default_expires);
            if secs != 0 && secs < limits.min_expires {
                return Outcome::TooBrief(limits.min_expires);
            }
        }
        let current = self.lines.entry(r.line).or_default();
        for (contact, _) in &list {
            if let Some(b) = current.iter().find(|b| &b.contact == contact) {
                if b.call_id == r.call_id && r.cseq <= b.cseq {
                    return Outcome::Bad("REGISTER out of order (CSeq not higher)");
                }
            }
        }
        for (contact, e) in list {
            let secs = e
                .or(r.expires)
                .unwrap_or(limits.default_expires)
                .min(limits.max_expires);
            let existing = current.iter().position(|b| b.contact == contact);
            if secs == 0 {
                if let Some(i) = existing {
                    let b = current.remove(i);
                    changes.push(Change::Remove(b.line, b.contact));
                }
                continue;
            }
            let binding = Binding {
                line: r.line,
                contact,
                source: r.source.clone(),
                transport: r.transport.clone(),
                user_agent: r.user_agent.clone(),
                expires_unix_ms: r.now_ms + u64::from(secs) * 1000,
                call_id: r.call_id.clone(),
                cseq: r.cseq,
            };
            match existing {
                Some(i) => current[i] = binding.clone(),
                None => {
                    if current.len() >= limits.max_contacts {
                        // Replace the binding closest to expiry, as phones re-register often.
                        if let Some((i, _)) = current
                            .iter()
                            .enumerate()
                            .min_by_key(|(_, b)| b.expires_unix_ms)
                        {
                            let old = current.remove(i);
                            changes.push(Change::Remove(old.line, old.contact));
                        }
                    }
                    current.push(binding.clone());
                }
            }
            changes.push(Change::Put(binding));
        }
        let bindings = current.clone();
        if bindings.is_empty() {
            self.lines.remove(&r.line);
        }
        Outcome::Ok { bindings, changes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(contacts: Contacts, expires: Option<u32>, cseq: u32, now_ms: u64) -> Register {
        Register {
            line: SipLineId(101),
            contacts,
            expires,
            call_id: "c1".into(),
            cseq,
            source: "127.0.0.1:5062".into(),
            transport: "udp".into(),
            user_agent: "test".into(),
            now_ms,
        }
    }

    fn one(uri: &str) -> Contacts {
        Contacts::List(vec![(uri.to_string(), None)])
    }

    #[test]
    fn register_refresh_expire_and_unregister() {
        let l = Limits::default();
        let mut t = Table::default();
        let Outcome::Ok { bindings, .. } = t.apply(&l, reg(one("sip:a@h"), Some(120), 1, 0)) else {
            panic!()
        };
        assert_eq!(bindings.len(), 1);
        assert_eq!(bindings[0].expires_unix_ms, 120_000);
        // A second contact on the same line.
        let Outcome::Ok { bindings, .. } = t.apply(
            &l,
            reg(
                Contacts::List(vec![("sip:b@h".into(), Some(300))]),
                None,
                2,
                1_000,
            ),
        ) else {
            panic!()
        };
        assert_eq!(bindings.len(), 2);
        // Expiry removes only the first.
        assert_eq!(t.expire(130_000).len(), 1);
        assert_eq!(t.of(SipLineId(101)).len(), 1);
        // Unregister all.
        let out = t.apply(&l, reg(Contacts::Star, Some(0), 3, 131_000));
        assert!(matches!(out, Outcome::Ok { ref bindings, .. } if bindings.is_empty()));
        assert!(t.registered_lines().is_empty());
    }

    #[test]
    fn too_brief_too_long_and_bad_star() {
        let l = Limits::default();
        let mut t = Table::default();
        assert_eq!(
            t.apply(&l, reg(one("sip:a@h"), Some(30), 1, 0)),
            Outcome::TooBrief(60)
        );
        let Outcome::Ok { bindings, .. } = t.apply(&l, reg(one("sip:a@h"), Some(999_999), 2, 0))
        else {
            panic!()
        };
        assert_eq!(bindings[0].expires_unix_ms, 7_200_000);
        assert!(matches!(
            t.apply(&l, reg(Contacts::Star, Some(60), 3, 0)),
            Outcome::Bad(_)
        ));
    }

    #[test]
    fn out_of_order_cseq_is_refused_and_expires_zero_removes_one() {
        let l = Limits::default();
        let mut t = Table::default();
        t.apply(&l, reg(one("sip:a@h"), None, 5, 0));
        assert!(matches!(
            t.apply(&l, reg(one("sip:a@h"), None, 5, 0)),
            Outcome::Bad(_)
        ));
        let out = t.apply(&l, reg(one("sip:a@h"), Some(0), 6, 0));
        assert!(
            matches!(out, Outcome::Ok { ref changes, .. } if changes == &vec![Change::Remove(SipLineId(101), "sip:a@h".into())])
        );
    }

    #[test]
    fn load_prunes_expired() {
        let b = |c: &str, exp| Binding {
            line: SipLineId(1),
            contact: c.into(),
            source: String::new(),
            transport: "udp".into(),
            user_agent: String::new(),
            expires_unix_ms: exp,
            call_id: "x".into(),
            cseq: 1,
        };
        let (t, removed) = Table::load(vec![b("sip:old@h", 10), b("sip:new@h", 10_000)], 5_000);
        assert_eq!(removed.len(), 1);
        assert_eq!(t.of(SipLineId(1)).len(), 1);
    }
}
