//! PlaceOrder validation: every field checked, errors name the field (INVALID_ARGUMENT).

use fff_binance::models::margin::SideEffect;
use fff_binance::models::{OrderKind, Side, TimeInForce};
use fff_proto::FieldError;
use fff_proto::convert::{
    parse_decimal, parse_enum, parse_optional_decimal, parse_required_enum, parse_symbol,
};
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::gateway::v1 as pb;
use rust_decimal::Decimal;
use tonic::Status;

use crate::convert::tif_from_pb;

/// A PlaceOrder request that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidOrder {
    pub client_order_id: String,
    pub venue: common::Venue,
    pub symbol: String,
    pub side: Side,
    pub order_type: common::OrderType,
    pub kind: OrderKind,
    pub qty: Decimal,
    pub reduce_only: bool,
    /// Set for spot/margin orders only.
    pub side_effect: Option<SideEffect>,
    pub intent_id: String,
    /// The caller's first request for this id ever (`first_send`): no venue lookup first.
    pub first_send: bool,
    /// Sent by the gateway when this order's answer is final with a fill (`hedge_on_fill`).
    pub hedge_on_fill: Option<Box<HedgeOnFill>>,
    /// This order is the hedge of a fill, sent by the gateway (`hedge_on_fill`).
    pub hedges_fill: bool,
}

impl ValidOrder {
    /// Orders that close exposure (the hedge of a fill, a reduce-only perp: cuts, exits,
    /// unwinds) never wait in the order queue behind orders that open it.
    pub fn closes_exposure(&self) -> bool {
        self.hedges_fill || self.reduce_only
    }
}

/// A validated `hedge_on_fill`: the hedge at its largest size and its quantity grid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HedgeOnFill {
    pub order: ValidOrder,
    pub step: Decimal,
}

impl HedgeOnFill {
    /// The hedge for `filled` of the order it hedges: the fill floored to the step, at most
    /// the hedge's own quantity; `None` below one step. The caller sizes its own hedge with
    /// the same rule, so its PlaceOrder for the id matches this one's fingerprint.
    pub fn sized_for(&self, filled: Decimal) -> Option<ValidOrder> {
        // the executor's own rule (fff-core), so both arrive at the same quantity
        let qty = fff_core::filters::floor_to_step(filled, self.step).min(self.order.qty);
        (qty > Decimal::ZERO).then(|| ValidOrder {
            qty,
            hedges_fill: true,
            ..self.order.clone()
        })
    }
}

/// What makes two PlaceOrder requests "the same order" for idempotency.
pub type Fingerprint = String;

impl ValidOrder {
    pub fn fingerprint(&self) -> Fingerprint {
        format!(
            "{:?}|{}|{:?}|{:?}|{:?}|{}|{}|{:?}",
            self.venue,
            self.symbol,
            self.side,
            self.order_type,
            self.kind,
            self.qty.normalize(),
            self.reduce_only,
            self.side_effect
        )
    }

    /// The order as the gateway knows it before the venue answered.
    pub fn pending_order(&self, now: prost_types::Timestamp) -> pb::Order {
        let (price, tif) = match self.kind {
            OrderKind::Limit { price, tif } => (crate::convert::dec(price), Some(tif)),
            OrderKind::Market => (String::new(), None),
        };
        let tif = match (self.order_type, tif) {
            (common::OrderType::Limit, Some(tif)) => tif_pb(tif),
            _ => common::TimeInForce::Unspecified,
        };
        pb::Order {
            venue: self.venue as i32,
            symbol: self.symbol.clone(),
            client_order_id: self.client_order_id.clone(),
            exchange_order_id: 0,
            side: crate::convert::side_to_pb(self.side) as i32,
            r#type: self.order_type as i32,
            time_in_force: tif as i32,
            status: common::OrderStatus::Pending as i32,
            price,
            quantity: crate::convert::dec(self.qty),
            executed_qty: "0".to_owned(),
            cumulative_quote_qty: String::new(),
            avg_price: String::new(),
            reduce_only: self.reduce_only,
            margin_side_effect: self
                .side_effect
                .map_or(common::MarginSideEffect::Unspecified, side_effect_pb)
                as i32,
            reject_reason: String::new(),
            intent_id: self.intent_id.clone(),
            created_at: Some(now),
            updated_at: Some(now),
        }
    }
}

