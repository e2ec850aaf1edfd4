//! The admin account and its credentials: the password hash and the hashes of session and API
//! tokens, in the `admin` tree. This crate stores opaque hashes; hashing (argon2 for the
//! password, SHA-256 for tokens) and the policy (lifetimes, lockout) live in the HTTP edge.
//!
//! Keys: `password` → the PHC string of the admin password; `token/<hex hash>` → a
//! [`TokenRecord`]. Values are JSON in the version envelope, flushed before acknowledging.

use crate::{envelope, Store, StoreError};
use serde::{Deserialize, Serialize};

pub(crate) const TREE_ADMIN: &str = "admin";
const KEY_PASSWORD: &[u8] = b"password";
const TOKEN_PREFIX: &[u8] = b"token/";
const ADMIN_VERSION: u16 = 1;

/// What a token authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// A browser session (cookie); unsafe methods need the CSRF token.
    Session,
    /// An API token (`Authorization: Bearer`).
    Api,
}

/// A stored token (the token itself is never stored, only its hash, which is the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Session or API token.
    pub kind: TokenKind,
    /// The account (`admin`).
    pub user: String,
    /// Issued, ms since the epoch.
    pub created_unix_ms: u64,
    /// Expires, ms since the epoch.
    pub expires_unix_ms: u64,
    /// Hash of the session's CSRF token (sessions only).
    #[serde(default)]
    pub csrf_hash: Option<String>,
}

impl envelope::Migrate for TokenRecord {
    const CURRENT: u16 = ADMIN_VERSION;
}

#[derive(Serialize, Deserialize)]
struct PasswordRecord {
    phc: String,
}

impl envelope::Migrate for PasswordRecord {
    const CURRENT: u16 = ADMIN_VERSION;
}

fn decode<T: serde::de::DeserializeOwned + envelope::Migrate>(
    key: &[u8],
    bytes: &[u8],
) -> Result<T, StoreError> {
    envelope::decode(bytes).map_err(|reason| StoreError::Decode {
        tree: TREE_ADMIN,
        key: crate::repo::printable_key(key),
        reason,
    })
}

fn token_key(hash: &str) -> Vec<u8> {
    let mut k = TOKEN_PREFIX.to_vec();
    k.extend_from_slice(hash.as_bytes());
    k
}

