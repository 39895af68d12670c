//! The nonces a verifier has accepted, for as long as they could be
//! replayed.

use std::collections::{BTreeSet, HashSet};

use crate::scheme::{Rejection, NONCE_LEN};

/// Nonces accepted, each until its timestamp leaves the window.
#[derive(Default)]
pub(crate) struct ReplayCache {
    nonces: HashSet<[u8; NONCE_LEN]>,
    by_expiry: BTreeSet<(u64, [u8; NONCE_LEN])>,
}

impl ReplayCache {
    /// Forgets the nonces whose time is past at `now`, then remembers
    /// `nonce` until `expires`: an error if it is already known, or if
    /// `capacity` nonces are.
    pub(crate) fn insert(
        &mut self,
        nonce: [u8; NONCE_LEN],
        expires: u64,
        now: u64,
        capacity: usize,
    ) -> Result<(), Rejection> {
        while let Some(&(expiry, old)) = self.by_expiry.first() {
            if expiry >= now {
                break;
            }
            self.by_expiry.pop_first();
            self.nonces.remove(&old);
        }
        if self.nonces.contains(&nonce) {
            return Err(Rejection::Replayed);
        }
        if self.nonces.len() >= capacity {
            return Err(Rejection::Overloaded);
        }
        self.nonces.insert(nonce);
        self.by_expiry.insert((expires, nonce));
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.nonces.len()
    }
}