fn tif_pb(tif: TimeInForce) -> common::TimeInForce {
    match tif {
        TimeInForce::Gtc => common::TimeInForce::Gtc,
        TimeInForce::Ioc => common::TimeInForce::Ioc,
        TimeInForce::Fok => common::TimeInForce::Fok,
        TimeInForce::Gtx => common::TimeInForce::Gtx,
    }
}

fn side_effect_pb(effect: SideEffect) -> common::MarginSideEffect {
    match effect {
        SideEffect::NoSideEffect => common::MarginSideEffect::NoSideEffect,
        SideEffect::MarginBuy => common::MarginSideEffect::MarginBuy,
        SideEffect::AutoRepay => common::MarginSideEffect::AutoRepay,
        SideEffect::AutoBorrowRepay => common::MarginSideEffect::AutoBorrowRepay,
    }
}

/// 1-36 chars of `[A-Za-z0-9._:-]`, the subset both Binance venues accept.
pub fn check_client_order_id(field: &str, id: &str) -> Result<(), FieldError> {
    if id.is_empty() {
        return Err(FieldError::missing(field));
    }
    let ok = id.len() <= 36
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
    if ok {
        Ok(())
    } else {
        Err(FieldError::invalid(
            field,
            "must be 1-36 chars of [A-Za-z0-9._:-]",
        ))
    }
}

