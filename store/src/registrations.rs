//! Registration state of SIP lines (the registrar's bindings), kept so registrations survive a
//! restart until they expire. Key: line id (big-endian) + contact URI.

use crate::model::SipLineId;
use crate::{envelope, Store, StoreError};
use serde::{Deserialize, Serialize};

/// One contact bound to a SIP line by REGISTER.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// The line.
    pub line: SipLineId,
    /// Contact URI as registered (e.g. `sip:101@192.0.2.7:5062;transport=udp`).
    pub contact: String,
    /// Where the REGISTER really came from (`ip:port`), for NAT.
    pub source: String,
    /// `udp` or `tcp`.
    pub transport: String,
    /// User-Agent of the phone.
    pub user_agent: String,
    /// Expiry, milliseconds since the Unix epoch.
    pub expires_unix_ms: u64,
    /// Call-ID of the REGISTER that made the binding (RFC 3261 §10.3 ordering).
    pub call_id: String,
    /// CSeq of that REGISTER.
    pub cseq: u32,
}

impl envelope::Migrate for Binding {
    const CURRENT: u16 = 1;
}

fn key(line: SipLineId, contact: &str) -> Vec<u8> {
    let mut k = line.0.to_be_bytes().to_vec();
    k.extend_from_slice(contact.as_bytes());
    k
}

impl Store {
    /// Adds or refreshes a binding; durable when this returns.
    pub fn put_binding(&self, b: &Binding) -> Result<(), StoreError> {
        let bytes = envelope::encode(<Binding as envelope::Migrate>::CURRENT, b)?;
        let done = self
            .engine()?
            .registrations
            .insert(key(b.line, &b.contact), bytes);
        self.noted(done.map_err(StoreError::from))?;
        self.flush()
    }

    /// Removes one binding; durable when this returns.
    pub fn remove_binding(&self, line: SipLineId, contact: &str) -> Result<(), StoreError> {
        let done = self.engine()?.registrations.remove(key(line, contact));
        self.noted(done.map_err(StoreError::from))?;
        self.flush()
    }

    /// Every stored binding (expired ones included; the registrar prunes them).
    pub fn bindings(&self) -> Result<Vec<Binding>, StoreError> {
        let mut out = Vec::new();
        for item in self.engine()?.registrations.iter() {
            let (k, v) = item?;
            out.push(
                envelope::decode::<Binding>(&v).map_err(|reason| StoreError::Decode {
                    tree: "registrations",
                    key: String::from_utf8_lossy(&k).into_owned(),
                    reason,
                })?,
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_survive_reopen_and_remove() {
        let dir = tempfile::tempdir().unwrap();
        let b = Binding {
            line: SipLineId(101),
            contact: "sip:101@127.0.0.1:5062".into(),
            source: "127.0.0.1:5062".into(),
            transport: "udp".into(),
            user_agent: "baresip".into(),
            expires_unix_ms: 1_000,
            call_id: "c".into(),
            cseq: 1,
        };
        {
            let s = Store::open(dir.path()).unwrap();
            s.put_binding(&b).unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.bindings().unwrap(), vec![b.clone()]);
        s.remove_binding(b.line, &b.contact).unwrap();
        assert!(s.bindings().unwrap().is_empty());
    }
}
