//! Idempotency for Borrow / Repay: results by caller request id, with a per-id lock so a
//! retry racing the original waits for it instead of borrowing twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use fff_binance::models::margin::BorrowRepay;
use fff_proto::FieldError;
use tokio::sync::OwnedMutexGuard;
use tonic::Status;

use crate::convert::now_ms;
use crate::error::exchange_status;
use crate::service::fields::positive;
use crate::state::Gateway;

/// A finished loan operation: what was asked and the venue's transaction id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoanRecord {
    pub fingerprint: String,
    pub transaction_id: String,
}

#[derive(Debug, Default)]
pub struct RequestLog {
    done: Mutex<HashMap<String, LoanRecord>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// What to do with a request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    New,
    Done(LoanRecord),
    Conflict,
}

impl RequestLog {
    pub async fn lock_id(&self, request_id: &str) -> OwnedMutexGuard<()> {
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
        match self
            .done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(request_id)
        {
            None => Seen::New,
            Some(record) if record.fingerprint == fingerprint => Seen::Done(record.clone()),
            Some(_) => Seen::Conflict,
        }
    }

    /// True if a recorded request already accounts for this venue transaction.
    pub fn knows_transaction(&self, transaction_id: &str) -> bool {
        self.done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .any(|r| r.transaction_id == transaction_id)
    }

    pub fn record(&self, request_id: &str, record: LoanRecord) {
        self.done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(request_id.to_owned(), record);
    }
}

/// 1-64 printable ASCII chars without spaces.
pub fn check_request_id(field: &str, id: &str) -> Result<(), FieldError> {
    if id.is_empty() {
        return Err(FieldError::missing(field));
    }
    if id.len() > 64 || !id.chars().all(|c| c.is_ascii_graphic()) {
        return Err(FieldError::invalid(
            field,
            "must be 1-64 printable ascii chars",
        ));
    }
    Ok(())
}

/// An asset code: 1-20 upper-case letters or digits.
pub fn check_asset(field: &str, asset: &str) -> Result<(), FieldError> {
    if asset.is_empty() {
        return Err(FieldError::missing(field));
    }
    let ok = asset.len() <= 20
        && asset
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(FieldError::invalid(
            field,
            "must be 1-20 upper-case letters or digits",
        ))
    }
}

/// Borrows or repays once per request id; an unknown outcome is settled from the venue's
/// borrow/repay history before answering. Returns the transaction id and whether it was a
/// repeat.
pub async fn borrow_or_repay(
    gateway: &Gateway,
    kind: BorrowRepay,
    asset: &str,
    amount: &str,
    request_id: &str,
) -> Result<(String, bool), Status> {
    check_asset("asset", asset)?;
    let amount = positive("amount", amount)?;
    check_request_id("request_id", request_id)?;
    let _guard = gateway.loans.lock_id(request_id).await;
    let fingerprint = format!("{}|{asset}|{}", kind.as_str(), amount.normalize());
    match gateway.loans.check(request_id, &fingerprint) {
        Seen::Done(record) => return Ok((record.transaction_id, true)),
        Seen::Conflict => {
            return Err(Status::already_exists(format!(
                "request_id {request_id:?} was already used for a different request"
            )));
        }
        Seen::New => {}
    }
    let sent_at = now_ms();
    let transaction_id = match gateway.rest.margin_borrow_repay(asset, amount, kind).await {
        Ok(tran) => tran.tran_id.to_string(),
        Err(err) if err.outcome() == fff_binance::Outcome::Unknown => {
            let history = gateway
                .rest
                .margin_borrow_repay_history(kind, Some(asset), Some(sent_at - 60_000))
                .await
                .map_err(|e| exchange_status(&e))?;
            let found = history.rows.iter().find(|r| {
                r.amount == amount
                    && r.timestamp >= sent_at - 60_000
                    && !gateway.loans.knows_transaction(&r.tx_id.to_string())
            });
            match found {
                Some(row) => row.tx_id.to_string(),
                None => return Err(exchange_status(&err)),
            }
        }
        Err(err) => return Err(exchange_status(&err)),
    };
    gateway.loans.record(
        request_id,
        LoanRecord {
            fingerprint,
            transaction_id: transaction_id.clone(),
        },
    );
    Ok((transaction_id, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_ids_return_the_first_result_and_conflicts_are_caught() {
        let log = RequestLog::default();
        assert_eq!(log.check("r1", "BORROW|BTC|1"), Seen::New);
        let record = LoanRecord {
            fingerprint: "BORROW|BTC|1".into(),
            transaction_id: "77".into(),
        };
        log.record("r1", record.clone());
        assert_eq!(log.check("r1", "BORROW|BTC|1"), Seen::Done(record));
        assert_eq!(log.check("r1", "BORROW|BTC|2"), Seen::Conflict);
        assert!(log.knows_transaction("77") && !log.knows_transaction("78"));
    }

    #[test]
    fn ids_and_assets_are_checked() {
        assert!(check_request_id("request_id", "").is_err());
        assert!(check_request_id("request_id", "a b").is_err());
        assert!(check_request_id("request_id", &"x".repeat(65)).is_err());
        assert!(check_asset("asset", "btc").is_err());
        assert!(check_asset("asset", "1000SHIB").is_ok());
    }
}
