//! Request parameters as Binance reads them: query string and form body, query wins.

use std::str::FromStr;

use rust_decimal::Decimal;

use crate::ApiError;

#[derive(Debug, Default, Clone)]
pub struct Req {
    pub query: String,
    pub body: String,
    pub params: Vec<(String, String)>,
    pub api_key: Option<String>,
    pub account: Option<usize>,
}

fn decode(s: &str) -> String {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8_lossy()
        .into_owned()
}

pub fn parse_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// Removes the `signature` pair from a raw (still encoded) parameter string.
pub fn strip_signature(raw: &str) -> (String, Option<String>) {
    let mut sig = None;
    let kept: Vec<&str> = raw
        .split('&')
        .filter(|p| {
            if let Some(v) = p.strip_prefix("signature=") {
                sig = Some(decode(v));
                false
            } else {
                !p.is_empty()
            }
        })
        .collect();
    (kept.join("&"), sig)
}

impl Req {
    pub fn new(query: &str, body: &str) -> Self {
        let mut params = parse_pairs(query);
        for (k, v) in parse_pairs(body) {
            if !params.iter().any(|(q, _)| *q == k) {
                params.push((k, v));
            }
        }
        Self {
            query: query.to_string(),
            body: body.to_string(),
            params,
            api_key: None,
            account: None,
        }
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub fn req(&self, k: &str) -> Result<&str, ApiError> {
        self.get(k).ok_or_else(|| ApiError::mandatory(k))
    }

    pub fn dec(&self, k: &str) -> Result<Option<Decimal>, ApiError> {
        self.get(k)
            .map(|v| Decimal::from_str(v).map_err(|_| ApiError::illegal(k)))
            .transpose()
    }

    pub fn req_dec(&self, k: &str) -> Result<Decimal, ApiError> {
        self.dec(k)?.ok_or_else(|| ApiError::mandatory(k))
    }

    pub fn int(&self, k: &str) -> Result<Option<i64>, ApiError> {
        self.get(k)
            .map(|v| v.parse::<i64>().map_err(|_| ApiError::illegal(k)))
            .transpose()
    }

    pub fn bool(&self, k: &str) -> bool {
        self.get(k).is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    pub fn account(&self) -> Result<usize, ApiError> {
        self.account.ok_or_else(ApiError::bad_key)
    }

    /// The payload that was signed: query ‖ body, each without its `signature` pair.
    pub fn signed_payload(&self) -> (String, Option<String>) {
        let (q, s1) = strip_signature(&self.query);
        let (b, s2) = strip_signature(&self.body);
        (format!("{q}{b}"), s1.or(s2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_wins_and_signature_is_stripped() {
        let r = Req::new(
            "symbol=BTCUSDT&side=BUY",
            "side=SELL&quantity=1&signature=abc",
        );
        assert_eq!(r.get("side"), Some("BUY"));
        assert_eq!(r.get("quantity"), Some("1"));
        let (payload, sig) = r.signed_payload();
        assert_eq!(payload, "symbol=BTCUSDT&side=BUYside=SELL&quantity=1");
        assert_eq!(sig.as_deref(), Some("abc"));
    }
}
