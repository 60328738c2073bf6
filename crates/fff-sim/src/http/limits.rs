//! Request-weight and order-count limits on wall-clock windows, 429 then 418 bans.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use crate::config::LimitConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Spot,
    /// SAPI endpoints weighted per IP.
    Sapi,
    /// SAPI endpoints weighted per account (UID): their own, larger budget.
    SapiUid,
    Futures,
}

#[derive(Debug)]
pub struct Limiter {
    start: Instant,
    /// (ip, scope) → (minute, used weight)
    weight: HashMap<(IpAddr, Scope), (u64, u32)>,
    /// account → (minute, used UID weight)
    uid_weight: HashMap<usize, (u64, u32)>,
    /// (account, scope, window secs) → (window index, count)
    orders: HashMap<(usize, Scope, u64), (u64, u32)>,
    violations: HashMap<IpAddr, (u64, u32)>,
    bans: HashMap<IpAddr, Instant>,
}

pub enum Verdict {
    Ok { used: u32 },
    TooMany { retry_after: u64, limit: u32 },
    Banned { retry_after: u64 },
}

impl Default for Limiter {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            weight: HashMap::new(),
            uid_weight: HashMap::new(),
            orders: HashMap::new(),
            violations: HashMap::new(),
            bans: HashMap::new(),
        }
    }
}

impl Limiter {
    fn secs(&self) -> u64 {
        self.start.elapsed().as_secs()
    }

    pub fn limit_for(cfg: &LimitConfig, scope: Scope) -> u32 {
        match scope {
            Scope::Spot => cfg.spot_weight_per_minute,
            Scope::Sapi => cfg.sapi_weight_per_minute,
            Scope::SapiUid => cfg.sapi_uid_weight_per_minute,
            Scope::Futures => cfg.futures_weight_per_minute,
        }
    }

    pub fn check_ban(&mut self, ip: IpAddr) -> Option<u64> {
        match self.bans.get(&ip) {
            Some(until) if *until > Instant::now() => {
                Some(until.duration_since(Instant::now()).as_secs().max(1))
            }
            Some(_) => {
                self.bans.remove(&ip);
                None
            }
            None => None,
        }
    }

    /// Counts `weight` for the IP; over the limit answers 429, and repeated 429s ban (418),
    /// except on SAPI where Binance does not escalate.
    pub fn take(&mut self, cfg: &LimitConfig, ip: IpAddr, scope: Scope, weight: u32) -> Verdict {
        if let Some(s) = self.check_ban(ip) {
            return Verdict::Banned { retry_after: s };
        }
        let now = self.secs();
        let minute = now / 60;
        let retry_after = 60 - now % 60;
        let limit = Self::limit_for(cfg, scope);
        let e = self.weight.entry((ip, scope)).or_insert((minute, 0));
        if e.0 != minute {
            *e = (minute, 0);
        }
        if e.1 + weight > limit {
            if scope != Scope::Sapi {
                let v = self.violations.entry(ip).or_insert((minute, 0));
                if v.0 != minute {
                    *v = (minute, 0);
                }
                v.1 += 1;
                if v.1 > cfg.ban_after_violations {
                    let until = Instant::now() + std::time::Duration::from_secs(cfg.ban_secs);
                    self.bans.insert(ip, until);
                    return Verdict::Banned {
                        retry_after: cfg.ban_secs,
                    };
                }
            }
            return Verdict::TooMany { retry_after, limit };
        }
        e.1 += weight;
        Verdict::Ok { used: e.1 }
    }

    /// Counts `weight` of a UID-weighted SAPI endpoint for `account`: 429 over the limit, never
    /// a ban (Binance does not escalate on `/sapi`).
    pub fn take_uid(&mut self, cfg: &LimitConfig, account: usize, weight: u32) -> Verdict {
        let now = self.secs();
        let minute = now / 60;
        let limit = cfg.sapi_uid_weight_per_minute;
        let e = self.uid_weight.entry(account).or_insert((minute, 0));
        if e.0 != minute {
            *e = (minute, 0);
        }
        if e.1 + weight > limit {
            return Verdict::TooMany {
                retry_after: 60 - now % 60,
                limit,
            };
        }
        e.1 += weight;
        Verdict::Ok { used: e.1 }
    }

