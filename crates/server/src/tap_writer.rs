//! The thread behind `portcullis_net::tap::Tap`: it takes the batches of queries and replies the
//! workers hand over (`net::tap`), gives each batch to every output
//! configured (dnstap: `dnstap.rs`, whose frames the capture encoded; the query log:
//! `querylog.rs`), which write with few system calls, and gives the batch back for reuse. It collects the
//! occasional producers' shared batch and flushes the outputs every [`COLLECT`], so a reader
//! sees each event within moments. It polls the channel (every [`POLL`] when it is empty), so a
//! producer's hand-over never wakes it. The workers
//! never wait for it: the pool of batches is bounded and a producer that finds none free drops
//! (and counts) new events.

use portcullis_net::tap::{Capture, Tap, TapBatch};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Events waiting for the writer at most, unless `[dnstap] queue` says otherwise.
pub const DEFAULT_QUEUE: usize = 8192;
/// How often at least the shared batch (TCP, the resolver pool) is collected and outputs flushed.
const COLLECT: Duration = Duration::from_millis(50);
/// How long the writer sleeps when it found nothing to write: each wake-up takes the CPU from
/// a worker (a context switch each way), so few; the default queue (128 batches) holds what
/// 300 000 queries a second fill in 20 ms several times over.
const POLL: Duration = Duration::from_millis(20);
/// One output of the writer.
pub trait EventSink: Send {
    /// Writes the events of one batch.
    fn batch(&mut self, batch: &TapBatch) -> std::io::Result<()>;
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

/// Starts the writer over `sinks` with a queue of `queue` events captured as `capture` says
/// (what the sinks read of a batch); the tap goes to the workers and connections.
pub fn start(sinks: Vec<Box<dyn EventSink>>, queue: usize, capture: Capture) -> Result<(Arc<Tap>, Writer), String> {
    let (tap, events) = Tap::new(queue, capture);
    let tap = Arc::new(tap);
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("tap-writer".into())
        .spawn({
            let tap = tap.clone();
            move || write_all(sinks, &tap, &events, &flag)
        })
        .map_err(|error| format!("cannot start the dnstap and query log writer: {error}"))?;
    Ok((tap, Writer { stop, thread: Some(thread) }))
}

fn write_all(mut sinks: Vec<Box<dyn EventSink>>, tap: &Tap, batches: &Receiver<TapBatch>, stop: &AtomicBool) {
    let mut collected = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        // Polled, not waited on: a producer's hand-over never has to wake this thread.
        let mut written = false;
        while let Ok(batch) = batches.try_recv() {
            write_batch(&mut sinks, tap, batch);
            written = true;
        }
        if !written {
            std::thread::sleep(POLL);
        }
        if collected.elapsed() >= COLLECT {
            collected = Instant::now();
            tap.collect_shared();
            each(&mut sinks, |sink| sink.flush());
        }
    }
    tap.collect_shared();
    while let Ok(batch) = batches.try_recv() {
        write_batch(&mut sinks, tap, batch);
    }
    each(&mut sinks, |sink| sink.close());
}

/// Hands `batch` to the outputs, then the batch back to the pool.
fn write_batch(sinks: &mut Vec<Box<dyn EventSink>>, tap: &Tap, batch: TapBatch) {
    each(sinks, |sink| sink.batch(&batch));
    tap.give_back(batch);
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
