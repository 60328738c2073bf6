//! Transfer between the account's own wallets (spot, cross margin, USDⓈ-M futures) through
//! Binance's universal transfer, idempotent by the caller's request id.
//!
//! Binance takes no client id for a universal transfer, so the gateway keeps the answer of every
//! request id it has sent and never sends a second transfer for one while the first may still
//! land: a known id is answered from memory (`duplicate = true`); a transfer whose outcome was
//! unknown (timeout, 5xx) is looked up in the venue's transfer history on every retry of its id
//! and re-sent only once the history, read after the lost attempt's recvWindow (plus a margin
//! for the history to catch up) has passed, still does not show it. A definite rejection records
//! nothing: the same id may be sent again once the funds are there. The send runs in a spawned
//! task, so a caller hanging up mid-request cannot lose the outcome.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fff_binance::models::wallet::{TransferRecord, TransferType, Wallet};
use fff_binance::rest::{Host, MAX_TRANSFER_PAGE};
use fff_binance::{Error as BinanceError, Outcome};
use fff_proto::FieldError;
use fff_proto::convert::parse_required_enum;
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::gateway::v1 as pb;
use rust_decimal::Decimal;
use tokio::sync::OwnedMutexGuard;
use tonic::Status;
use tracing::Instrument;

use crate::error::exchange_status;
use crate::loans::{check_asset, check_request_id};
use crate::service::fields::positive;
use crate::state::Gateway;

/// How far before the send the history is searched (clock differences, history time stamps).
const HISTORY_SKEW_MS: i64 = 60_000;

/// How long after the lost attempt's recvWindow the history may still miss it.
const HISTORY_LAG_MS: i64 = 30_000;

/// Lookups after an unknown outcome before answering UNAVAILABLE.
const RESOLVE_ATTEMPTS: [Duration; 2] = [Duration::from_millis(200), Duration::from_millis(800)];

/// A checked TransferRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidTransfer {
    pub kind: TransferType,
    pub asset: String,
    pub amount: Decimal,
    pub request_id: String,
    pub intent_id: String,
}

impl ValidTransfer {
    /// What the request id stands for: a repeat must ask for the same transfer.
    fn fingerprint(&self) -> String {
        format!("{}|{}|{}", self.kind, self.asset, self.amount.normalize())
    }
}

fn wallet(field: &str, raw: i32) -> Result<Wallet, FieldError> {
    match parse_required_enum::<common::Wallet>(field, raw)? {
        common::Wallet::Spot => Ok(Wallet::Spot),
        common::Wallet::CrossMargin => Ok(Wallet::CrossMargin),
        common::Wallet::UsdmFutures => Ok(Wallet::UsdmFutures),
        common::Wallet::Unspecified => Err(FieldError::invalid(field, "must be set")),
    }
}

/// Checks every field; errors are INVALID_ARGUMENT naming the field.
pub fn validate(request: &pb::TransferRequest) -> Result<ValidTransfer, Status> {
    check_asset("asset", &request.asset)?;
    let amount = positive("amount", &request.amount)?;
    let from = wallet("from", request.from)?;
    let to = wallet("to", request.to)?;
    let kind = TransferType::between(from, to)
        .ok_or_else(|| FieldError::invalid("to", "must differ from `from`"))?;
    check_request_id("request_id", &request.request_id)?;
    if request.intent_id.len() > 128 {
        return Err(FieldError::invalid("intent_id", "at most 128 bytes").into());
    }
    Ok(ValidTransfer {
        kind,
        asset: request.asset.clone(),
        amount,
        request_id: request.request_id.clone(),
        intent_id: request.intent_id.clone(),
    })
}

/// Where a request id stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// The venue executed it: its transaction id.
    Done { transaction_id: String },
    /// Sent at this venue time; the answer was lost.
    Unresolved { sent_at_ms: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    fingerprint: String,
    state: State,
}

/// What to do with a request id, given what the log knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    New,
    Done(String),
    Unresolved { sent_at_ms: i64 },
    Conflict,
}

/// After the history did not show an unresolved transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterNotFound {
    /// The lost attempt may still land or the history may still catch up: send nothing.
    StillUnknown,
    /// The venue refuses the lost attempt by now and its history does not have it: sending is
    /// safe.
    Send,
}

