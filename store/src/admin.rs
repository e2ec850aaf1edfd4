//! The admin account and its credentials: the password hash and the hashes of session and API
//! tokens, in the `admin` tree. This crate stores opaque hashes; hashing (argon2 for the
//! password, SHA-256 for tokens) and the policy (lifetimes, lockout) live in the HTTP edge.
//!
//! Keys: `password` → the PHC string of the admin password; `token/<hex hash>` → a
//! [`TokenRecord`]. Values are JSON in the version envelope, flushed before acknowledging.

use crate::{envelope, Store, StoreError};
use serde::{Deserialize, Serialize};

const TREE_ADMIN: &str = "admin";
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
        Ok(self.db.open_tree(TREE_ADMIN)?)
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
        self.flush()
    }

    /// Stores a token record under the token's hash; durable when this returns.
    pub fn put_token(&self, hash: &str, rec: &TokenRecord) -> Result<(), StoreError> {
        self.admin_tree()?
            .insert(token_key(hash), envelope::encode_json(ADMIN_VERSION, rec)?)?;
        self.flush()
    }

    /// The token record with this hash, if any (expired ones included: the caller decides).
    pub fn token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let key = token_key(hash);
        match self.admin_tree()?.get(&key)? {
            None => Ok(None),
            Some(b) => decode(&key, &b).map(Some),
        }
    }

    /// Revokes a token; durable when this returns.
    pub fn delete_token(&self, hash: &str) -> Result<(), StoreError> {
        self.admin_tree()?.remove(token_key(hash))?;
        self.flush()
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
