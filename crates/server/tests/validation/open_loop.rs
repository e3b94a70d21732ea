//! An open-loop flood for comparing what two kinds of questions cost a resolver's other clients:
//! queries leave at a fixed rate whatever the answers (a closed-loop flooder whose questions
//! fail fast would send more of them than one whose questions take long, and the comparison
//! would weigh the rates, not the questions), a second thread collects the answers, and the
//! resolver's CPU time over the flood is read from `/proc` (every thread's `schedstat`).

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long the collector waits for the last answers after the last query left.
const LINGER: Duration = Duration::from_secs(2);

/// What a flood measured.
#[derive(Debug, Default)]
pub struct Flood {
    /// Queries sent.
    pub sent: usize,
    /// Each answered query's rcode and time, in the order the queries left.
    pub answered: Vec<(u8, Duration)>,
    /// The resolver's CPU time (user and system, every thread) from the first query to the
    /// last answer.
    pub cpu: Duration,
    /// From the first query to the last answer.
    pub wall: Duration,
}

impl Flood {
    /// Queries that got no answer.
    pub fn lost(&self) -> usize {
        self.sent - self.answered.len()
    }

    /// The resolver's CPU time per query sent.
    pub fn cpu_per_query(&self) -> Duration {
        self.cpu / u32::try_from(self.sent.max(1)).unwrap_or(u32::MAX)
    }

    /// The answers' times.
    pub fn times(&self) -> Vec<Duration> {
        self.answered.iter().map(|(_, took)| *took).collect()
    }
}

/// The CPU time process `pid` has spent, all its threads (`/proc/PID/task/*/schedstat`, whose
/// first field is the nanoseconds a thread ran).
pub fn cpu_time(pid: u32) -> Duration {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap_or_else(|e| panic!("/proc/{pid}/task: {e}"));
    let nanos: u64 = tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|text| text.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

/// Sends up to `most` queries (`query(index)`: the wire query, its ID the index's low 16 bits)
/// to `server`, `rate` a second from one socket, while `during` runs in the calling thread
/// (started once `warmup` queries have left); stops sending when `during` returns, and
/// collects the answers for at most [`LINGER`] after the last query. `pid` is the resolver's.
pub fn open_loop<T>(
    server: SocketAddr,
    pid: u32,
    rate: u32,
    most: usize,
    warmup: usize,
    query: &(dyn Fn(usize) -> Vec<u8> + Sync),
    during: impl FnOnce() -> T,
) -> (Flood, T) {
    assert!(most <= 1 << 16, "query IDs must tell the queries apart");
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(server).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let receiver = socket.try_clone().unwrap();
    // Nanoseconds from `start` to each query's departure, plus one (0: not sent).
    let departures: Vec<AtomicU64> = (0..most).map(|_| AtomicU64::new(0)).collect();
    let (stop, done) = (AtomicBool::new(false), AtomicBool::new(false));
    let sent = AtomicU64::new(0);
    let cpu_before = cpu_time(pid);
    let start = Instant::now();
    let interval = Duration::from_secs(1) / rate;
    std::thread::scope(|scope| {
        let sender = scope.spawn(|| {
            for (index, departure) in departures.iter().enumerate() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let due = start + interval * u32::try_from(index).unwrap();
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let wire = query(index);
                departure.store(start.elapsed().as_nanos() as u64 + 1, Ordering::Release);
                socket.send(&wire).unwrap();
                sent.store(index as u64 + 1, Ordering::Release);
            }
            done.store(true, Ordering::Release);
        });
        let collector = scope.spawn(|| collect(&receiver, start, &departures, &sent, &done));
        // The flood is under way before the measured client starts.
        while (sent.load(Ordering::Acquire) as usize) < warmup.min(most) && !sender.is_finished() {
            std::thread::sleep(interval);
        }
        let result = during();
        stop.store(true, Ordering::Relaxed);
        sender.join().unwrap();
        let (answers, last) = collector.join().unwrap();
        let cpu = cpu_time(pid).saturating_sub(cpu_before);
        let count = sent.load(Ordering::Acquire) as usize;
        let answered = answers.into_iter().take(count).flatten().collect();
        (Flood { sent: count, answered, cpu, wall: last }, result)
    })
}

/// The collector: each query's first answer (rcode and time) by index, and when the last one
/// came; ends when every query sent is answered, or [`LINGER`] after the last left.
fn collect(socket: &UdpSocket, start: Instant, departures: &[AtomicU64], sent: &AtomicU64, done: &AtomicBool) -> (Vec<Option<(u8, Duration)>>, Duration) {
    let mut answers: Vec<Option<(u8, Duration)>> = vec![None; departures.len()];
    let (mut count, mut last) = (0usize, Duration::ZERO);
    let mut reply = [0u8; 4096];
    let mut finished_at = None;
    loop {
        if done.load(Ordering::Acquire) {
            let total = sent.load(Ordering::Acquire) as usize;
            let since = *finished_at.get_or_insert_with(Instant::now);
            if count >= total || since.elapsed() > LINGER {
                return (answers, last);
            }
        }
        let Ok(len) = socket.recv(&mut reply) else { continue };
        let arrived = start.elapsed();
        if len < 12 {
            continue;
        }
        let id = usize::from(u16::from_be_bytes([reply[0], reply[1]]));
        // IDs repeat every 65,536 queries; `most` is at most that.
        let Some(departed) = departures.get(id).map(|at| at.load(Ordering::Acquire)).filter(|at| *at > 0) else { continue };
        if answers[id].is_none() {
            answers[id] = Some((reply[3] & 0x0F, arrived.saturating_sub(Duration::from_nanos(departed - 1))));
            count += 1;
            last = arrived;
        }
    }
}