pub fn after_not_found(sent_at_ms: i64, now_ms: i64, recv_window_ms: i64) -> AfterNotFound {
    if now_ms <= sent_at_ms + recv_window_ms + HISTORY_LAG_MS {
        AfterNotFound::StillUnknown
    } else {
        AfterNotFound::Send
    }
}

/// The history row that is this transfer: same asset and amount, not failed, not before the
/// send (less the skew), and not already the answer to another request id.
pub fn find_sent<'a>(
    rows: &'a [TransferRecord],
    transfer: &ValidTransfer,
    sent_at_ms: i64,
    known: impl Fn(&str) -> bool,
) -> Option<&'a TransferRecord> {
    rows.iter().find(|r| {
        r.kind == transfer.kind.as_str()
            && r.asset == transfer.asset
            && r.amount == transfer.amount
            && !r.failed()
            && r.timestamp >= sent_at_ms - HISTORY_SKEW_MS
            && !known(&r.tran_id.to_string())
    })
}

/// The transfer log: every request id this gateway has sent, with its answer.
#[derive(Debug)]
pub struct Transfers {
    entries: Mutex<HashMap<String, Entry>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    recv_window_ms: i64,
}

impl Transfers {
    pub fn new(recv_window_ms: u64) -> Self {
        Self {
            entries: Mutex::default(),
            locks: Mutex::default(),
            recv_window_ms: i64::try_from(recv_window_ms).unwrap_or(60_000),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Serialises work on one request id; hold the guard until the outcome is recorded.
    async fn lock_id(&self, request_id: &str) -> OwnedMutexGuard<()> {
        let lock = self
            .locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(request_id.to_owned())
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
            .clone();
        lock.lock_owned().await
    }

    pub fn check(&self, request_id: &str, fingerprint: &str) -> Seen {
        match self.entries().get(request_id) {
            None => Seen::New,
            Some(entry) if entry.fingerprint != fingerprint => Seen::Conflict,
            Some(Entry {
                state: State::Done { transaction_id },
                ..
            }) => Seen::Done(transaction_id.clone()),
            Some(Entry {
                state: State::Unresolved { sent_at_ms },
                ..
            }) => Seen::Unresolved {
                sent_at_ms: *sent_at_ms,
            },
        }
    }

    /// True if a recorded request already accounts for this venue transaction.
    fn knows_transaction(&self, transaction_id: &str) -> bool {
        self.entries()
            .values()
            .any(|e| matches!(&e.state, State::Done { transaction_id: t } if t == transaction_id))
    }

    fn record(&self, transfer: &ValidTransfer, state: State) {
        self.entries().insert(
            transfer.request_id.clone(),
            Entry {
                fingerprint: transfer.fingerprint(),
                state,
            },
        );
    }

    fn forget(&self, request_id: &str) {
        self.entries().remove(request_id);
    }
}

/// Transfers once per request id; returns the venue's transaction id and whether nothing new
/// was sent for this call.
pub async fn transfer(
    gateway: Arc<Gateway>,
    transfer: ValidTransfer,
) -> Result<(String, bool), Status> {
    let guard = gateway.transfers.lock_id(&transfer.request_id).await;
    // lookup and send outlive a caller that hangs up; the id stays locked until recorded
    let task = tokio::spawn(
        async move {
            let result = transfer_locked(&gateway, &transfer).await;
            drop(guard);
            result
        }
        .instrument(tracing::Span::current()),
    );
    task.await
        .map_err(|e| Status::internal(format!("transfer task failed: {e}")))?
}

async fn transfer_locked(
    gateway: &Gateway,
    transfer: &ValidTransfer,
) -> Result<(String, bool), Status> {
    let log = &gateway.transfers;
    match log.check(&transfer.request_id, &transfer.fingerprint()) {
        Seen::Done(transaction_id) => return Ok((transaction_id, true)),
        Seen::Conflict => {
            return Err(Status::already_exists(format!(
                "request_id {:?} was already used for a different transfer",
                transfer.request_id
            )));
        }
        Seen::Unresolved { sent_at_ms } => match lookup(gateway, transfer, sent_at_ms).await {
            Ok(Some(transaction_id)) => return Ok((transaction_id, true)),
            Ok(None) => {
                let now = gateway.rest.server_now_ms(Host::Spot);
                if after_not_found(sent_at_ms, now, log.recv_window_ms)
                    == AfterNotFound::StillUnknown
                {
                    return Err(still_unknown(transfer, "not in the venue's history yet"));
                }
                tracing::warn!(
                    request_id = %transfer.request_id,
                    "lost transfer is not in the venue's history after its recvWindow: sending it again"
                );
            }
            Err(err) => return Err(still_unknown(transfer, &err.to_string())),
        },
        Seen::New => {}
    }
    send(gateway, transfer).await.map(|id| (id, false))
}

async fn send(gateway: &Gateway, transfer: &ValidTransfer) -> Result<String, Status> {
    let log = &gateway.transfers;
    let sent_at_ms = gateway.rest.server_now_ms(Host::Spot);
    let result = gateway
        .rest
        .universal_transfer(transfer.kind, &transfer.asset, transfer.amount)
        .await;
    match result {
        Ok(tran) => {
            let transaction_id = tran.tran_id.to_string();
            log.record(
                transfer,
                State::Done {
                    transaction_id: transaction_id.clone(),
                },
            );
            // the next GetAccount re-reads the venue and shows the moved funds
            gateway.account.invalidate().await;
            Ok(transaction_id)
        }
        Err(err) if err.outcome() == Outcome::Unknown => {
            tracing::warn!(error = %err, "transfer outcome unknown: looking it up");
            log.record(transfer, State::Unresolved { sent_at_ms });
            gateway.account.invalidate().await;
            for delay in RESOLVE_ATTEMPTS {
                tokio::time::sleep(delay).await;
                if let Ok(Some(transaction_id)) = lookup(gateway, transfer, sent_at_ms).await {
                    return Ok(transaction_id);
                }
            }
            Err(still_unknown(transfer, &err.to_string()))
        }
        Err(err) => {
            // nothing happened at the venue: the id stays free for a later attempt
            log.forget(&transfer.request_id);
            // e.g. too little free balance in the source wallet, or a key without the
            // universal-transfer permission: FAILED_PRECONDITION with Binance's code and message
            Err(exchange_status(&err))
        }
    }
}

/// Looks an unresolved transfer up in the venue's history; records it when found.
async fn lookup(
    gateway: &Gateway,
    transfer: &ValidTransfer,
    sent_at_ms: i64,
) -> Result<Option<String>, BinanceError> {
    let page = gateway
        .rest
        .universal_transfer_history(
            transfer.kind,
            Some(sent_at_ms - HISTORY_SKEW_MS),
            None,
            Some(MAX_TRANSFER_PAGE),
        )
        .await?;
    let log = &gateway.transfers;
    let Some(found) = find_sent(&page.rows, transfer, sent_at_ms, |t| {
        log.knows_transaction(t)
    }) else {
        return Ok(None);
    };
    let transaction_id = found.tran_id.to_string();
    tracing::info!(%transaction_id, status = %found.status, "lost transfer found in the venue's history");
    log.record(
        transfer,
        State::Done {
            transaction_id: transaction_id.clone(),
        },
    );
    gateway.account.invalidate().await;
    Ok(Some(transaction_id))
}

fn still_unknown(transfer: &ValidTransfer, detail: &str) -> Status {
    Status::unavailable(format!(
        "transfer outcome unknown ({detail}); request_id {:?} is not sent again while the first \
         attempt may still land: retry with the same request_id to look it up",
        transfer.request_id
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn request() -> pb::TransferRequest {
        pb::TransferRequest {
            asset: "USDT".into(),
            amount: "100.50".into(),
            from: common::Wallet::Spot as i32,
            to: common::Wallet::UsdmFutures as i32,
            request_id: "move-1".into(),
            intent_id: "intent-1".into(),
        }
    }

    fn field_of(status: &Status) -> &str {
        let message = status.message();
        let start = message.find('`').unwrap() + 1;
        let end = start + message[start..].find('`').unwrap();
        &message[start..end]
    }

    #[test]
    fn valid_requests_map_wallets_to_the_transfer_type() {
        let valid = validate(&request()).unwrap();
        assert_eq!(valid.kind, TransferType::MainUmfuture);
        assert_eq!(valid.amount, dec!(100.50));
        assert_eq!(valid.fingerprint(), "MAIN_UMFUTURE|USDT|100.5");
        let mut back = request();
        (back.from, back.to) = (
            common::Wallet::CrossMargin as i32,
            common::Wallet::UsdmFutures as i32,
        );
        assert_eq!(validate(&back).unwrap().kind, TransferType::MarginUmfuture);
    }

    #[test]
    fn every_bad_field_is_named() {
        type Spoil = fn(&mut pb::TransferRequest);
        let cases: [(&str, Spoil); 12] = [
            ("asset", |r| r.asset.clear()),
            ("asset", |r| r.asset = "usdt".into()),
            ("amount", |r| r.amount.clear()),
            ("amount", |r| r.amount = "0".into()),
            ("amount", |r| r.amount = "-1".into()),
            ("amount", |r| r.amount = "1e3".into()),
            ("from", |r| r.from = 0),
            ("to", |r| r.to = 0),
            ("to", |r| r.to = 99),
            ("to", |r| r.to = r.from),
            ("request_id", |r| r.request_id = "x".repeat(65)),
            ("intent_id", |r| r.intent_id = "x".repeat(129)),
        ];
        for (field, spoil) in cases {
            let mut r = request();
            spoil(&mut r);
            let status = validate(&r).unwrap_err();
            assert_eq!(status.code(), tonic::Code::InvalidArgument);
            assert_eq!(field_of(&status), field, "{}", status.message());
        }
        let mut empty_id = request();
        empty_id.request_id.clear();
        assert_eq!(field_of(&validate(&empty_id).unwrap_err()), "request_id");
    }

    #[test]
    fn the_log_answers_repeats_and_catches_conflicts() {
        let log = Transfers::new(5_000);
        let t = validate(&request()).unwrap();
        assert_eq!(log.check("move-1", &t.fingerprint()), Seen::New);
        log.record(&t, State::Unresolved { sent_at_ms: 10 });
        assert_eq!(
            log.check("move-1", &t.fingerprint()),
            Seen::Unresolved { sent_at_ms: 10 }
        );
        log.record(
            &t,
            State::Done {
                transaction_id: "77".into(),
            },
        );
        assert_eq!(
            log.check("move-1", &t.fingerprint()),
            Seen::Done("77".into())
        );
        assert_eq!(log.check("move-1", "MAIN_UMFUTURE|USDT|1"), Seen::Conflict);
        assert!(log.knows_transaction("77") && !log.knows_transaction("78"));
        log.forget("move-1");
        assert_eq!(log.check("move-1", &t.fingerprint()), Seen::New);
    }

    #[test]
    fn a_lost_transfer_is_resent_only_after_its_window_and_the_history_lag() {
        assert_eq!(
            after_not_found(1_000, 1_000, 5_000),
            AfterNotFound::StillUnknown
        );
        assert_eq!(
            after_not_found(1_000, 1_000 + 5_000 + HISTORY_LAG_MS, 5_000),
            AfterNotFound::StillUnknown
        );
        assert_eq!(
            after_not_found(1_000, 1_001 + 5_000 + HISTORY_LAG_MS, 5_000),
            AfterNotFound::Send
        );
    }

    #[test]
    fn history_rows_match_on_type_asset_amount_time_and_unknown_ids() {
        let t = validate(&request()).unwrap();
        let row = |tran_id: i64, kind: &str, amount: Decimal, status: &str, timestamp: i64| {
            TransferRecord {
                asset: "USDT".into(),
                amount,
                kind: kind.into(),
                status: status.into(),
                tran_id,
                timestamp,
            }
        };
        let sent = 1_000_000;
        let rows = [
            row(1, "MAIN_MARGIN", dec!(100.5), "CONFIRMED", sent),
            row(2, "MAIN_UMFUTURE", dec!(100), "CONFIRMED", sent),
            row(3, "MAIN_UMFUTURE", dec!(100.5), "FAILED", sent),
            row(
                4,
                "MAIN_UMFUTURE",
                dec!(100.5),
                "CONFIRMED",
                sent - HISTORY_SKEW_MS - 1,
            ),
            row(5, "MAIN_UMFUTURE", dec!(100.5), "CONFIRMED", sent + 10),
            row(6, "MAIN_UMFUTURE", dec!(100.50), "PENDING", sent + 20),
        ];
        assert_eq!(find_sent(&rows, &t, sent, |_| false).unwrap().tran_id, 5);
        let known = |id: &str| id == "5";
        assert_eq!(find_sent(&rows, &t, sent, known).unwrap().tran_id, 6);
        assert!(find_sent(&rows[..4], &t, sent, |_| false).is_none());
    }
}
