//! The directive log: ids, sequence numbers, history, acknowledgements and live fan-out.
//!
//! With a database (the `fff risk` role) every directive is stored in `risk_directives` before
//! it is recorded here and broadcast ([`crate::state::RiskCore`]); this log is then the cache
//! of the newest `risk_service.directive_history` records (plus the standing gate and cut),
//! reloaded at each lease term's start, and the sequence continues after the highest stored
//! one. An empty history starts at the wall-clock microsecond, so sequences stay above those of
//! earlier releases that did not persist them.

use std::collections::VecDeque;

use chrono::{DateTime, SubsecRound as _, Utc};
use fff_core::MarginTier;
use fff_proto::fff::risk::v1::{DirectiveKind, DirectiveOutcome};
use rust_decimal::Decimal;
use tokio::sync::broadcast;

/// Live subscribers buffer this many directives before they are resent from history.
const FANOUT_CAPACITY: usize = 256;

/// An instruction to the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub id: String,
    pub sequence: u64,
    pub kind: DirectiveKind,
    /// For REDUCE and EMERGENCY_DELEVERAGE.
    pub reduce_fraction: Option<Decimal>,
    pub reason: String,
    /// Overall margin tier when issued.
    pub tier: MarginTier,
    pub issued_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Issued because the drawdown reached `risk.max_monthly_drawdown` (the breach's de-risk).
    pub drawdown_limit: bool,
}

impl Directive {
    /// REDUCE, EMERGENCY_DELEVERAGE and CLOSE_ALL cut exposure; the others gate entries.
    pub fn is_cut(&self) -> bool {
        matches!(
            self.kind,
            DirectiveKind::Reduce | DirectiveKind::EmergencyDeleverage | DirectiveKind::CloseAll
        )
    }
}

/// A directive before the log gives it an id and a sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDirective {
    pub kind: DirectiveKind,
    pub reduce_fraction: Option<Decimal>,
    pub reason: String,
    pub tier: MarginTier,
    pub expires_at: Option<DateTime<Utc>>,
    /// Issued because the drawdown reached `risk.max_monthly_drawdown`.
    pub drawdown_limit: bool,
}

/// What the executor reported about a directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub outcome: DirectiveOutcome,
    pub detail: String,
    pub acked_at: DateTime<Utc>,
}

/// A directive and its acknowledgements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectiveRecord {
    pub directive: Directive,
    pub acks: Vec<Ack>,
}

/// Issued directives, oldest first, bounded.
#[derive(Debug)]
pub struct DirectiveLog {
    next_sequence: u64,
    capacity: usize,
    records: VecDeque<DirectiveRecord>,
    fanout: broadcast::Sender<Directive>,
}

impl DirectiveLog {
    /// An empty log whose first sequence number is derived from `started_at`.
    pub fn new(started_at: DateTime<Utc>, capacity: usize) -> Self {
        let first = u64::try_from(started_at.timestamp_micros())
            .unwrap_or(1)
            .max(1);
        Self {
            next_sequence: first,
            capacity: capacity.max(1),
            records: VecDeque::new(),
            fanout: broadcast::channel(FANOUT_CAPACITY).0,
        }
    }

    /// Assigns id and sequence, records and broadcasts the directive.
    pub fn issue(&mut self, new: NewDirective, now: DateTime<Utc>) -> Directive {
        let directive = drafted(new, self.next_sequence, now);
        self.record(directive.clone());
        directive
    }

    /// Ids and consecutive sequence numbers for `wanted`, without recording them: the caller
    /// persists them first and then [`Self::record`]s each, in order.
    pub fn draft(&self, wanted: Vec<NewDirective>, now: DateTime<Utc>) -> Vec<Directive> {
        let mut sequence = self.next_sequence;
        wanted
            .into_iter()
            .map(|new| {
                let directive = drafted(new, sequence, now);
                sequence = sequence.saturating_add(1);
                directive
            })
            .collect()
    }

