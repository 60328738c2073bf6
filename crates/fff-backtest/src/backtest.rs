//! The library entry point: run the strategy (and the yardsticks) over a dataset.

use std::sync::atomic::{AtomicUsize, Ordering};

use fff_core::{
    CapitalModel, CapitalParams, ExecutionParams, PairSelectionParams, RebalanceParams, RiskParams,
};

use crate::baselines::{AlwaysOnCarry, PerfectForesight, TopOneRotation};
use crate::config::BacktestConfig;
use crate::costs::CostModel;
use crate::data::Dataset;
use crate::engine::replay::{RunOutput, replay};
use crate::error::{Error, Result};
use crate::strategy::Strategy;

/// The fff-core parameter sections a backtest runs with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StrategyParams {
    pub capital: CapitalParams,
    pub risk: RiskParams,
    pub pair_selection: PairSelectionParams,
    pub execution: ExecutionParams,
    pub rebalance: RebalanceParams,
}

/// The strategy and its yardsticks, replayed on the same data.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub strategy: RunOutput,
    /// Always-on BTCUSDT carry, naive top-1 rotation, perfect-foresight bound (in that order;
    /// the BTC baseline is absent when the data has no BTCUSDT).
    pub baselines: Vec<RunOutput>,
}

/// A configured backtest.
#[derive(Debug, Clone)]
pub struct Backtest {
    config: BacktestConfig,
}

impl Backtest {
    /// A backtest of `params` under `costs`.
    pub fn new(params: StrategyParams, costs: CostModel) -> Self {
        Self {
            config: BacktestConfig {
                capital: params.capital,
                risk: params.risk,
                pair_selection: params.pair_selection,
                execution: params.execution,
                rebalance: params.rebalance,
                backtest: costs,
            },
        }
    }

    /// A backtest from a full configuration.
    pub fn from_config(config: BacktestConfig) -> Self {
        Self { config }
    }

    pub fn config(&self) -> &BacktestConfig {
        &self.config
    }

    /// fff-core's capital model for `[capital]` and `[risk]`: what every replayed hedge ties up.
    pub fn capital_model(&self) -> Result<CapitalModel> {
        CapitalModel::new(&self.config.capital, &self.config.risk)
            .map_err(|e| Error::Config(e.to_string()))
    }

    /// Replays the strategy.
    pub fn run(&self, dataset: &Dataset) -> Result<RunOutput> {
        self.run_with_progress(dataset, |_| {})
    }

    /// Replays the strategy, reporting replayed events after each simulated day.
    pub fn run_with_progress(
        &self,
        dataset: &Dataset,
        progress: impl FnMut(u64),
    ) -> Result<RunOutput> {
        let model = self.capital_model()?;
        let mut strategy = Strategy::new(self.config.clone(), model.clone());
        replay(
            dataset,
            &self.config.backtest,
            &model,
            &mut strategy,
            progress,
        )
    }

    /// Replays the strategy, the baselines and the perfect-foresight bound, on two threads
    /// that each take the next replay not yet started (the longest first). Every replay is
    /// independent of the others, so the result does not depend on which thread ran it or
    /// when. `progress` is called on the calling thread: as its own replays run, then for the
    /// second thread's once they have finished.
    pub fn compare(&self, dataset: &Dataset, mut progress: impl FnMut(u64)) -> Result<Comparison> {
        let model = self.capital_model()?;
        let has_btc = dataset.symbols.iter().any(|s| s.symbol == "BTCUSDT");
        let mut jobs = vec![Replay::Strategy, Replay::Bound, Replay::TopOne];
        if has_btc {
            jobs.push(Replay::AlwaysOnBtc);
        }
        let next = AtomicUsize::new(0);
        let take = || jobs.get(next.fetch_add(1, Ordering::Relaxed)).copied();
        let run = |job: Replay, progress: &mut dyn FnMut(u64)| {
            (job, self.replay_one(job, dataset, &model, progress))
        };
        let (mut done, calls) = std::thread::scope(|scope| {
            let second = scope.spawn(|| {
                let mut calls = Vec::new();
                let mut done = Vec::new();
                while let Some(job) = take() {
                    done.push(run(job, &mut |events| calls.push(events)));
                }
                (done, calls)
            });
            let mut done = Vec::new();
            while let Some(job) = take() {
                done.push(run(job, &mut progress));
            }
            match second.join() {
                Ok((theirs, calls)) => {
                    done.extend(theirs);
                    (done, calls)
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        });
        calls.into_iter().for_each(&mut progress);
        // Reported (and the first error returned) in this order, whoever ran what.
        done.sort_by_key(|(job, _)| *job);
        let mut runs = done.into_iter().map(|(_, run)| run);
        let strategy = runs
            .next()
            .ok_or_else(|| Error::Data("the strategy replay did not run".into()))??;
        Ok(Comparison {
            strategy,
            baselines: runs.collect::<Result<Vec<_>>>()?,
        })
    }

    /// One replay of [`Backtest::compare`].
    fn replay_one(
        &self,
        job: Replay,
        dataset: &Dataset,
        model: &CapitalModel,
        progress: &mut dyn FnMut(u64),
    ) -> Result<RunOutput> {
        let costs = &self.config.backtest;
        match job {
            Replay::Strategy => {
                let mut strategy = Strategy::new(self.config.clone(), model.clone());
                replay(dataset, costs, model, &mut strategy, progress)
            }
            Replay::AlwaysOnBtc => {
                let mut btc = AlwaysOnCarry::new("BTCUSDT", &self.config, model);
                replay(dataset, costs, model, &mut btc, progress)
            }
            Replay::TopOne => {
                let mut top = TopOneRotation::new(&self.config, model);
                replay(dataset, costs, model, &mut top, progress)
            }
            Replay::Bound => {
                // The bound trades for free (it is a ceiling, not a strategy); borrow still
                // applies, and so does the capital model.
                let free = costs.without_trading_costs();
                let mut oracle = PerfectForesight::new(&self.config, model);
                replay(dataset, &free, model, &mut oracle, progress)
            }
        }
    }
}

/// The replays of [`Backtest::compare`], in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Replay {
    Strategy,
    AlwaysOnBtc,
    TopOne,
    Bound,
}
