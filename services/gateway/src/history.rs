//! ListFundingRates / ListIncome / ListInterest: venue history, newest first, paged by a time
//! cursor (the page token is an exclusive upper bound; the next page holds older records).

use fff_binance::RestClient;
use fff_binance::models::futures::{FundingRateRecord, IncomeRecord};
use fff_binance::models::margin::InterestHistoryRecord;
use fff_proto::FieldError;
use fff_proto::convert::optional_timestamp;
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::gateway::v1 as pb;
use tonic::Status;

use crate::convert::{dec, opt_dec, ts};
use crate::error::exchange_status;

/// The venue returns at most this many rows per call.
const VENUE_MAX: u32 = 1000;
/// interestHistory pages hold at most this many rows.
const INTEREST_VENUE_MAX: usize = 100;

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

/// The venue's income types that have a kind of their own (one table both ways, so a filter on
/// one kind asks the venue for exactly the records that map back to it).
const INCOME_TYPES: [(&str, pb::IncomeKind); 5] = [
    ("FUNDING_FEE", pb::IncomeKind::FundingFee),
    ("COMMISSION", pb::IncomeKind::Commission),
    ("REALIZED_PNL", pb::IncomeKind::RealizedPnl),
    ("TRANSFER", pb::IncomeKind::Transfer),
    ("INSURANCE_CLEAR", pb::IncomeKind::InsuranceClear),
];

fn income_kind(raw: &str) -> pb::IncomeKind {
    INCOME_TYPES
        .iter()
        .find(|(name, _)| *name == raw)
        .map_or(pb::IncomeKind::Other, |(_, kind)| *kind)
}

/// The venue's `incomeType` for a filter on exactly one kind; `None` reads every type.
fn income_type(kinds: &[pb::IncomeKind]) -> Option<&'static str> {
    match kinds {
        [one] => INCOME_TYPES
            .iter()
            .find(|(_, kind)| kind == one)
            .map(|(name, _)| *name),
        _ => None,
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
    let single = income_type(kinds);
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

/// ListInterest: one venue page (newest first) of the window below the cursor. When the
/// window holds more, the page ends before the charges sharing its oldest time (the venue charges
/// every asset at the same hour), and the token makes the next page start with them.
pub async fn interest(
    rest: &RestClient,
    asset: Option<&str>,
    page: &Page,
) -> Result<pb::ListInterestResponse, Status> {
    let size = page.size.min(INTEREST_VENUE_MAX);
    let venue = rest
        .margin_interest_history(
            asset,
            page.start_ms,
            page.before_ms.map(|b| b - 1),
            1,
            u32::try_from(size).unwrap_or(100),
        )
        .await
        .map_err(|e| exchange_status(&e))?;
    let more = usize::try_from(venue.total).unwrap_or(usize::MAX) > venue.rows.len();
    let (rows, next_page_token) = interest_page(venue.rows, more, page);
    Ok(pb::ListInterestResponse {
        records: rows
            .into_iter()
            .map(|r| pb::InterestRecord {
                tx_id: r.tx_id.to_string(),
                asset: r.asset,
                interest: dec(r.interest),
                principal: dec(r.principal),
                interest_rate: dec(r.interest_rate),
                kind: r.kind,
                time: Some(ts(r.interest_accured_time)),
            })
            .collect(),
        next_page_token,
    })
}

/// Rows below the cursor, newest first, and the next token: the cut falls between two times, so
/// a page never splits the charges of one instant (unless they alone fill it).
fn interest_page(
    mut rows: Vec<InterestHistoryRecord>,
    more: bool,
    page: &Page,
) -> (Vec<InterestHistoryRecord>, String) {
    rows.retain(|r| page.before_ms.is_none_or(|b| r.interest_accured_time < b));
    rows.sort_by_key(|r| std::cmp::Reverse((r.interest_accured_time, r.tx_id)));
    if !more || rows.is_empty() {
        return (rows, String::new());
    }
    let oldest = rows.last().map_or(0, |r| r.interest_accured_time);
    let kept = rows
        .iter()
        .take_while(|r| r.interest_accured_time > oldest)
        .count();
    if kept == 0 {
        // one instant fills the page: go past it (the rest of that instant is not listed)
        return (rows, oldest.to_string());
    }
    rows.truncate(kept);
    // exclusive bound: the next page starts with the instant cut off
    (rows, (oldest + 1).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_kind_filter_asks_the_venue_for_the_type_that_maps_back_to_it() {
        assert_eq!(
            income_type(&[pb::IncomeKind::InsuranceClear]),
            Some("INSURANCE_CLEAR")
        );
        assert_eq!(
            income_kind("INSURANCE_CLEAR"),
            pb::IncomeKind::InsuranceClear
        );
        for (name, kind) in INCOME_TYPES {
            assert_eq!(income_kind(income_type(&[kind]).unwrap()), kind, "{name}");
        }
        assert_eq!(income_kind("REFERRAL_KICKBACK"), pb::IncomeKind::Other);
        // other kinds, or several, are filtered here from every type
        assert_eq!(income_type(&[pb::IncomeKind::Other]), None);
        assert_eq!(
            income_type(&[pb::IncomeKind::FundingFee, pb::IncomeKind::InsuranceClear]),
            None
        );
    }

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

    fn charge(time: i64, tx_id: i64) -> InterestHistoryRecord {
        InterestHistoryRecord {
            tx_id,
            interest_accured_time: time,
            asset: "SOL".into(),
            raw_asset: None,
            principal: rust_decimal::Decimal::ONE,
            interest: rust_decimal::Decimal::ONE,
            interest_rate: rust_decimal::Decimal::ONE,
            kind: "PERIODIC".into(),
            isolated_symbol: None,
        }
    }

    #[test]
    fn interest_pages_never_split_one_instant() {
        let all = || vec![charge(30, 5), charge(20, 4), charge(20, 3), charge(10, 2)];
        let first = page(100, "", None).unwrap();
        // the venue said there are more: the page stops before the instant it may have cut
        let (rows, token) = interest_page(all()[..3].to_vec(), true, &first);
        assert_eq!(rows.iter().map(|r| r.tx_id).collect::<Vec<_>>(), vec![5]);
        assert_eq!(token, "21");
        let second = page(100, &token, None).unwrap();
        let (rows, token) = interest_page(all(), false, &second);
        assert_eq!(
            rows.iter().map(|r| r.tx_id).collect::<Vec<_>>(),
            vec![4, 3, 2]
        );
        assert_eq!(token, "");
        // a page of one instant moves past it
        let (rows, token) = interest_page(vec![charge(20, 4), charge(20, 3)], true, &first);
        assert_eq!((rows.len(), token.as_str()), (2, "20"));
    }
}
