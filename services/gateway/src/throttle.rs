//! The order queue: at most N orders that open exposure leave the gateway in any one second,
//! first come first served (on top of the connector's weight/order-count limiters, which every
//! attempt also passes, so the venue's own order limits hold for every order). A sliding
//! window, not an even spacing: a hedge sent right after its perp leaves at once instead of
//! waiting 1/N s behind it (at the default 10/s the spacing alone kept every perp naked for
//! 100 ms at the venue, `fff bench` 2026-12-05).
//!
//! Orders that close exposure (the hedge of a fill, reduce-only perps) do not pass it: behind
//! a round of exits a hedge waited up to 850 ms with its perp filled, and an entry behind the
//! exits of the round before up to 840 ms (`fff bench` 2026-12-05). They are bounded by what
//! was opened, so the window still caps how fast exposure can grow; Binance likewise exempts
//! reduce-only orders from its `-1008` throttle.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

const WINDOW: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct OrderQueue {
    rate: usize,
    /// Slots handed to the last `rate` orders, oldest first (some may lie ahead).
    slots: Mutex<VecDeque<Instant>>,
}

impl OrderQueue {
    pub fn per_second(rate: u32) -> Self {
        let rate = usize::try_from(rate.max(1)).unwrap_or(usize::MAX);
        Self {
            rate,
            slots: Mutex::new(VecDeque::with_capacity(rate.min(1024))),
        }
    }

    /// Waits for this order's slot. Slots are handed out in call order (tokio's mutex is fair)
    /// and never decrease; each is at least a second after the slot `rate` orders before it,
    /// so no second holds more than `rate`.
    pub async fn acquire(&self) {
        let slot = {
            let mut slots = self.slots.lock().await;
            let mut slot = Instant::now();
            if let Some(&last) = slots.back() {
                slot = slot.max(last);
            }
            if slots.len() >= self.rate
                && let Some(&oldest) = slots.front()
            {
                slot = slot.max(oldest + WINDOW);
            }
            slots.push_back(slot);
            self.trim(&mut slots);
            slot
        };
        // a slot already due leaves now: tokio's timer rounds a deadline up to its next
        // millisecond tick, so even `sleep_until(now)` held every hedge ~1 ms (fff bench)
        if slot > Instant::now() {
            tokio::time::sleep_until(slot).await;
        }
    }

    /// Keeps the last `rate` slots (the window the next order is judged against).
    fn trim(&self, slots: &mut VecDeque<Instant>) {
        while slots.len() > self.rate {
            slots.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    async fn send_at_once(queue: &Arc<OrderQueue>, n: usize) -> Vec<Duration> {
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..n {
            let queue = queue.clone();
            tasks.push(tokio::spawn(async move {
                queue.acquire().await;
                Instant::now()
            }));
        }
        let mut times = Vec::new();
        for task in tasks {
            times.push(task.await.unwrap() - start);
        }
        times.sort();
        times
    }

    #[tokio::test(start_paused = true)]
    async fn no_second_holds_more_than_the_configured_rate() {
        let queue = Arc::new(OrderQueue::per_second(10));
        let times = send_at_once(&queue, 25).await;
        assert_eq!(times[9], Duration::ZERO, "the first ten leave at once");
        assert_eq!(times[10], Duration::from_secs(1));
        assert_eq!(times[19], Duration::from_secs(1));
        assert_eq!(
            times[20],
            Duration::from_secs(2),
            "25 orders take 2 s at 10/s"
        );
        for (i, t) in times.iter().enumerate().skip(10) {
            assert!(*t >= times[i - 10] + WINDOW, "order {i} at {t:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_hedge_right_after_its_perp_does_not_wait() {
        let queue = OrderQueue::per_second(10);
        let start = Instant::now();
        queue.acquire().await;
        tokio::time::advance(Duration::from_millis(3)).await;
        queue.acquire().await;
        assert_eq!(Instant::now() - start, Duration::from_millis(3));
    }
}
