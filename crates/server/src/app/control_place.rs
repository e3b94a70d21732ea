//! Where the control socket is, and moving it: a reload (SIGHUP, `ctl reload`) whose
//! configuration names another `[control] socket` binds the new path, serves there, stops
//! serving the old one and removes its file; a socket turned off (`socket = ""`) is closed and
//! its file removed. The file is also removed when the server stops cleanly (not after an
//! upgrade: the new process serves on it).

use crate::ctl::server::Control;
use crate::stats::Sources;
use crate::upgrade::Handover;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::net::UnixListener;

/// The control socket being served (if any), and what serving another one needs.
pub(super) struct ControlPlace {
    runtime: tokio::runtime::Handle,
    sources: Arc<Sources>,
    handover: Arc<Handover>,
    state: Mutex<Placed>,
}

/// The socket's path and the task serving it.
#[derive(Default)]
struct Placed {
    path: Option<PathBuf>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// What the commands act on (set once the first socket is served).
    control: Option<Arc<dyn Control>>,
}

impl ControlPlace {
    /// No socket yet; must be called inside the runtime.
    pub(super) fn new(sources: Arc<Sources>, handover: Arc<Handover>) -> Arc<Self> {
        Arc::new(Self { runtime: tokio::runtime::Handle::current(), sources, handover, state: Mutex::default() })
    }

    /// Serves `listener`, bound at `path`, with `control`.
    pub(super) fn serve(&self, path: PathBuf, listener: UnixListener, control: Arc<dyn Control>) {
        let mut state = self.lock();
        self.handover.sockets().control = listener.as_fd().try_clone_to_owned().ok();
        let task = self.runtime.spawn(crate::ctl::server::serve(listener, self.sources.clone(), control.clone()));
        if let Some(old) = state.task.replace(task) {
            old.abort();
        }
        state.path = Some(path);
        state.control = Some(control);
    }

    /// Moves the socket to `wanted` (none: off) when it differs from where it is; the old file
    /// is removed once the new socket serves. A new path that cannot be bound keeps the old one.
    pub(super) fn follow(&self, wanted: Option<&Path>) -> Result<(), String> {
        let state = self.lock();
        if state.path.as_deref() == wanted {
            return Ok(());
        }
        let Some(control) = state.control.clone() else { return Ok(()) };
        drop(state);
        let Some(path) = wanted else {
            self.close(true);
            self.handover.sockets().control = None;
            tracing::info!("control socket closed (turned off by the reload)");
            return Ok(());
        };
        let listener = {
            let _entered = self.runtime.enter();
            crate::ctl::server::bind(path)?
        };
        let old = self.lock().path.clone();
        self.serve(path.to_path_buf(), listener, control);
        if let Some(old) = old {
            let _ = std::fs::remove_file(&old);
            tracing::info!(old = %old.display(), new = %path.display(), "control socket moved");
        }
        Ok(())
    }

    /// Stops serving; removes the file when `remove` (a clean stop, not an upgrade).
    pub(super) fn close(&self, remove: bool) {
        let mut state = self.lock();
        if let Some(task) = state.task.take() {
            task.abort();
        }
        if let (Some(path), true) = (state.path.take(), remove) {
            let _ = std::fs::remove_file(path);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Placed> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
