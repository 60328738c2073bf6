//! Exchange filters applied locally with `Decimal` before anything is sent, so Binance never sees a
//! price off the tick, a quantity off the step or an order below the minimum notional.
//!
//! Spot checks `price % tickSize == 0` and `quantity % stepSize == 0`; USDⓈ-M futures measure from the
//! minimum (`(price − minPrice) % tickSize == 0`, `(quantity − minQty) % stepSize == 0`). A value of 0
//! disables the corresponding bound.

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::models::Side;

/// Which rule set the filters follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Venue {
    Spot,
    Futures,
}

/// One filter as Binance sends it inside `exchangeInfo.symbols[].filters`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "filterType")]
pub enum RawFilter {
    #[serde(rename = "PRICE_FILTER", rename_all = "camelCase")]
    Price {
        min_price: Decimal,
        max_price: Decimal,
        tick_size: Decimal,
    },
    #[serde(rename = "LOT_SIZE", rename_all = "camelCase")]
    LotSize {
        min_qty: Decimal,
        max_qty: Decimal,
        step_size: Decimal,
    },
    #[serde(rename = "MARKET_LOT_SIZE", rename_all = "camelCase")]
    MarketLotSize {
        min_qty: Decimal,
        max_qty: Decimal,
        step_size: Decimal,
    },
    /// Spot: `minNotional` + `applyToMarket`; futures: `notional`.
    #[serde(rename = "MIN_NOTIONAL", rename_all = "camelCase")]
    MinNotional {
        #[serde(default)]
        min_notional: Option<Decimal>,
        #[serde(default)]
        notional: Option<Decimal>,
        #[serde(default)]
        apply_to_market: Option<bool>,
    },
    #[serde(rename = "NOTIONAL", rename_all = "camelCase")]
    Notional {
        min_notional: Decimal,
        #[serde(default)]
        apply_min_to_market: bool,
        #[serde(default)]
        max_notional: Option<Decimal>,
        #[serde(default)]
        apply_max_to_market: bool,
    },
    /// Every other filter type (PERCENT_PRICE, MAX_NUM_ORDERS, …): not enforced locally.
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceRule {
    pub min: Decimal,
    pub max: Decimal,
    pub tick: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LotRule {
    pub min: Decimal,
    pub max: Decimal,
    pub step: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotionalRule {
    pub min: Decimal,
    pub max: Option<Decimal>,
    pub min_applies_to_market: bool,
    pub max_applies_to_market: bool,
}

/// The filters of one symbol that the connector enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolFilters {
    pub venue: Venue,
    pub price: Option<PriceRule>,
    pub lot: Option<LotRule>,
    pub market_lot: Option<LotRule>,
    pub notional: Option<NotionalRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("price {price} must be positive")]
    NonPositivePrice { price: Decimal },
    #[error("price {price} below min price {min}")]
    PriceBelowMin { price: Decimal, min: Decimal },
    #[error("price {price} above max price {max}")]
    PriceAboveMax { price: Decimal, max: Decimal },
    #[error("quantity {qty} below min quantity {min}")]
    QtyBelowMin { qty: Decimal, min: Decimal },
    #[error("quantity {qty} above max quantity {max}")]
    QtyAboveMax { qty: Decimal, max: Decimal },
    #[error("notional {notional} below min notional {min}")]
    NotionalBelowMin { notional: Decimal, min: Decimal },
    #[error("notional {notional} above max notional {max}")]
    NotionalAboveMax { notional: Decimal, max: Decimal },
    #[error("market order needs a reference price to check the notional")]
    MissingReferencePrice,
}

/// An order as the caller wants it, before filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderDraft {
    pub side: Side,
    pub qty: Decimal,
    /// `Some` for LIMIT orders, `None` for MARKET.
    pub limit_price: Option<Decimal>,
    /// For MARKET orders: the price used to estimate the notional (mark price on futures, last or
    /// average price on spot). Ignored for LIMIT orders.
    pub reference_price: Option<Decimal>,
    /// Futures reduce-only orders are exempt from the minimum notional.
    pub reduce_only: bool,
}

/// Price and quantity that pass every enforced filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckedOrder {
    pub qty: Decimal,
    pub price: Option<Decimal>,
}

