//! Funding fees with their symbol. A cross-margin `ACCOUNT_UPDATE` (reason FUNDING_FEE) carries
//! only the wallet change, so each one triggers a lookup of the FUNDING_FEE income records
//! around its time; every record is published once, with its symbol and income id (the key
//! ListIncome uses too). If the lookup fails, the symbol-less wallet change is published so no
//! fee goes unreported.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use fff_binance::RestClient;
use fff_binance::models::stream::AccountUpdate;
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::gateway::v1 as pb;
use pb::stream_account_response::Event;

use super::AccountHub;
use crate::convert::{dec, ts};

/// Income records are looked up this far around the settlement (ms).
const WINDOW_MS: i64 = 60_000;
/// Ids remembered for de-duplication before the set is reset (older ones fall out of the window).
const MAX_SEEN: usize = 50_000;
/// Settlements arriving this close together share one lookup: every symbol settles at the same
/// funding time, and each lookup costs 30 request weight (the soak's accelerated settlements
/// spent a third of the futures budget on them, one lookup per event).
const COALESCE: std::time::Duration = std::time::Duration::from_millis(300);

#[derive(Debug)]
pub struct FundingFollowup {
    rest: RestClient,
    hub: Arc<AccountHub>,
    seen: Mutex<HashSet<i64>>,
    /// Settlements waiting for the next lookup.
    pending: Mutex<Vec<AccountUpdate>>,
}

impl FundingFollowup {
    pub fn new(rest: RestClient, hub: Arc<AccountHub>) -> Arc<Self> {
        Arc::new(Self {
            rest,
            hub,
            seen: Mutex::new(HashSet::new()),
            pending: Mutex::new(Vec::new()),
        })
    }

    pub fn on_settlement(self: &Arc<Self>, update: &AccountUpdate) {
        let first = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.push(update.clone());
            pending.len() == 1
        };
        if first {
            let this = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(COALESCE).await;
                let batch =
                    std::mem::take(&mut *this.pending.lock().unwrap_or_else(|p| p.into_inner()));
                this.publish(&batch).await;
            });
        }
    }

    /// One income lookup around all of `updates`' settlement times.
    async fn publish(&self, updates: &[AccountUpdate]) {
        let times = updates.iter().map(|u| u.transaction_time);
        let (Some(first), Some(last)) = (times.clone().min(), times.max()) else {
            return;
        };
        let records = self
            .rest
            .income(
                None,
                Some("FUNDING_FEE"),
                Some(first - WINDOW_MS),
                Some(last + WINDOW_MS),
                Some(1000),
            )
            .await;
        let mut records = match records {
            Ok(records) => records,
            Err(err) => {
                tracing::warn!(error = %err, "funding income lookup failed; fee published without symbol");
                for update in updates {
                    for b in &update.data.balances {
                        self.hub.publish(
                            common::Venue::UsdmPerp,
                            update.event_time,
                            Event::FundingFee(pb::FundingFee {
                                asset: b.asset.clone(),
                                amount: dec(b.balance_change),
                                funding_time: Some(ts(update.transaction_time)),
                                ..Default::default()
                            }),
                        );
                    }
                }
                return;
            }
        };
        records.sort_by_key(|r| (r.time, r.tran_id));
        for record in records {
            let fresh = {
                let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
                if seen.len() > MAX_SEEN {
                    seen.clear();
                }
                seen.insert(record.tran_id)
            };
            if !fresh {
                continue;
            }
            self.hub.publish(
                common::Venue::UsdmPerp,
                record.time,
                Event::FundingFee(pb::FundingFee {
                    symbol: record.symbol.clone(),
                    asset: record.asset.clone(),
                    amount: dec(record.income),
                    funding_rate: String::new(),
                    position_amt: String::new(),
                    funding_time: Some(ts(record.time)),
                    income_id: record.tran_id.to_string(),
                }),
            );
        }
    }
}
