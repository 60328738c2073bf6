//! Dependency watch: a role reports each upstream (gateway, risk, rebalancer) as down when a
//! call or stream to it fails and as up when it answers again. A dependency still down after
//! the threshold raises one `dependency_lost` alert; its recovery then raises
//! `dependency_recovered`. Short outages (a restart, a reconnect) raise nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::alert::{Alert, AlertKind, Severity};
use crate::sender::AlertSender;

#[derive(Debug)]
struct Down {
    since: Instant,
    episode: u64,
    alerted: bool,
    detail: String,
}

#[derive(Debug, Default)]
struct State {
    down: HashMap<String, Down>,
    next_episode: u64,
}

/// Tracks which dependencies are down since when; cheap to clone.
#[derive(Debug, Clone)]
pub struct DependencyWatch {
    sender: AlertSender,
    threshold: Duration,
    state: Arc<Mutex<State>>,
}

impl DependencyWatch {
    pub fn new(sender: AlertSender, threshold: Duration) -> Self {
        Self {
            sender,
            threshold,
            state: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `name` failed (`detail`: the error); `impact`: what the role cannot do meanwhile.
    /// Repeated calls during one outage only update the detail.
    pub fn down(&self, name: &str, detail: &str, impact: &str) {
        let episode = {
            let mut state = self.lock();
            if let Some(down) = state.down.get_mut(name) {
                detail.clone_into(&mut down.detail);
                return;
            }
            state.next_episode += 1;
            let episode = state.next_episode;
            state.down.insert(
                name.to_owned(),
                Down {
                    since: Instant::now(),
                    episode,
                    alerted: false,
                    detail: detail.to_owned(),
                },
            );
            episode
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let watch = self.clone();
        let name = name.to_owned();
        let impact = impact.to_owned();
        runtime.spawn(async move {
            tokio::time::sleep(watch.threshold).await;
            let alert = {
                let mut state = watch.lock();
                let Some(down) = state.down.get_mut(&name) else {
                    return;
                };
                if down.episode != episode || down.alerted {
                    return;
                }
                down.alerted = true;
                let role = &watch.sender.settings().role;
                Alert::new(
                    AlertKind::DependencyLost,
                    Severity::Critical,
                    format!("{role} cannot reach {name}"),
                )
                .figure("down_for_secs", down.since.elapsed().as_secs())
                .figure("last_error", truncate(&down.detail, 300))
                .action(format!("retrying with backoff; meanwhile {impact}"))
            };
            watch.sender.send(alert);
        });
    }

    /// `name` answers again.
    pub fn up(&self, name: &str) {
        let Some(down) = self.lock().down.remove(name) else {
            return;
        };
        if down.alerted {
            let role = &self.sender.settings().role;
            self.sender.send(
                Alert::new(
                    AlertKind::DependencyRecovered,
                    Severity::Info,
                    format!("{role} reaches {name} again"),
                )
                .figure("down_for_secs", down.since.elapsed().as_secs())
                .action("resumed normal operation"),
            );
        }
    }

    /// Dependencies currently down.
    pub fn down_now(&self) -> Vec<String> {
        let mut names: Vec<String> = self.lock().down.keys().cloned().collect();
        names.sort();
        names
    }
}

fn truncate(text: &str, limit: usize) -> String {
    text.chars().take(limit).collect()
}