impl SymbolFilters {
    /// Builds the enforced subset from the raw list; later duplicates win, unknown filters are ignored.
    pub fn from_raw(venue: Venue, raw: &[RawFilter]) -> Self {
        let mut filters = SymbolFilters {
            venue,
            price: None,
            lot: None,
            market_lot: None,
            notional: None,
        };
        for filter in raw {
            match filter {
                RawFilter::Price {
                    min_price,
                    max_price,
                    tick_size,
                } => {
                    filters.price = Some(PriceRule {
                        min: *min_price,
                        max: *max_price,
                        tick: *tick_size,
                    })
                }
                RawFilter::LotSize {
                    min_qty,
                    max_qty,
                    step_size,
                } => {
                    filters.lot = Some(LotRule {
                        min: *min_qty,
                        max: *max_qty,
                        step: *step_size,
                    })
                }
                RawFilter::MarketLotSize {
                    min_qty,
                    max_qty,
                    step_size,
                } => {
                    filters.market_lot = Some(LotRule {
                        min: *min_qty,
                        max: *max_qty,
                        step: *step_size,
                    })
                }
                RawFilter::MinNotional {
                    min_notional,
                    notional,
                    apply_to_market,
                } => {
                    if let Some(min) = min_notional.or(*notional) {
                        // Futures MIN_NOTIONAL checks MARKET orders against the mark price.
                        let to_market = apply_to_market.unwrap_or(venue == Venue::Futures);
                        filters.notional = Some(NotionalRule {
                            min,
                            max: None,
                            min_applies_to_market: to_market,
                            max_applies_to_market: false,
                        });
                    }
                }
                RawFilter::Notional {
                    min_notional,
                    apply_min_to_market,
                    max_notional,
                    apply_max_to_market,
                } => {
                    filters.notional = Some(NotionalRule {
                        min: *min_notional,
                        max: *max_notional,
                        min_applies_to_market: *apply_min_to_market,
                        max_applies_to_market: *apply_max_to_market,
                    })
                }
                RawFilter::Other => {}
            }
        }
        filters
    }

    /// Rounds a price onto the tick grid, never in the caller's disfavour: down for a BUY, up for a SELL.
    pub fn round_price(&self, price: Decimal, side: Side) -> Decimal {
        let Some(rule) = self.price else {
            return price;
        };
        let origin = self.origin(rule.min);
        snap(price, origin, rule.tick, side == Side::Sell)
    }

    /// Floors a quantity onto the step grid(s) that apply to the order type.
    pub fn floor_qty(&self, qty: Decimal, is_market: bool) -> Decimal {
        let mut out = qty;
        for rule in self.lot_rules(is_market) {
            out = snap(out, self.origin(rule.min), rule.step, false);
        }
        out
    }

    /// Rounds and checks an order; the result is safe to send as far as these filters go.
    pub fn check(&self, draft: &OrderDraft) -> Result<CheckedOrder, FilterError> {
        let is_market = draft.limit_price.is_none();
        let price = match draft.limit_price {
            Some(raw) => Some(self.checked_price(raw, draft.side)?),
            None => None,
        };
        let qty = self.floor_qty(draft.qty, is_market);
        for rule in self.lot_rules(is_market) {
            if qty < rule.min || qty <= Decimal::ZERO {
                return Err(FilterError::QtyBelowMin { qty, min: rule.min });
            }
            if !rule.max.is_zero() && qty > rule.max {
                return Err(FilterError::QtyAboveMax { qty, max: rule.max });
            }
        }
        if qty <= Decimal::ZERO {
            return Err(FilterError::QtyBelowMin {
                qty,
                min: Decimal::ZERO,
            });
        }
        self.check_notional(qty, price, draft)?;
        Ok(CheckedOrder { qty, price })
    }

    fn checked_price(&self, raw: Decimal, side: Side) -> Result<Decimal, FilterError> {
        if raw <= Decimal::ZERO {
            return Err(FilterError::NonPositivePrice { price: raw });
        }
        let price = self.round_price(raw, side);
        if let Some(rule) = self.price {
            if !rule.min.is_zero() && price < rule.min {
                return Err(FilterError::PriceBelowMin {
                    price,
                    min: rule.min,
                });
            }
            if !rule.max.is_zero() && price > rule.max {
                return Err(FilterError::PriceAboveMax {
                    price,
                    max: rule.max,
                });
            }
        }
        if price <= Decimal::ZERO {
            return Err(FilterError::NonPositivePrice { price });
        }
        Ok(price)
    }

