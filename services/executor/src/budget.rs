//! Entry approvals from the budget risk grants ahead (`StreamEntryBudget`): an entry the
//! budget covers is approved here, without a round trip to risk between the opportunity and
//! its order, and reported to risk at once (RequestApproval with `budget_id`), so risk records
//! every entry. Without a budget in force (risk unreachable, a lease change, a revision
//! expired) every entry asks risk as before: fail closed.
//!
//! Risk computes the headroom from its account snapshot; entries approved from it are counted
//! here until a revision's snapshot is [`SETTLE`] younger than them, so the entries of one
//! scanner snapshot, approved at once, count against each other (asked one by one, each was
//! judged against the account alone, and a batch could end above the utilization limit). An
//! entry larger than what is left is approved for what fits, as `RequestApproval` may.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use fff_core::{CapitalModel, Direction};
use fff_proto::convert::{optional_timestamp, parse_decimal, required_timestamp};
use fff_proto::fff::risk::v1 as pb;
use rust_decimal::Decimal;
use tokio_util::sync::CancellationToken;

use crate::approval::{ApprovalOutcome, Approver, RiskApprover, RiskClientT};

/// How much older than a revision's account snapshot an entry must be before the headroom is
/// taken to include it: its first slice's legs fill within milliseconds of the approval and
/// reach risk's snapshot within tens (a longer wait counts a filled entry twice, and refuses
/// the next entries for capital that is free).
const SETTLE: chrono::TimeDelta = chrono::TimeDelta::milliseconds(250);

/// How long after the approval the entry is reported: the report's write at risk would
/// otherwise compete with the entry's own commits and order for the machine (its two cores in
/// `fff bench`); by then the entry's first order has left.
const REPORT_AFTER: Duration = Duration::from_millis(50);

/// One revision of risk's entry budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub id: String,
    /// Capital (both legs, the capital model's) entries may add, as of `account_as_of`.
    pub headroom: Decimal,
    pub max_leverage: Decimal,
    /// Why no entry is allowed; empty if entries are.
    pub reasons: Vec<String>,
    pub expires_at: DateTime<Utc>,
    pub account_as_of: Option<DateTime<Utc>>,
}

impl Budget {
    /// A revision from the wire; a malformed one is an error naming the field.
    pub fn from_proto(budget: &pb::EntryBudget) -> Result<Self, String> {
        let parsed = (|| {
            Ok::<_, fff_proto::convert::FieldError>(Self {
                id: budget.budget_id.clone(),
                headroom: parse_decimal("capital_headroom", &budget.capital_headroom)?,
                max_leverage: parse_decimal("max_leverage", &budget.max_leverage)?,
                reasons: budget.reasons.clone(),
                expires_at: required_timestamp("expires_at", budget.expires_at.as_ref())?,
                account_as_of: optional_timestamp("account_as_of", budget.account_as_of.as_ref())?,
            })
        })();
        parsed.map_err(|e| e.to_string())
    }
}

/// What [`BudgetBook::take`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// Approved from budget `budget_id` for `notional` (at most what was asked);
    /// `request_id` names the entry in risk's records.
    Approved {
        budget_id: String,
        request_id: String,
        notional: Decimal,
    },
    Refused(Vec<String>),
    /// No revision in force: ask risk.
    NoBudget,
}

/// The newest revision and the entries approved from revisions whose snapshot may not hold
/// them yet. Pure: the clock is an argument.
#[derive(Debug, Default)]
pub struct BudgetBook {
    budget: Option<Budget>,
    /// (capital, approved at) of entries not yet in the newest revision's snapshot.
    taken: Vec<(Decimal, DateTime<Utc>)>,
    /// Entries approved by this process (the request ids' sequence).
    count: u64,
}

impl BudgetBook {
    /// Takes a new revision; entries its snapshot holds stop counting.
    pub fn revise(&mut self, budget: Budget) {
        if let Some(as_of) = budget.account_as_of {
            self.taken.retain(|(_, at)| *at + SETTLE > as_of);
        }
        self.budget = Some(budget);
    }

    /// No revision in force (the stream broke): entries ask risk until the next one.
    pub fn clear(&mut self) {
        self.budget = None;
    }

    /// Capital still free in the revision in force, if one is.
    pub fn free(&self, now: DateTime<Utc>) -> Option<Decimal> {
        let budget = self.budget.as_ref().filter(|b| b.expires_at > now)?;
        let taken: Decimal = self.taken.iter().map(|(capital, _)| *capital).sum();
        Some((budget.headroom - taken).max(Decimal::ZERO))
    }

