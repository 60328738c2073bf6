//! ListFundingRates / ListIncome: venue history, newest first, paged by a time cursor (the
//! page token is the time of the last record returned; the next page holds older ones).

use fff_binance::RestClient;
use fff_binance::models::futures::{FundingRateRecord, IncomeRecord};
use fff_proto::FieldError;
use fff_proto::convert::optional_timestamp;
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::gateway::v1 as pb;
use tonic::Status;

use crate::convert::{dec, opt_dec, ts};
use crate::error::exchange_status;

/// The venue returns at most this many rows per call.
const VENUE_MAX: u32 = 1000;

pub struct Page {
    pub size: usize,
    /// Exclusive upper bound of the page (ms).
    pub before_ms: Option<i64>,
    pub start_ms: Option<i64>,
}

/// Page size (default 100, capped at 1000), token and time range of a history request.
pub fn page(
    page_size: u32,
    page_token: &str,
    range: Option<&common::TimeRange>,
) -> Result<Page, Status> {
    let size = match page_size {
        0 => 100,
        n => n.min(VENUE_MAX),
    } as usize;
    let token =
        if page_token.is_empty() {
            None
        } else {
            Some(page_token.parse::<i64>().map_err(|_| {
                FieldError::invalid("page_token", "not a token from a previous page")
            })?)
        };
    let (start, end) = match range {
        Some(range) => (
            optional_timestamp("range.start", range.start.as_ref())?.map(|t| t.timestamp_millis()),
            optional_timestamp("range.end", range.end.as_ref())?.map(|t| t.timestamp_millis()),
        ),
        None => (None, None),
    };
    let before_ms = match (token, end) {
        (Some(t), Some(e)) => Some(t.min(e)),
        (t, e) => t.or(e),
    };
    Ok(Page {
        size,
        before_ms,
        start_ms: start,
    })
}

/// Keeps records strictly before the cursor, newest first, one page; the token for the next.
fn paginate<T>(mut rows: Vec<T>, time: impl Fn(&T) -> i64, page: &Page) -> (Vec<T>, String) {
    rows.retain(|r| page.before_ms.is_none_or(|b| time(r) < b));
    rows.sort_by_key(|r| std::cmp::Reverse(time(r)));
    let more = rows.len() > page.size;
    rows.truncate(page.size);
    let token = match (more, rows.last()) {
        (true, Some(last)) => time(last).to_string(),
        _ => String::new(),
    };
    (rows, token)
}

pub async fn funding_rates(
    rest: &RestClient,
    symbol: &str,
    page: &Page,
) -> Result<pb::ListFundingRatesResponse, Status> {
    let rows: Vec<FundingRateRecord> = rest
        .funding_rate_history(
            Some(symbol),
            page.start_ms,
            page.before_ms.map(|b| b - 1),
            Some(VENUE_MAX),
        )
        .await
        .map_err(|e| exchange_status(&e))?;
    let (rows, next_page_token) = paginate(rows, |r| r.funding_time, page);
    Ok(pb::ListFundingRatesResponse {
        records: rows
            .into_iter()
            .map(|r| pb::FundingRateRecord {
                symbol: r.symbol,
                funding_time: Some(ts(r.funding_time)),
                funding_rate: dec(r.funding_rate),
                mark_price: opt_dec(r.mark_price),
            })
            .collect(),
        next_page_token,
    })
}

fn income_kind(raw: &str) -> pb::IncomeKind {
    match raw {
        "FUNDING_FEE" => pb::IncomeKind::FundingFee,
        "COMMISSION" => pb::IncomeKind::Commission,
        "REALIZED_PNL" => pb::IncomeKind::RealizedPnl,
        "TRANSFER" => pb::IncomeKind::Transfer,
        _ => pb::IncomeKind::Other,
    }
}

/// USDⓈ-M income only: the connector has no cross-margin interest history endpoint, so
/// BORROW_INTEREST records are never returned.
pub async fn income(
    rest: &RestClient,
    symbol: Option<&str>,
    kinds: &[pb::IncomeKind],
    page: &Page,
) -> Result<pb::ListIncomeResponse, Status> {
    let single = match kinds {
        [pb::IncomeKind::FundingFee] => Some("FUNDING_FEE"),
        [pb::IncomeKind::Commission] => Some("COMMISSION"),
        [pb::IncomeKind::RealizedPnl] => Some("REALIZED_PNL"),
        [pb::IncomeKind::Transfer] => Some("TRANSFER"),
        _ => None,
    };
    let rows: Vec<IncomeRecord> = rest
        .income(
            symbol,
            single,
            page.start_ms,
            page.before_ms.map(|b| b - 1),
            Some(VENUE_MAX),
        )
        .await
        .map_err(|e| exchange_status(&e))?;
    let rows: Vec<IncomeRecord> = rows
        .into_iter()
        .filter(|r| kinds.is_empty() || kinds.contains(&income_kind(&r.income_type)))
        .collect();
    let (rows, next_page_token) = paginate(rows, |r| r.time, page);
    Ok(pb::ListIncomeResponse {
        records: rows
            .into_iter()
            .map(|r| pb::IncomeRecord {
                income_id: r.tran_id.to_string(),
                kind: income_kind(&r.income_type) as i32,
                venue: common::Venue::UsdmPerp as i32,
                symbol: r.symbol,
                asset: r.asset,
                amount: dec(r.income),
                time: Some(ts(r.time)),
                info: if r.info.is_empty() {
                    r.income_type
                } else {
                    r.info
                },
            })
            .collect(),
        next_page_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_go_from_newest_to_oldest() {
        let page1 = page(2, "", None).unwrap();
        let (rows, token) = paginate(vec![1, 5, 3, 4, 2], |r| *r, &page1);
        assert_eq!((rows, token.as_str()), (vec![5, 4], "4"));
        let page2 = page(2, &token, None).unwrap();
        let (rows, token) = paginate(vec![1, 5, 3, 4, 2], |r| *r, &page2);
        assert_eq!((rows, token.as_str()), (vec![3, 2], "2"));
        let page3 = page(2, &token, None).unwrap();
        let (rows, token) = paginate(vec![1, 5, 3, 4, 2], |r| *r, &page3);
        assert_eq!((rows, token.as_str()), (vec![1], ""));
        assert!(page(0, "x", None).is_err());
        assert_eq!(page(5000, "", None).unwrap().size, 1000);
    }
}