    fn check_notional(
        &self,
        qty: Decimal,
        price: Option<Decimal>,
        draft: &OrderDraft,
    ) -> Result<(), FilterError> {
        let Some(rule) = self.notional else {
            return Ok(());
        };
        let is_market = price.is_none();
        let check_min = !(self.venue == Venue::Futures && draft.reduce_only)
            && (!is_market || rule.min_applies_to_market);
        let check_max = rule.max.is_some() && (!is_market || rule.max_applies_to_market);
        if !check_min && !check_max {
            return Ok(());
        }
        let unit_price = match price.or(draft.reference_price) {
            Some(p) => p,
            None => return Err(FilterError::MissingReferencePrice),
        };
        // beyond Decimal's range means above any limit a venue can state
        let notional = qty.checked_mul(unit_price).unwrap_or(Decimal::MAX);
        if check_min && notional < rule.min {
            return Err(FilterError::NotionalBelowMin {
                notional,
                min: rule.min,
            });
        }
        if let (true, Some(max)) = (check_max, rule.max)
            && !max.is_zero()
            && notional > max
        {
            return Err(FilterError::NotionalAboveMax { notional, max });
        }
        Ok(())
    }

    fn lot_rules(&self, is_market: bool) -> Vec<LotRule> {
        let mut rules: Vec<LotRule> = self.lot.into_iter().collect();
        if is_market && let Some(market) = self.market_lot {
            rules.push(market);
        }
        rules
    }

    fn origin(&self, min: Decimal) -> Decimal {
        match self.venue {
            Venue::Spot => Decimal::ZERO,
            Venue::Futures => min,
        }
    }
}