    /// Approves an entry of up to `notional` in `direction` at `leverage` from the revision in
    /// force, for as much of it as the headroom left holds, and counts it.
    pub fn take(
        &mut self,
        model: &CapitalModel,
        (direction, notional, leverage): (Direction, Decimal, u32),
        now: DateTime<Utc>,
    ) -> Result<Taken, fff_core::Error> {
        let (Some(free), Some(budget)) = (self.free(now), self.budget.as_ref()) else {
            return Ok(Taken::NoBudget);
        };
        if !budget.reasons.is_empty() {
            return Ok(Taken::Refused(budget.reasons.clone()));
        }
        if Decimal::from(leverage) > budget.max_leverage {
            return Ok(Taken::Refused(vec![format!(
                "leverage {leverage} above capital.max_leverage {}",
                budget.max_leverage
            )]));
        }
        let fits = notional.min(model.notional_for_capital(free, direction, 2)?);
        if fits <= Decimal::ZERO {
            return Ok(Taken::Refused(vec![format!(
                "the entry budget has {} USDT of capital left before utilization reaches its \
                 limit",
                free.round_dp(2)
            )]));
        }
        let capital = model.hedge_capital(fits, direction)?.total();
        self.taken.push((capital, now));
        self.count += 1;
        Ok(Taken::Approved {
            budget_id: budget.id.clone(),
            request_id: format!("budget-{}-{}", budget.id, self.count),
            notional: fits,
        })
    }
}

/// Approves from the entry budget, asks risk when there is none.
pub struct BudgetApprover {
    risk: RiskApprover,
    model: CapitalModel,
    book: Arc<Mutex<BudgetBook>>,
}

impl BudgetApprover {
    pub fn new(client: RiskClientT, model: CapitalModel) -> Self {
        Self {
            risk: RiskApprover::new(client),
            model,
            book: Arc::default(),
        }
    }

