//! The order queue: at most N orders per second leave the gateway, first come first served
//! (on top of the connector's weight/order-count limiters, which every attempt also passes).

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

#[derive(Debug)]
pub struct OrderQueue {
    spacing: Duration,
    next_slot: Mutex<Option<Instant>>,
}

impl OrderQueue {
    pub fn per_second(rate: u32) -> Self {
        Self {
            spacing: Duration::from_secs(1) / rate.max(1),
            next_slot: Mutex::new(None),
        }
    }

    /// Waits for this order's slot. Slots are handed out in call order (tokio's mutex is fair).
    pub async fn acquire(&self) {
        let slot = {
            let mut next = self.next_slot.lock().await;
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.spacing);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn spaces_orders_at_the_configured_rate() {
        let queue = Arc::new(OrderQueue::per_second(10));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..20 {
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
        assert_eq!(times[0], Duration::ZERO);
        assert_eq!(times[9], Duration::from_millis(900));
        assert_eq!(
            times[19],
            Duration::from_millis(1900),
            "20 orders take ~2 s at 10/s"
        );
    }
}