/// Snaps `value` onto `origin + k·step`, flooring or ceiling; a zero step leaves it unchanged, and
/// so does a grid too fine for `Decimal` to count (overflow), which the min/max checks then judge.
fn snap(value: Decimal, origin: Decimal, step: Decimal, ceil: bool) -> Decimal {
    if step <= Decimal::ZERO {
        return value;
    }
    let snapped = value
        .checked_sub(origin)
        .and_then(|offset| offset.checked_div(step))
        .map(|steps| if ceil { steps.ceil() } else { steps.floor() })
        .and_then(|whole| whole.checked_mul(step))
        .and_then(|offset| origin.checked_add(offset))
        // Decimal rounds past 28 digits, so a far origin can land a floor above the value (or a
        // ceiling below it); such a grid is treated like one too fine to count.
        .filter(|s| if ceil { *s >= value } else { *s <= value });
    snapped.unwrap_or(value).normalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn spot_filters() -> SymbolFilters {
        let raw: Vec<RawFilter> = serde_json::from_str(include_str!(
            "../test_data/spot_filters_all_documented.json"
        ))
        .unwrap();
        SymbolFilters::from_raw(Venue::Spot, &raw)
    }

    #[test]
    fn a_far_negative_min_never_lets_flooring_raise_the_quantity() {
        // proptest's minimal case: offset arithmetic past 28 digits rounded up to the next step
        let raw: Vec<RawFilter> = serde_json::from_str(
            r#"[{"filterType":"LOT_SIZE","minQty":"-7930000000000000000000000000","maxQty":"1","stepSize":"1"}]"#,
        )
        .unwrap();
        let filters = SymbolFilters::from_raw(Venue::Futures, &raw);
        for qty in [dec!(0.1), dec!(0.007), Decimal::new(1, 28), dec!(0.999)] {
            assert!(filters.floor_qty(qty, false) <= qty, "{qty}");
            if let Ok(checked) = filters.check(&OrderDraft {
                side: Side::Sell,
                qty,
                limit_price: None,
                reference_price: Some(dec!(1)),
                reduce_only: true,
            }) {
                assert!(checked.qty <= qty, "{qty} became {}", checked.qty);
            }
        }
        assert!(filters.round_price(dec!(0.1), Side::Buy) <= dec!(0.1));
    }

    #[test]
    fn parses_every_documented_spot_filter() {
        let filters = spot_filters();
        assert_eq!(filters.price.unwrap().tick, dec!(0.000001));
        assert_eq!(filters.lot.unwrap().step, dec!(0.001));
        assert_eq!(filters.market_lot.unwrap().max, dec!(100000));
        // NOTIONAL comes after MIN_NOTIONAL in the fixture and wins.
        let notional = filters.notional.unwrap();
        assert_eq!(notional.min, dec!(10));
        assert_eq!(notional.max, Some(dec!(10000)));
        assert!(!notional.min_applies_to_market);
    }

    #[test]
    fn limit_order_is_rounded_and_checked() {
        let filters = spot_filters();
        let checked = filters
            .check(&OrderDraft {
                side: Side::Buy,
                qty: dec!(12.34567),
                limit_price: Some(dec!(1.23456789)),
                reference_price: None,
                reduce_only: false,
            })
            .unwrap();
        assert_eq!(checked.qty, dec!(12.345));
        assert_eq!(checked.price, Some(dec!(1.234567)));
        let sell = filters.round_price(dec!(1.23456789), Side::Sell);
        assert_eq!(sell, dec!(1.234568));
    }

    #[test]
    fn below_min_notional_is_rejected() {
        let filters = spot_filters();
        let err = filters
            .check(&OrderDraft {
                side: Side::Buy,
                qty: dec!(1),
                limit_price: Some(dec!(9.99)),
                reference_price: None,
                reduce_only: false,
            })
            .unwrap_err();
        assert_eq!(
            err,
            FilterError::NotionalBelowMin {
                notional: dec!(9.99),
                min: dec!(10)
            }
        );
    }

    #[test]
    fn qty_below_step_is_rejected_not_sent_as_zero() {
        let filters = spot_filters();
        let err = filters
            .check(&OrderDraft {
                side: Side::Sell,
                qty: dec!(0.0009),
                limit_price: Some(dec!(20000)),
                reference_price: None,
                reduce_only: false,
            })
            .unwrap_err();
        assert!(matches!(err, FilterError::QtyBelowMin { .. }), "{err:?}");
    }

    #[test]
    fn futures_filters_measure_from_min_and_waive_notional_for_reduce_only() {
        let filters = SymbolFilters::from_raw(
            Venue::Futures,
            &[
                RawFilter::Price {
                    min_price: dec!(0.05),
                    max_price: dec!(0),
                    tick_size: dec!(0.1),
                },
                RawFilter::LotSize {
                    min_qty: dec!(1),
                    max_qty: dec!(1000),
                    step_size: dec!(1),
                },
                RawFilter::MarketLotSize {
                    min_qty: dec!(1),
                    max_qty: dec!(100),
                    step_size: dec!(1),
                },
                RawFilter::MinNotional {
                    min_notional: None,
                    notional: Some(dec!(5)),
                    apply_to_market: None,
                },
            ],
        );
        assert_eq!(filters.round_price(dec!(10.12), Side::Buy), dec!(10.05));
        let market = OrderDraft {
            side: Side::Sell,
            qty: dec!(150),
            limit_price: None,
            reference_price: Some(dec!(0.02)),
            reduce_only: false,
        };
        assert!(matches!(
            filters.check(&market),
            Err(FilterError::QtyAboveMax { .. })
        ));
        let small = OrderDraft {
            qty: dec!(3),
            ..market
        };
        assert!(matches!(
            filters.check(&small),
            Err(FilterError::NotionalBelowMin { .. })
        ));
        let reduce = OrderDraft {
            reduce_only: true,
            ..small
        };
        assert_eq!(filters.check(&reduce).unwrap().qty, dec!(3));
        let no_ref = OrderDraft {
            reference_price: None,
            ..small
        };
        assert_eq!(
            filters.check(&no_ref),
            Err(FilterError::MissingReferencePrice)
        );
    }

    proptest! {
        #[test]
        fn rounded_values_sit_on_the_grid_and_never_exceed_the_input(
            mantissa in 1i64..10_000_000_000i64,
            scale in 0u32..8,
        ) {
            let filters = spot_filters();
            let value = Decimal::new(mantissa, scale);
            let qty = filters.floor_qty(value, false);
            prop_assert!(qty <= value);
            prop_assert!(value - qty < dec!(0.001));
            prop_assert_eq!(qty % dec!(0.001), Decimal::ZERO);
            let buy = filters.round_price(value, Side::Buy);
            let sell = filters.round_price(value, Side::Sell);
            prop_assert!(buy <= value && sell >= value);
            prop_assert_eq!(buy % dec!(0.000001), Decimal::ZERO);
            prop_assert_eq!(sell % dec!(0.000001), Decimal::ZERO);
        }
    }
}
