//! Legacy user-data listenKeys (`POST/PUT/DELETE /api/v3/userDataStream`): a 64-character key
//! per account, valid for a configured time after its creation or last keepalive. Streams that
//! carry a key look it up here and send `listenKeyExpired` once it is gone.
//!
//! A mutex is enough: lookups are rare (create, keepalive, stream checks) and never held across
//! an await.

use std::collections::HashMap;
use std::sync::Mutex;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::engine::AccountId;

const KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const KEY_LEN: usize = 64;

#[derive(Debug)]
struct State {
    keys: HashMap<String, (AccountId, i64)>,
    rng: ChaCha8Rng,
}

/// Active listenKeys and their expiry times.
#[derive(Debug)]
pub(crate) struct ListenKeys {
    ttl_ms: i64,
    state: Mutex<State>,
}

impl ListenKeys {
    pub fn new(ttl_ms: u64, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(0x11);
        Self {
            ttl_ms: i64::try_from(ttl_ms).unwrap_or(i64::MAX),
            state: Mutex::new(State {
                keys: HashMap::new(),
                rng,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The account's active key (extended), or a new one; as the venue did, asking again while
    /// a key is active returns the same key.
    pub fn create(&self, account: AccountId, now: i64) -> String {
        let expires = now.saturating_add(self.ttl_ms);
        let mut state = self.lock();
        state.keys.retain(|_, (_, until)| *until > now);
        if let Some((key, entry)) = state.keys.iter_mut().find(|(_, (a, _))| *a == account) {
            entry.1 = expires;
            return key.clone();
        }
        let key: String = (0..KEY_LEN)
            .map(|_| char::from(KEY_ALPHABET[state.rng.random_range(0..KEY_ALPHABET.len())]))
            .collect();
        state.keys.insert(key.clone(), (account, expires));
        key
    }

    /// Extends a live key of the account; false if unknown or expired.
    pub fn keepalive(&self, account: AccountId, key: &str, now: i64) -> bool {
        let mut state = self.lock();
        match state.keys.get_mut(key) {
            Some((owner, until)) if *owner == account && *until > now => {
                *until = now.saturating_add(self.ttl_ms);
                true
            }
            _ => false,
        }
    }

    /// Removes a live key of the account; false if unknown or expired.
    pub fn close(&self, account: AccountId, key: &str, now: i64) -> bool {
        let mut state = self.lock();
        let owned = state
            .keys
            .get(key)
            .is_some_and(|(owner, until)| *owner == account && *until > now);
        if owned {
            state.keys.remove(key);
        }
        owned
    }

    /// The account and expiry of a live key.
    pub fn resolve(&self, key: &str, now: i64) -> Option<(AccountId, i64)> {
        self.lock()
            .keys
            .get(key)
            .copied()
            .filter(|(_, until)| *until > now)
    }

    /// Whether a name looks like a listenKey (to tell it from a market stream name).
    pub fn is_key_shaped(name: &str) -> bool {
        name.len() == KEY_LEN && name.bytes().all(|b| b.is_ascii_alphanumeric())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_keepalive_expire_close() {
        let keys = ListenKeys::new(1_000, 1);
        let (a, b) = (AccountId(0), AccountId(1));
        let key = keys.create(a, 0);
        assert!(ListenKeys::is_key_shaped(&key));
        assert_eq!(keys.create(a, 500), key, "same key while active");
        assert_eq!(keys.resolve(&key, 1_499), Some((a, 1_500)));
        assert!(!keys.keepalive(b, &key, 600), "another account's key");
        assert!(keys.keepalive(a, &key, 1_000));
        assert_eq!(keys.resolve(&key, 2_000), None, "expired");
        assert!(!keys.keepalive(a, &key, 2_000));
        let other = keys.create(a, 3_000);
        assert_ne!(other, key);
        assert!(!keys.close(b, &other, 3_000));
        assert!(keys.close(a, &other, 3_000));
        assert!(!keys.close(a, &other, 3_000));
    }
}