    /// Records and broadcasts a drafted directive.
    pub fn record(&mut self, directive: Directive) {
        self.next_sequence = self.next_sequence.max(directive.sequence.saturating_add(1));
        if self.records.len() == self.capacity {
            self.records.pop_front();
        }
        self.records.push_back(DirectiveRecord {
            directive: directive.clone(),
            acks: Vec::new(),
        });
        // no receiver is fine: nobody subscribed yet
        let _ = self.fanout.send(directive);
    }

    /// Replaces the history with `records` (oldest first, as stored) and continues the
    /// sequence after `max_stored` (if any history was stored).
    pub fn restore(&mut self, records: Vec<DirectiveRecord>, max_stored: Option<u64>) {
        self.records = records.into();
        while self.records.len() > self.capacity {
            self.records.pop_front();
        }
        if let Some(max) = max_stored {
            self.next_sequence = max.saturating_add(1);
        }
    }

    /// Ends every live subscription (this instance no longer decides): subscribers reconnect,
    /// to the instance that holds the lease.
    pub fn close_subscribers(&mut self) {
        self.fanout = broadcast::channel(FANOUT_CAPACITY).0;
    }

    /// The next sequence number to be issued.
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }

    /// Whether `new` is already in force, so issuing it again would act twice: a HALT_ENTRIES
    /// while the newest gate is a HALT_ENTRIES, or a drawdown-limit cut when one was issued
    /// since the newest RESUME (the breach it belongs to has not ended).
    pub fn already_in_force(&self, new: &NewDirective) -> bool {
        let newest_gate = self
            .records
            .iter()
            .rev()
            .map(|r| &r.directive)
            .find(|d| !d.is_cut());
        if new.kind == DirectiveKind::HaltEntries {
            return newest_gate.is_some_and(|g| g.kind == DirectiveKind::HaltEntries);
        }
        if new.drawdown_limit {
            let resumed_at = self
                .records
                .iter()
                .rev()
                .map(|r| &r.directive)
                .find(|d| d.kind == DirectiveKind::Resume)
                .map_or(0, |d| d.sequence);
            return self
                .records
                .iter()
                .any(|r| r.directive.drawdown_limit && r.directive.sequence > resumed_at);
        }
        false
    }

    pub fn last(&self) -> Option<&Directive> {
        self.records.back().map(|r| &r.directive)
    }

    /// The directives in force at `now`, oldest first: the newest cut directive (unless it
    /// expired or a RESUME followed it) and the newest entry gate (HALT_ENTRIES or RESUME).
    pub fn standing(&self, now: DateTime<Utc>) -> Vec<Directive> {
        let newest = |pred: &dyn Fn(&Directive) -> bool| {
            self.records
                .iter()
                .rev()
                .map(|r| &r.directive)
                .find(|d| pred(d))
                .cloned()
        };
        let gate = newest(&|d| !d.is_cut());
        let cut = newest(&Directive::is_cut).filter(|cut| {
            let live = cut.expires_at.is_none_or(|at| at > now);
            let lifted = gate
                .as_ref()
                .is_some_and(|g| g.kind == DirectiveKind::Resume && g.sequence > cut.sequence);
            live && !lifted
        });
        let mut standing: Vec<Directive> = cut.into_iter().chain(gate).collect();
        standing.sort_by_key(|d| d.sequence);
        standing
    }

    /// Directives with a sequence above `after`, oldest first.
    pub fn after(&self, after: u64) -> Vec<Directive> {
        self.records
            .iter()
            .filter(|r| r.directive.sequence > after)
            .map(|r| r.directive.clone())
            .collect()
    }

    /// What a new subscriber replays, and the live feed after it; taken together so nothing
    /// falls between them.
    pub fn subscribe(
        &self,
        after_sequence: u64,
        now: DateTime<Utc>,
    ) -> (Vec<Directive>, broadcast::Receiver<Directive>) {
        let replay = if after_sequence == 0 {
            self.standing(now)
        } else {
            self.after(after_sequence)
        };
        (replay, self.fanout.subscribe())
    }

    /// The live feed of directives recorded from now on.
    pub fn live(&self) -> broadcast::Receiver<Directive> {
        self.fanout.subscribe()
    }

    /// Records an acknowledgement; `false` if the id is unknown (or evicted).
    pub fn ack(&mut self, id: &str, ack: Ack) -> bool {
        match self.records.iter_mut().find(|r| r.directive.id == id) {
            Some(record) => {
                record.acks.push(ack);
                true
            }
            None => false,
        }
    }

    /// Records newest first, filtered by `keep`, starting below sequence `before` (if any).
    pub fn newest_first(
        &self,
        before: Option<u64>,
        keep: impl Fn(&Directive) -> bool,
    ) -> impl Iterator<Item = &DirectiveRecord> {
        self.records
            .iter()
            .rev()
            .filter(move |r| before.is_none_or(|b| r.directive.sequence < b) && keep(&r.directive))
    }
}

