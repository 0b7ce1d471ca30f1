//! Supervision and readiness: every long-lived task runs under a watcher that notices a panic
//! or an unexpected end, turns readiness false, logs at ERROR and stops the daemon so that
//! systemd restarts it (the state is durable, so a restart is recovery).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::telemetry;

/// What readiness is made of; `/readyz` and `omsd_ready` report it.
#[derive(Debug, Default)]
pub struct Readiness {
    /// Start-up reconciliation succeeded.
    reconciled: AtomicBool,
    /// A supervised task failed: the daemon is stopping.
    failed: AtomicBool,
    /// The first failure, for the exit error and `/readyz`.
    failure: Mutex<Option<String>>,
}

impl Readiness {
    pub fn set_reconciled(&self, on: bool) {
        self.reconciled.store(on, Ordering::Relaxed);
    }

    pub fn reconciled(&self) -> bool {
        self.reconciled.load(Ordering::Relaxed)
    }

    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// The first task failure, if any.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    fn record_failure(&self, what: String) {
        self.failed.store(true, Ordering::Relaxed);
        if let Ok(mut first) = self.failure.lock()
            && first.is_none()
        {
            *first = Some(what);
        }
    }
}

/// Spawns and watches the daemon's long-lived tasks.
#[derive(Clone)]
pub struct Supervisor {
    tasks: TaskTracker,
    shutdown: CancellationToken,
    failed: CancellationToken,
    readiness: Arc<Readiness>,
    /// How many tasks of each name run now.
    running: Arc<Mutex<BTreeMap<&'static str, usize>>>,
}

impl Supervisor {
    pub fn new(tasks: TaskTracker, shutdown: CancellationToken, readiness: Arc<Readiness>) -> Self {
        Supervisor {
            tasks,
            shutdown,
            failed: CancellationToken::new(),
            readiness,
            running: Arc::default(),
        }
    }

    /// Fires when a supervised task failed.
    pub fn failed(&self) -> CancellationToken {
        self.failed.clone()
    }

    /// Runs `task`; a panic, or an end before shutdown, is a failure of the daemon.
    pub fn spawn<F>(&self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.watch(name, tokio::spawn(task));
    }

    /// Watches a task spawned elsewhere (an adapter's stream), as [`Supervisor::spawn`] does.
    pub fn watch(&self, name: &'static str, handle: JoinHandle<()>) {
        let this = self.clone();
        this.count(name, true);
        self.tasks.spawn(async move {
            let joined = handle.await;
            this.count(name, false);
            let detail = match joined {
                Ok(()) if this.shutdown.is_cancelled() => return,
                Ok(()) => "ended unexpectedly".to_string(),
                Err(e) if e.is_panic() => "panicked".to_string(),
                Err(e) => format!("was aborted: {e}"),
            };
            telemetry::task_failed(name, &detail);
            telemetry::ready(false);
            this.readiness
                .record_failure(format!("task {name} {detail}"));
            this.failed.cancel();
        });
    }

    /// The names of the supervised tasks still running, with how many of each.
    pub fn running(&self) -> Vec<(&'static str, usize)> {
        self.running
            .lock()
            .map(|r| r.iter().map(|(name, n)| (*name, *n)).collect())
            .unwrap_or_default()
    }

    fn count(&self, name: &'static str, started: bool) {
        if let Ok(mut running) = self.running.lock() {
            let n = running.entry(name).or_default();
            if started {
                *n += 1;
            } else {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    running.remove(name);
                }
            }
        }
    }
}