    fn book(&self) -> std::sync::MutexGuard<'_, BudgetBook> {
        self.book
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Follows StreamEntryBudget until cancelled, reconnecting; between streams there is no
    /// budget, and entries ask risk one by one.
    pub async fn follow(self: Arc<Self>, client: RiskClientT, cancel: CancellationToken) {
        let mut delay = Duration::from_millis(200);
        loop {
            let ended = tokio::select! {
                () = cancel.cancelled() => return,
                ended = self.follow_once(&client, &mut delay) => ended,
            };
            self.book().clear();
            tracing::debug!(reason = %ended, "entry budget stream ended; entries ask risk until it is back");
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    async fn follow_once(&self, client: &RiskClientT, delay: &mut Duration) -> String {
        let mut stream = match client
            .clone()
            .stream_entry_budget(pb::StreamEntryBudgetRequest {})
            .await
        {
            Ok(stream) => stream.into_inner(),
            Err(status) => return status.message().to_owned(),
        };
        loop {
            match stream.message().await {
                Ok(Some(message)) => match message
                    .budget
                    .as_ref()
                    .ok_or_else(|| "revision without a budget".to_owned())
                    .and_then(Budget::from_proto)
                {
                    Ok(budget) => {
                        *delay = Duration::from_millis(200);
                        self.book().revise(budget);
                    }
                    Err(error) => {
                        tracing::warn!(%error, "malformed entry budget ignored");
                        self.book().clear();
                    }
                },
                Ok(None) => return "risk ended the stream".to_owned(),
                Err(status) => return status.message().to_owned(),
            }
        }
    }

    /// Tells risk of an entry approved from its budget (risk records it with its own
    /// decision), [`REPORT_AFTER`] later; a refusal there is logged: the budget was in force
    /// when the entry took it.
    fn report(
        &self,
        (symbol, direction, notional, leverage, reason): (&str, Direction, Decimal, u32, &str),
        budget_id: String,
        request_id: String,
    ) {
        let risk = self.risk.clone();
        let (symbol, reason) = (symbol.to_owned(), reason.to_owned());
        tokio::spawn(async move {
            tokio::time::sleep(REPORT_AFTER).await;
            let entry = (
                symbol.as_str(),
                direction,
                notional,
                leverage,
                reason.as_str(),
            );
            match risk.request(entry, &request_id, &budget_id).await {
                Ok(outcome) if outcome.approved => {}
                Ok(outcome) => tracing::warn!(
                    %symbol, %request_id, reasons = ?outcome.reasons,
                    "risk would refuse an entry its budget approved"
                ),
                Err(error) => tracing::warn!(
                    %symbol, %request_id, %error,
                    "entry approved from the budget not reported to risk"
                ),
            }
        });
    }
}

#[tonic::async_trait]
impl Approver for BudgetApprover {
    async fn approve(
        &self,
        symbol: &str,
        direction: Direction,
        notional: Decimal,
        leverage: u32,
        reason: &str,
    ) -> Result<ApprovalOutcome, String> {
        let taken = self
            .book()
            .take(&self.model, (direction, notional, leverage), Utc::now())
            .map_err(|e| e.to_string())?;
        match taken {
            Taken::NoBudget => {
                self.risk
                    .approve(symbol, direction, notional, leverage, reason)
                    .await
            }
            Taken::Refused(reasons) => Ok(ApprovalOutcome {
                approved: false,
                approval_id: String::new(),
                notional: Decimal::ZERO,
                reasons,
            }),
            Taken::Approved {
                budget_id,
                request_id,
                notional,
            } => {
                let entry = (symbol, direction, notional, leverage, reason);
                self.report(entry, budget_id, request_id.clone());
                Ok(ApprovalOutcome {
                    approved: true,
                    approval_id: request_id,
                    notional,
                    reasons: Vec::new(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn budget(headroom: Decimal, as_of: DateTime<Utc>, now: DateTime<Utc>) -> Budget {
        Budget {
            id: "b1".into(),
            headroom,
            max_leverage: dec!(10),
            reasons: Vec::new(),
            expires_at: now + chrono::TimeDelta::seconds(2),
            account_as_of: Some(as_of),
        }
    }

    fn model() -> CapitalModel {
        CapitalModel::new(
            &fff_core::params::CapitalParams::default(),
            &fff_core::params::RiskParams::default(),
        )
        .unwrap()
    }

    fn take(book: &mut BudgetBook, notional: Decimal, leverage: u32, now: DateTime<Utc>) -> Taken {
        book.take(
            &model(),
            (Direction::PositiveCarry, notional, leverage),
            now,
        )
        .unwrap()
    }

    #[test]
    fn entries_of_one_revision_count_against_each_other_and_the_last_gets_what_fits() {
        let now = Utc::now();
        let mut book = BudgetBook::default();
        assert_eq!(take(&mut book, dec!(1), 5, now), Taken::NoBudget);
        // positive carry at 5x: 1.23 of capital per unit of notional
        book.revise(budget(dec!(36900), now, now));
        assert!(matches!(
            take(&mut book, dec!(20000), 5, now),
            Taken::Approved { notional, .. } if notional == dec!(20000)
        ));
        // 36 900 - 24 600 = 12 300 left: 10 000 of notional
        match take(&mut book, dec!(20000), 5, now) {
            Taken::Approved {
                notional,
                request_id,
                ..
            } => {
                assert_eq!(notional, dec!(10000));
                assert_eq!(request_id, "budget-b1-2");
            }
            other => panic!("{other:?}"),
        }
        match take(&mut book, dec!(1), 5, now) {
            Taken::Refused(reasons) => assert!(reasons[0].contains("has 0.00 USDT"), "{reasons:?}"),
            other => panic!("{other:?}"),
        }
        // a revision whose snapshot is not a SETTLE younger still counts both entries
        book.revise(budget(dec!(36900), now, now));
        assert_eq!(book.free(now), Some(Decimal::ZERO));
        // one taken after the entries holds them: they stop counting
        let later = now + chrono::TimeDelta::seconds(1);
        book.revise(budget(dec!(1000), later, later));
        assert_eq!(book.free(later), Some(dec!(1000)));
    }

    #[test]
    fn reasons_leverage_and_expiry() {
        let now = Utc::now();
        let mut book = BudgetBook::default();
        book.revise(Budget {
            reasons: vec!["margin tier is Yellow, entries need Green".into()],
            ..budget(dec!(50000), now, now)
        });
        assert_eq!(
            take(&mut book, dec!(1), 5, now),
            Taken::Refused(vec!["margin tier is Yellow, entries need Green".into()])
        );
        book.revise(budget(dec!(50000), now, now));
        match take(&mut book, dec!(1), 11, now) {
            Taken::Refused(reasons) => assert!(reasons[0].contains("leverage 11")),
            other => panic!("{other:?}"),
        }
        // an expired revision is no budget: the entry asks risk
        let late = now + chrono::TimeDelta::seconds(3);
        assert_eq!(take(&mut book, dec!(1), 5, late), Taken::NoBudget);
        book.clear();
        assert_eq!(take(&mut book, dec!(1), 5, now), Taken::NoBudget);
    }

    #[test]
    fn a_malformed_revision_names_its_field() {
        let wire = pb::EntryBudget {
            budget_id: "b".into(),
            capital_headroom: "lots".into(),
            max_leverage: "10".into(),
            ..Default::default()
        };
        let error = Budget::from_proto(&wire).unwrap_err();
        assert!(error.contains("capital_headroom"), "{error}");
    }
}
