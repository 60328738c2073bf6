//! Emitted actions: bounded history for replay and the live fan-out to StreamActions.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use fff_proto::convert::timestamp_to_datetime;
use fff_proto::fff::rebalancer::v1 as pb;
use tokio::sync::broadcast;

/// Live subscribers buffer this many actions before they are resent from history.
const FANOUT_CAPACITY: usize = 256;

/// An action with its emission number (orders replay and live delivery).
pub type Numbered = (u64, pb::Action);

/// History of emitted actions, oldest first.
#[derive(Debug)]
pub struct ActionLog {
    capacity: usize,
    emitted: VecDeque<Numbered>,
    next: u64,
    fanout: broadcast::Sender<Numbered>,
}

impl ActionLog {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            emitted: VecDeque::new(),
            next: 1,
            fanout: broadcast::channel(FANOUT_CAPACITY).0,
        }
    }

    /// Records and broadcasts an action.
    pub fn emit(&mut self, action: pb::Action) {
        let number = self.next;
        self.next = self.next.saturating_add(1);
        if self.emitted.len() == self.capacity {
            self.emitted.pop_front();
        }
        self.emitted.push_back((number, action.clone()));
        // no receiver is fine: the executor may not be subscribed yet
        let _ = self.fanout.send((number, action));
    }

    /// Unexpired actions issued after `since` (all unexpired when `None`), and the live feed,
    /// taken together so nothing falls between them. Numbers order the two.
    pub fn subscribe(
        &self,
        since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> (Vec<Numbered>, broadcast::Receiver<Numbered>) {
        let replay = match since {
            None => Vec::new(),
            Some(since) => self
                .emitted
                .iter()
                .filter(|(_, a)| issued_at(a).is_some_and(|at| at > since))
                .filter(|(_, a)| !expired(a, now))
                .cloned()
                .collect(),
        };
        (replay, self.fanout.subscribe())
    }

    /// Actions numbered above `after` (for a lagging subscriber).
    pub fn after(&self, after: u64) -> Vec<Numbered> {
        self.emitted
            .iter()
            .filter(|(n, _)| *n > after)
            .cloned()
            .collect()
    }
}

fn issued_at(action: &pb::Action) -> Option<DateTime<Utc>> {
    action
        .issued_at
        .as_ref()
        .and_then(|t| timestamp_to_datetime("issued_at", t).ok())
}

/// Expired actions are not replayed (the executor would skip them anyway).
pub fn expired(action: &pb::Action, now: DateTime<Utc>) -> bool {
    action
        .expires_at
        .as_ref()
        .and_then(|t| timestamp_to_datetime("expires_at", t).ok())
        .is_some_and(|at| at <= now)
}

/// A random (version 4) UUID, formatted the usual way.
pub fn new_id() -> String {
    let bits: u128 = rand::random();
    let bits = (bits & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use fff_proto::convert::datetime_to_timestamp;

    fn action(issued: DateTime<Utc>, ttl_secs: i64) -> pb::Action {
        pb::Action {
            action_id: new_id(),
            issued_at: datetime_to_timestamp(issued),
            expires_at: datetime_to_timestamp(issued + Duration::seconds(ttl_secs)),
            ..pb::Action::default()
        }
    }

    #[test]
    fn replay_skips_old_and_expired_actions() {
        let now = Utc::now();
        let mut log = ActionLog::new(10);
        log.emit(action(now - Duration::seconds(300), 120)); // expired
        let fresh = action(now - Duration::seconds(10), 120);
        log.emit(fresh.clone());
        let (replay, _rx) = log.subscribe(Some(now - Duration::seconds(600)), now);
        assert_eq!(replay.len(), 1);
        assert_eq!(replay[0].1.action_id, fresh.action_id);
        let (replay, _rx) = log.subscribe(None, now);
        assert!(replay.is_empty());
        assert_eq!(log.after(1).len(), 1);
    }

    #[tokio::test]
    async fn live_subscribers_receive_emitted_actions() {
        let mut log = ActionLog::new(1);
        let (_, mut rx) = log.subscribe(None, Utc::now());
        let a = action(Utc::now(), 120);
        log.emit(a.clone());
        log.emit(action(Utc::now(), 120));
        assert_eq!(rx.recv().await.unwrap().1.action_id, a.action_id);
        // bounded history
        assert_eq!(log.after(0).len(), 1);
    }
}
