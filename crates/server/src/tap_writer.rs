//! The thread behind `portcullis_net::tap::Tap`: it takes the queued queries and replies and hands
//! each to every output configured (dnstap: `dnstap.rs`; the query log: `querylog.rs`), flushing
//! them whenever the queue is empty, so a reader sees each event within moments. The workers
//! never wait for it: the queue is bounded and a full one drops (and counts) new events.

use portcullis_net::tap::{Tap, TapEvent};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

/// Events waiting for the writer at most, unless `[dnstap] queue` says otherwise.
pub const DEFAULT_QUEUE: usize = 8192;

/// One output of the writer.
pub trait EventSink: Send {
    /// Writes one event.
    fn event(&mut self, event: &TapEvent) -> std::io::Result<()>;
    /// Pushes what is buffered out.
    fn flush(&mut self) -> std::io::Result<()>;
    /// Ends the output (the server stops).
    fn close(&mut self) -> std::io::Result<()>;
}

/// The writer thread; [`Writer::finish`] drains the queue and closes the outputs.
pub struct Writer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    /// Writes what is queued, closes the outputs, and waits for the thread.
    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts the writer over `sinks` with a queue of `queue` events; the tap goes to the workers
/// and connections.
pub fn start(sinks: Vec<Box<dyn EventSink>>, queue: usize) -> Result<(Arc<Tap>, Writer), String> {
    let (tap, events) = Tap::new(queue);
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("tap-writer".into())
        .spawn(move || write_all(sinks, &events, &flag))
        .map_err(|error| format!("cannot start the dnstap and query log writer: {error}"))?;
    Ok((Arc::new(tap), Writer { stop, thread: Some(thread) }))
}

fn write_all(mut sinks: Vec<Box<dyn EventSink>>, events: &Receiver<TapEvent>, stop: &AtomicBool) {
    loop {
        match events.recv_timeout(Duration::from_millis(100)) {
            Ok(event) => each(&mut sinks, |sink| sink.event(&event)),
            Err(RecvTimeoutError::Timeout) if !stop.load(Ordering::Relaxed) => each(&mut sinks, |sink| sink.flush()),
            Err(_) => break,
        }
    }
    while let Ok(event) = events.try_recv() {
        each(&mut sinks, |sink| sink.event(&event));
    }
    each(&mut sinks, |sink| sink.close());
}

/// Applies `action` to every sink; one that fails is logged and left out from then on.
fn each(sinks: &mut Vec<Box<dyn EventSink>>, mut action: impl FnMut(&mut dyn EventSink) -> std::io::Result<()>) {
    sinks.retain_mut(|sink| match action(sink.as_mut()) {
        Ok(()) => true,
        Err(error) => {
            tracing::error!(%error, "dnstap or query log: writing stopped");
            false
        }
    });
}