impl Store {
    fn admin_tree(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.engine()?.admin.clone())
    }

    fn memory_tokens(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Option<TokenRecord>>> {
        match self.memory_tokens.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The admin password hash (PHC string), `None` before it was ever set.
    pub fn admin_password_hash(&self) -> Result<Option<String>, StoreError> {
        match self.admin_tree()?.get(KEY_PASSWORD)? {
            None => Ok(None),
            Some(b) => Ok(Some(decode::<PasswordRecord>(KEY_PASSWORD, &b)?.phc)),
        }
    }

    /// Replaces the admin password hash and revokes every token (sessions and API tokens), in
    /// one transaction; durable when this returns.
    pub fn set_admin_password_hash(&self, phc: &str) -> Result<(), StoreError> {
        let tree = self.admin_tree()?;
        let mut batch = sled::Batch::default();
        batch.insert(
            KEY_PASSWORD,
            envelope::encode_json(
                ADMIN_VERSION,
                &PasswordRecord {
                    phc: phc.to_owned(),
                },
            )?,
        );
        for item in tree.scan_prefix(TOKEN_PREFIX) {
            let (k, _) = item?;
            batch.remove(k);
        }
        tree.apply_batch(batch)?;
        self.flush()?;
        self.memory_tokens().clear();
        Ok(())
    }

    /// Stores a token record under the token's hash; durable when this returns. When the disk
    /// is full the token is kept in memory instead (valid until a restart), so logging in
    /// never needs a write.
    pub fn put_token(&self, hash: &str, rec: &TokenRecord) -> Result<(), StoreError> {
        let written = self
            .admin_tree()
            .and_then(|t| {
                let bytes = envelope::encode_json(ADMIN_VERSION, rec)?;
                self.noted(t.insert(token_key(hash), bytes).map_err(StoreError::from))
            })
            .and_then(|_| self.flush());
        match written {
            Err(e) if e.is_full() => {
                tracing::warn!(
                    "the disk is full: this admin session lives in memory until a restart"
                );
                self.memory_tokens()
                    .insert(hash.to_owned(), Some(rec.clone()));
                Ok(())
            }
            other => other,
        }
    }

    /// The token record with this hash, if any (expired ones included: the caller decides).
    pub fn token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        if let Some(rec) = self.memory_tokens().get(hash) {
            return Ok(rec.clone());
        }
        let key = token_key(hash);
        match self.admin_tree()?.get(&key)? {
            None => Ok(None),
            Some(b) => decode(&key, &b).map(Some),
        }
    }

    /// Revokes a token; durable when this returns. When the disk is full the revocation holds
    /// in memory (until a restart) and the removal is retried by the next purge.
    pub fn delete_token(&self, hash: &str) -> Result<(), StoreError> {
        self.memory_tokens().insert(hash.to_owned(), None);
        let removed = self
            .admin_tree()
            .and_then(|t| self.noted(t.remove(token_key(hash)).map_err(StoreError::from)))
            .and_then(|_| self.flush());
        match removed {
            Err(e) if e.is_full() => Ok(()),
            other => other,
        }
    }

    /// Removes tokens that expired before `now_unix_ms`; returns how many.
    pub fn purge_expired_tokens(&self, now_unix_ms: u64) -> Result<usize, StoreError> {
        let tree = self.admin_tree()?;
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for item in tree.scan_prefix(TOKEN_PREFIX) {
            let (k, v) = item?;
            let expired = decode::<TokenRecord>(&k, &v)
                .map(|r| r.expires_unix_ms < now_unix_ms)
                .unwrap_or(true);
            if expired {
                batch.remove(k);
                n += 1;
            }
        }
        if n > 0 {
            tree.apply_batch(batch)?;
            self.flush()?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_in_memory_serve_and_revoke() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let rec = TokenRecord {
            kind: TokenKind::Session,
            user: "admin".into(),
            created_unix_ms: 1,
            expires_unix_ms: 10,
            csrf_hash: None,
        };
        store.memory_tokens().insert("h".into(), Some(rec.clone()));
        assert_eq!(store.token("h").unwrap(), Some(rec));
        store.delete_token("h").unwrap();
        assert_eq!(store.token("h").unwrap(), None);
    }

    #[test]
    fn password_and_tokens_round_trip_and_password_change_revokes_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.admin_password_hash().unwrap(), None);
        store.set_admin_password_hash("$argon2id$x").unwrap();
        let rec = TokenRecord {
            kind: TokenKind::Api,
            user: "admin".into(),
            created_unix_ms: 1,
            expires_unix_ms: 10,
            csrf_hash: None,
        };
        store.put_token("abc", &rec).unwrap();
        store
            .put_token(
                "old",
                &TokenRecord {
                    expires_unix_ms: 2,
                    ..rec.clone()
                },
            )
            .unwrap();
        assert_eq!(store.token("abc").unwrap(), Some(rec.clone()));
        assert_eq!(store.purge_expired_tokens(5).unwrap(), 1);
        assert_eq!(store.token("old").unwrap(), None);
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            store.admin_password_hash().unwrap().as_deref(),
            Some("$argon2id$x")
        );
        assert!(store.token("abc").unwrap().is_some());
        store.set_admin_password_hash("$argon2id$y").unwrap();
        assert_eq!(store.token("abc").unwrap(), None);
        store.put_token("abc", &rec).unwrap();
        store.delete_token("abc").unwrap();
        assert_eq!(store.token("abc").unwrap(), None);
    }
}
