//! A worker thread that survives its own panics: the work runs under `catch_unwind`, and a
//! panic is logged and counted and the work started again (fresh state, same socket), until
//! shutdown. The release profile keeps `panic = "unwind"` for this.

use crate::Shutdown;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};

/// Runs `work` until it returns without panicking or `shutdown` is triggered; each panic is
/// counted in `restarts` and logged under `name`.
pub fn run_restarting(name: &str, shutdown: &Shutdown, restarts: &AtomicU64, mut work: impl FnMut()) {
    loop {
        let Err(panic) = catch_unwind(AssertUnwindSafe(&mut work)) else { return };
        restarts.fetch_add(1, Ordering::Relaxed);
        let message = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned());
        let message = message.unwrap_or_else(|| "(no message)".to_string());
        if shutdown.is_triggered() {
            tracing::error!(worker = name, "worker panicked during shutdown: {message}");
            return;
        }
        tracing::error!(worker = name, "worker panicked: {message}; restarting it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_worker_is_started_again_until_it_returns() {
        let (shutdown, restarts) = (Shutdown::default(), AtomicU64::new(0));
        let mut runs = 0;
        run_restarting("test", &shutdown, &restarts, || {
            runs += 1;
            assert!(runs > 2, "injected panic {runs}");
        });
        assert_eq!((runs, restarts.load(Ordering::Relaxed)), (3, 2));
    }

    #[test]
    fn no_restart_after_shutdown() {
        let (shutdown, restarts) = (Shutdown::default(), AtomicU64::new(0));
        let mut runs = 0;
        run_restarting("test", &shutdown, &restarts, || {
            runs += 1;
            shutdown.trigger();
            panic!("injected");
        });
        assert_eq!((runs, restarts.load(Ordering::Relaxed)), (1, 1));
    }
}