/// Times are kept to the microsecond, as PostgreSQL stores them, so a directive sent live and
/// the same one replayed from the table are equal.
fn drafted(new: NewDirective, sequence: u64, now: DateTime<Utc>) -> Directive {
    let now = now.trunc_subsecs(6);
    Directive {
        id: new_id(),
        sequence,
        kind: new.kind,
        reduce_fraction: new.reduce_fraction,
        reason: new.reason,
        tier: new.tier,
        issued_at: now,
        expires_at: new.expires_at.map(|at| at.trunc_subsecs(6)),
        drawdown_limit: new.drawdown_limit,
    }
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
    use rust_decimal_macros::dec;

    fn cut(kind: DirectiveKind, expires_at: Option<DateTime<Utc>>) -> NewDirective {
        NewDirective {
            kind,
            reduce_fraction: Some(dec!(0.5)),
            reason: "test".into(),
            tier: MarginTier::Orange,
            expires_at,
            drawdown_limit: false,
        }
    }

    #[test]
    fn sequences_increase_and_survive_a_restart() {
        let start = Utc::now();
        let mut log = DirectiveLog::new(start, 10);
        let a = log.issue(cut(DirectiveKind::Reduce, None), start);
        let b = log.issue(cut(DirectiveKind::CloseAll, None), start);
        assert_eq!(b.sequence, a.sequence + 1);
        assert_ne!(a.id, b.id);
        assert_eq!(a.id.len(), 36);
        assert_eq!(&a.id[14..15], "4");
        let restarted = DirectiveLog::new(start + Duration::seconds(1), 10);
        assert!(restarted.next_sequence > b.sequence);
    }

    #[test]
    fn standing_is_the_live_cut_and_the_latest_gate() {
        let now = Utc::now();
        let mut log = DirectiveLog::new(now, 10);
        let halt = log.issue(cut(DirectiveKind::HaltEntries, None), now);
        let deleverage = log.issue(
            cut(
                DirectiveKind::EmergencyDeleverage,
                Some(now + Duration::seconds(60)),
            ),
            now,
        );
        let ids: Vec<_> = log.standing(now).into_iter().map(|d| d.id).collect();
        assert_eq!(ids, vec![halt.id.clone(), deleverage.id.clone()]);
        // expired cut: only the gate remains
        let later = now + Duration::seconds(61);
        assert_eq!(log.standing(later).len(), 1);
        // a resume lifts the cut too
        let resume = log.issue(cut(DirectiveKind::Resume, None), now);
        let ids: Vec<_> = log.standing(now).into_iter().map(|d| d.id).collect();
        assert_eq!(ids, vec![resume.id]);
        // replay after a sequence gives everything newer
        let (replay, _rx) = log.subscribe(halt.sequence, now);
        assert_eq!(replay.len(), 2);
    }

    #[test]
    fn history_is_bounded_and_acks_attach() {
        let now = Utc::now();
        let mut log = DirectiveLog::new(now, 2);
        let first = log.issue(cut(DirectiveKind::Reduce, None), now);
        let second = log.issue(cut(DirectiveKind::Reduce, None), now);
        log.issue(cut(DirectiveKind::Reduce, None), now);
        let ack = Ack {
            outcome: DirectiveOutcome::Completed,
            detail: String::new(),
            acked_at: now,
        };
        assert!(!log.ack(&first.id, ack.clone()));
        assert!(log.ack(&second.id, ack));
        let listed: Vec<_> = log.newest_first(None, |_| true).collect();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[1].acks.len(), 1);
    }
}
