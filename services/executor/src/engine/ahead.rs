//! Order intents written ahead of their send: an entry slice commits its spot hedge together
//! with its perp, before the perp is sent, so nothing waits on PostgreSQL between the perp's
//! fill and the hedge order. Until the task that will send such an intent is done with it,
//! reconciliation and the stale-order sweep must not close it as never sent (the hedge would
//! then reach the venue behind a row already EXPIRED). After a restart no task holds it, and
//! reconciliation settles it like any other intent.

use std::collections::HashSet;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct AheadIntents {
    held: Mutex<HashSet<String>>,
}

impl AheadIntents {
    /// Marks `client_order_id` as held by a live task until the returned claim is dropped.
    /// Taken before the intent is written, so a row visible in the database as INTENT is held.
    pub fn claim(&self, client_order_id: &str) -> Claim<'_> {
        self.lock().insert(client_order_id.to_owned());
        Claim {
            intents: self,
            client_order_id: client_order_id.to_owned(),
        }
    }

    /// Whether a live task will still send (or close) `client_order_id`.
    pub fn holds(&self, client_order_id: &str) -> bool {
        self.lock().contains(client_order_id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A held intent; dropping it lets reconciliation settle the row.
#[derive(Debug)]
pub struct Claim<'a> {
    intents: &'a AheadIntents,
    client_order_id: String,
}

impl Claim<'_> {
    pub fn client_order_id(&self) -> &str {
        &self.client_order_id
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.intents.lock().remove(&self.client_order_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_holds_its_intent_until_dropped() {
        let intents = AheadIntents::default();
        let claim = intents.claim("fff1-Se0r0");
        assert!(intents.holds("fff1-Se0r0"));
        assert!(!intents.holds("fff1-Se1r0"));
        drop(claim);
        assert!(!intents.holds("fff1-Se0r0"));
    }
}