/// Validates `request`. LIMIT_MAKER is post-only: sent as LIMIT_MAKER on spot/margin and as
/// LIMIT + GTX on USDⓈ-M (both are `OrderKind::Limit` with `TimeInForce::Gtx` for the connector).
pub fn validate(request: &pb::PlaceOrderRequest) -> Result<ValidOrder, Status> {
    check_client_order_id("client_order_id", &request.client_order_id)?;
    let venue: common::Venue = parse_required_enum("venue", request.venue)?;
    let symbol = parse_symbol("symbol", &request.symbol)?.as_str().to_owned();
    let side = match parse_required_enum::<common::Side>("side", request.side)? {
        common::Side::Sell => Side::Sell,
        _ => Side::Buy,
    };
    let order_type: common::OrderType = parse_required_enum("type", request.r#type)?;
    let tif: common::TimeInForce = parse_enum("time_in_force", request.time_in_force)?;
    let qty = parse_decimal("quantity", &request.quantity)?;
    if qty <= Decimal::ZERO {
        return Err(FieldError::invalid("quantity", "must be greater than 0").into());
    }
    let price = parse_optional_decimal("price", &request.price)?;
    let perp = venue == common::Venue::UsdmPerp;
    let kind = match order_type {
        common::OrderType::Market => {
            if price.is_some() {
                return Err(FieldError::invalid("price", "must be empty for MARKET orders").into());
            }
            if tif != common::TimeInForce::Unspecified {
                return Err(FieldError::invalid(
                    "time_in_force",
                    "must be unset for MARKET orders",
                )
                .into());
            }
            OrderKind::Market
        }
        common::OrderType::Limit => {
            let tif = match (tif_from_pb(tif), perp) {
                (None, _) => return Err(FieldError::missing("time_in_force").into()),
                (Some(TimeInForce::Gtx), false) => {
                    return Err(
                        FieldError::invalid("time_in_force", "GTX exists on USDⓈ-M only").into(),
                    );
                }
                (Some(tif), _) => tif,
            };
            OrderKind::Limit {
                price: positive_price(price)?,
                tif,
            }
        }
        common::OrderType::LimitMaker => {
            if tif != common::TimeInForce::Unspecified {
                return Err(FieldError::invalid(
                    "time_in_force",
                    "must be unset for LIMIT_MAKER orders",
                )
                .into());
            }
            OrderKind::Limit {
                price: positive_price(price)?,
                tif: TimeInForce::Gtx,
            }
        }
        common::OrderType::Unspecified => return Err(FieldError::missing("type").into()),
    };
    let side_effect = match (perp, request.margin_side_effect) {
        (true, 0) => None,
        (true, _) => {
            return Err(
                FieldError::invalid("margin_side_effect", "must be unset for perp orders").into(),
            );
        }
        (false, raw) => Some(match parse_required_enum("margin_side_effect", raw)? {
            common::MarginSideEffect::MarginBuy => SideEffect::MarginBuy,
            common::MarginSideEffect::AutoRepay => SideEffect::AutoRepay,
            common::MarginSideEffect::AutoBorrowRepay => SideEffect::AutoBorrowRepay,
            _ => SideEffect::NoSideEffect,
        }),
    };
    if request.reduce_only && !perp {
        return Err(FieldError::invalid("reduce_only", "must be false on spot").into());
    }
    if request.intent_id.len() > 128 {
        return Err(FieldError::invalid("intent_id", "at most 128 bytes").into());
    }
    Ok(ValidOrder {
        client_order_id: request.client_order_id.clone(),
        venue,
        symbol,
        side,
        order_type,
        kind,
        qty,
        reduce_only: request.reduce_only,
        side_effect,
        intent_id: request.intent_id.clone(),
        first_send: request.first_send,
        hedge_on_fill: request
            .hedge_on_fill
            .as_ref()
            .map(|h| validate_hedge(h).map(Box::new))
            .transpose()?,
        hedges_fill: false,
    })
}

fn validate_hedge(hedge: &pb::HedgeOnFill) -> Result<HedgeOnFill, Status> {
    let order = hedge
        .order
        .as_ref()
        .ok_or_else(|| FieldError::missing("hedge_on_fill.order"))?;
    if order.hedge_on_fill.is_some() {
        return Err(FieldError::invalid(
            "hedge_on_fill.order.hedge_on_fill",
            "a hedge cannot carry a hedge of its own",
        )
        .into());
    }
    let order = validate(order).map_err(|status| {
        Status::invalid_argument(format!("hedge_on_fill.order: {}", status.message()))
    })?;
    let step = parse_decimal("hedge_on_fill.step", &hedge.step)?;
    if step <= Decimal::ZERO {
        return Err(FieldError::invalid("hedge_on_fill.step", "must be greater than 0").into());
    }
    Ok(HedgeOnFill { order, step })
}

fn positive_price(price: Option<Decimal>) -> Result<Decimal, Status> {
    match price {
        None => Err(FieldError::missing("price").into()),
        Some(p) if p <= Decimal::ZERO => {
            Err(FieldError::invalid("price", "must be greater than 0").into())
        }
        Some(p) => Ok(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hedge_on_fill_is_the_fill_floored_to_its_step_and_at_most_its_bound() {
        let mut hedge_wire = limit_perp();
        hedge_wire.client_order_id = "fff-1-hedge".into();
        hedge_wire.quantity = "0.015".into();
        let hedge = HedgeOnFill {
            order: validate(&hedge_wire).unwrap(),
            step: Decimal::new(1, 3),
        };
        let sized = |filled: &str| hedge.sized_for(filled.parse().unwrap()).map(|o| o.qty);
        assert_eq!(sized("0.0107"), Some(Decimal::new(10, 3)));
        assert_eq!(
            sized("0.020"),
            Some(Decimal::new(15, 3)),
            "never above the bound"
        );
        assert_eq!(sized("0.0009"), None, "below one step nothing is sent");
        // the caller's hedge of the same size has the same fingerprint: answered from the book
        let mut caller = hedge_wire.clone();
        caller.quantity = "0.0100".into();
        assert_eq!(
            validate(&caller).unwrap().fingerprint(),
            hedge.sized_for(Decimal::new(107, 4)).unwrap().fingerprint()
        );
        // a request with or without the hedge attached is the same order
        let mut with = limit_perp();
        with.hedge_on_fill = Some(Box::new(pb::HedgeOnFill {
            order: Some(Box::new(hedge_wire)),
            step: "0.001".into(),
        }));
        assert_eq!(
            validate(&with).unwrap().fingerprint(),
            validate(&limit_perp()).unwrap().fingerprint()
        );
        with.hedge_on_fill.as_mut().unwrap().step = "-1".into();
        assert!(field_of(validate(&with).unwrap_err()).contains("hedge_on_fill.step"));
        let nested = with.clone();
        with.hedge_on_fill.as_mut().unwrap().step = "0.001".into();
        with.hedge_on_fill
            .as_mut()
            .unwrap()
            .order
            .as_mut()
            .unwrap()
            .hedge_on_fill = nested.hedge_on_fill;
        assert!(
            validate(&with)
                .unwrap_err()
                .message()
                .contains("hedge_on_fill.order.hedge_on_fill")
        );
    }

    pub(crate) fn limit_perp() -> pb::PlaceOrderRequest {
        pb::PlaceOrderRequest {
            client_order_id: "fff-1".into(),
            venue: common::Venue::UsdmPerp as i32,
            symbol: "BTCUSDT".into(),
            side: common::Side::Sell as i32,
            r#type: common::OrderType::Limit as i32,
            time_in_force: common::TimeInForce::Gtc as i32,
            quantity: "0.010".into(),
            price: "70000.0".into(),
            ..Default::default()
        }
    }

    fn field_of(status: Status) -> String {
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        status.message().to_owned()
    }

    #[test]
    fn a_good_limit_order_passes() {
        let order = validate(&limit_perp()).unwrap();
        assert_eq!(order.side_effect, None);
        assert!(matches!(
            order.kind,
            OrderKind::Limit {
                tif: TimeInForce::Gtc,
                ..
            }
        ));
        // equal quantities written differently are the same order
        let mut other = limit_perp();
        other.quantity = "0.01".into();
        assert_eq!(validate(&other).unwrap().fingerprint(), order.fingerprint());
    }

    #[test]
    fn every_bad_field_is_named() {
        type Breaker = fn(&mut pb::PlaceOrderRequest);
        let cases: Vec<(Breaker, &str)> = vec![
            (
                |r| r.client_order_id = "has space".into(),
                "client_order_id",
            ),
            (|r| r.client_order_id = String::new(), "client_order_id"),
            (|r| r.venue = 0, "venue"),
            (|r| r.symbol = "btcusdt".into(), "symbol"),
            (|r| r.side = 0, "side"),
            (|r| r.r#type = 0, "type"),
            (|r| r.quantity = "-1".into(), "quantity"),
            (|r| r.quantity = "1e3".into(), "quantity"),
            (|r| r.price = String::new(), "price"),
            (|r| r.time_in_force = 0, "time_in_force"),
            (|r| r.margin_side_effect = 1, "margin_side_effect"),
            (
                |r| {
                    r.r#type = common::OrderType::Market as i32;
                    r.time_in_force = 0;
                },
                "price",
            ),
            (
                |r| {
                    r.venue = common::Venue::SpotMargin as i32;
                    r.margin_side_effect = 0;
                },
                "margin_side_effect",
            ),
            (
                |r| {
                    r.venue = common::Venue::SpotMargin as i32;
                    r.margin_side_effect = 1;
                    r.reduce_only = true;
                },
                "reduce_only",
            ),
        ];
        for (break_it, field) in cases {
            let mut request = limit_perp();
            break_it(&mut request);
            let message = field_of(validate(&request).unwrap_err());
            assert!(
                message.contains(&format!("`{field}`")),
                "{field}: {message}"
            );
        }
    }

    #[test]
    fn perp_post_only_orders_are_limit_gtx() {
        let mut request = limit_perp();
        request.r#type = common::OrderType::LimitMaker as i32;
        request.time_in_force = 0;
        let maker = validate(&request).unwrap();
        assert_eq!(maker.order_type, common::OrderType::LimitMaker);
        assert_eq!(
            maker.kind,
            OrderKind::Limit {
                price: Decimal::new(700000, 1),
                tif: TimeInForce::Gtx
            }
        );
        // LIMIT + GTX sends the same venue order, but is a different request (type differs)
        let mut gtx = limit_perp();
        gtx.time_in_force = common::TimeInForce::Gtx as i32;
        let gtx = validate(&gtx).unwrap();
        assert_eq!(gtx.kind, maker.kind);
        assert_ne!(gtx.fingerprint(), maker.fingerprint());
        // LIMIT_MAKER carries no time in force, and needs a price
        request.time_in_force = common::TimeInForce::Gtx as i32;
        assert!(field_of(validate(&request).unwrap_err()).contains("`time_in_force`"));
        request.time_in_force = 0;
        request.price = String::new();
        assert!(field_of(validate(&request).unwrap_err()).contains("`price`"));
        // GTX is a futures time in force; spot post-only is the LIMIT_MAKER type
        let mut spot_gtx = limit_perp();
        spot_gtx.venue = common::Venue::SpotMargin as i32;
        spot_gtx.margin_side_effect = common::MarginSideEffect::NoSideEffect as i32;
        spot_gtx.time_in_force = common::TimeInForce::Gtx as i32;
        assert!(field_of(validate(&spot_gtx).unwrap_err()).contains("`time_in_force`"));
    }

    #[test]
    fn spot_limit_maker_is_post_only() {
        let mut request = limit_perp();
        request.venue = common::Venue::SpotMargin as i32;
        request.margin_side_effect = common::MarginSideEffect::NoSideEffect as i32;
        request.r#type = common::OrderType::LimitMaker as i32;
        request.time_in_force = 0;
        let order = validate(&request).unwrap();
        assert!(matches!(
            order.kind,
            OrderKind::Limit {
                tif: TimeInForce::Gtx,
                ..
            }
        ));
    }
}