    pub fn used(&self, ip: IpAddr, scope: Scope) -> u32 {
        let minute = self.secs() / 60;
        self.weight
            .get(&(ip, scope))
            .filter(|e| e.0 == minute)
            .map(|e| e.1)
            .unwrap_or(0)
    }

    /// Counts one order; returns the counts per window or the window that overflowed.
    pub fn take_order(
        &mut self,
        cfg: &LimitConfig,
        account: usize,
        scope: Scope,
    ) -> Result<Vec<(&'static str, u32)>, (String, u64)> {
        let windows: [(&'static str, u64, u32); 2] = match scope {
            Scope::Futures => [
                ("10S", 10, cfg.futures_orders_per_10s),
                ("1M", 60, cfg.futures_orders_per_minute),
            ],
            _ => [
                ("10S", 10, cfg.spot_orders_per_10s),
                ("1D", 86_400, cfg.spot_orders_per_day),
            ],
        };
        let now = self.secs();
        let mut out = Vec::new();
        for (name, len, limit) in windows {
            let e = self
                .orders
                .entry((account, scope, len))
                .or_insert((now / len, 0));
            if e.0 != now / len {
                *e = (now / len, 0);
            }
            if e.1 >= limit {
                return Err((
                    format!("Too many new orders; current limit is {limit} orders per {name}."),
                    len - now % len,
                ));
            }
        }
        for (name, len, _) in windows {
            if let Some(e) = self.orders.get_mut(&(account, scope, len)) {
                e.1 += 1;
                out.push((name, e.1));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_overflow_gives_429_then_ban() {
        let cfg = LimitConfig {
            spot_weight_per_minute: 10,
            ban_after_violations: 2,
            ..Default::default()
        };
        let mut l = Limiter::default();
        let ip: IpAddr = [127, 0, 0, 1].into();
        assert!(matches!(
            l.take(&cfg, ip, Scope::Spot, 10),
            Verdict::Ok { used: 10 }
        ));
        assert!(matches!(
            l.take(&cfg, ip, Scope::Spot, 1),
            Verdict::TooMany { .. }
        ));
        assert!(matches!(
            l.take(&cfg, ip, Scope::Spot, 1),
            Verdict::TooMany { .. }
        ));
        assert!(matches!(
            l.take(&cfg, ip, Scope::Spot, 1),
            Verdict::Banned { .. }
        ));
        assert!(matches!(
            l.take(&cfg, ip, Scope::Futures, 1),
            Verdict::Banned { .. }
        ));
    }

    #[test]
    fn uid_weight_is_per_account_and_never_bans() {
        let cfg = LimitConfig {
            sapi_uid_weight_per_minute: 3000,
            ban_after_violations: 0,
            ..Default::default()
        };
        let mut l = Limiter::default();
        assert!(matches!(
            l.take_uid(&cfg, 0, 1500),
            Verdict::Ok { used: 1500 }
        ));
        assert!(matches!(
            l.take_uid(&cfg, 0, 1500),
            Verdict::Ok { used: 3000 }
        ));
        for _ in 0..3 {
            assert!(matches!(
                l.take_uid(&cfg, 0, 6),
                Verdict::TooMany { limit: 3000, .. }
            ));
        }
        // another account has its own budget, and the IP-weighted SAPI budget is untouched
        assert!(matches!(
            l.take_uid(&cfg, 1, 900),
            Verdict::Ok { used: 900 }
        ));
        let ip: IpAddr = [127, 0, 0, 1].into();
        assert!(matches!(
            l.take(&cfg, ip, Scope::Sapi, 10),
            Verdict::Ok { used: 10 }
        ));
    }
}
