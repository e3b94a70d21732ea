//! Secondary zones (RFC 1034 §4.3.5, RFC 1996, RFC 5936): one task per zone asks its primaries
//! for the SOA serial and, when it is newer than ours (or we have none), transfers the zone by
//! AXFR over TCP and swaps it into the engine. It does so at start, every SOA refresh interval,
//! and at once on a NOTIFY the engine accepted for the zone; after a failure it tries again
//! after the SOA retry interval (5 s at first, doubling, until a first copy is loaded), and
//! stops serving a copy not refreshed for the SOA expire interval. With a `key`, the SOA queries
//! and transfer requests are TSIG-signed and every answer must verify (RFC 8945). With a `file`,
//! each copy is written there durably (`durable`), its modification time set by every successful
//! refresh; at start the copy found there is served until a refresh replaces it, or until the
//! SOA expire interval after that time (one already older is not served). A transfer past the
//! zone's record or byte cap, or not finished within its `transfer-timeout`, is given up like
//! any failed refresh: the copy served stays.

use portcullis_engine::auth::receive::{axfr_query, soa_answer_serial, soa_query, Incoming, TransferError, TransferLimit};
use portcullis_engine::auth::transfer::serial_greater;
use portcullis_engine::auth::transfer::soa_timers;
use portcullis_engine::auth::zone_text::zone_text;
use portcullis_engine::auth::{Zone, ZoneSet};
use portcullis_engine::engine::NotifyHook;
use portcullis_engine::policy::tsig::TsigKey;
use portcullis_engine::policy::tsig_client::sign_request;
use portcullis_net::EngineHandle;
use portcullis_wire::NameBuf;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::config::ZoneSettings;
use crate::durable;
use crate::key_config::find_key;
use crate::outgoing::{connected_udp, random_id, unix_now};

/// Time allowed for an SOA answer, and for each message of a transfer (the whole transfer has
/// the zone's `transfer-timeout`).
const QUERY_TIMEOUT: Duration = Duration::from_secs(3);
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);
/// Shortest time between two refreshes a NOTIFY starts.
const MIN_REFRESH: Duration = Duration::from_secs(1);
/// Refresh, retry and expire before the first copy gives the SOA's.
const DEFAULT_TIMERS: (u32, u32, u32) = (3600, 900, 604_800);

/// The task keeping one zone, with what it was started with.
struct Task {
    settings: ZoneSettings,
    key: Option<TsigKey>,
    handle: JoinHandle<()>,
    /// Set when the zone is no longer configured: the task installs nothing more.
    stopped: Arc<AtomicBool>,
}

/// The transferred zones and the tasks that keep them.
#[derive(Default)]
pub struct SecondaryZones {
    zones: Mutex<HashMap<NameBuf, Arc<Zone>>>,
    wakers: Mutex<HashMap<NameBuf, Arc<Notify>>>,
    tasks: Mutex<HashMap<NameBuf, Task>>,
    /// Held while the engine's zone set is rebuilt, so that a transfer and a reload do not
    /// undo each other.
    pub install: Mutex<()>,
}

impl SecondaryZones {
    /// The copies transferred so far.
    pub fn loaded(&self) -> Vec<Arc<Zone>> {
        lock(&self.zones).values().cloned().collect()
    }

    /// The origins of the secondary zones configured (with a task, copy or not).
    pub fn origins(&self) -> Vec<NameBuf> {
        lock(&self.tasks).keys().copied().collect()
    }

    /// Wakes `origin`'s task to ask its primaries for a newer serial now, as a NOTIFY does
    /// (`portcullis ctl reload-zone`); false when it is not a secondary zone.
    pub fn refresh_now(&self, origin: &NameBuf) -> bool {
        let known = lock(&self.tasks).keys().any(|have| have.to_lowercase() == origin.to_lowercase());
        if known {
            self.waker(origin).notify_one();
        }
        known
    }

    /// The hook the engine calls for an accepted NOTIFY: wakes the zone's task.
    pub fn hook(self: &Arc<Self>) -> NotifyHook {
        let this = Arc::downgrade(self);
        NotifyHook(Arc::new(move |origin: &NameBuf| {
            if let Some(this) = this.upgrade() {
                this.waker(origin).notify_one();
            }
        }))
    }

    /// Starts a task for every secondary zone of `zones` that has none with these settings and
    /// key, and stops the others: their copies leave the engine.
    pub fn configure(self: &Arc<Self>, zones: &[ZoneSettings], keys: &[TsigKey], engine: &EngineHandle) {
        let key_of = |zone: &ZoneSettings| zone.key.and_then(|name| find_key(keys, &name).cloned());
        let wanted: Vec<(&ZoneSettings, Option<TsigKey>)> = zones.iter().filter(|zone| !zone.primaries.is_empty()).map(|zone| (zone, key_of(zone))).collect();
        let mut tasks = lock(&self.tasks);
        let mut stopped = Vec::new();
        tasks.retain(|origin, task| {
            let keep = wanted.iter().any(|(zone, key)| **zone == task.settings && *key == task.key);
            if !keep {
                task.stopped.store(true, Ordering::Relaxed);
                task.handle.abort();
                stopped.push(*origin);
            }
            keep
        });
        for origin in stopped {
            self.install(&origin, None, engine, None);
        }
        for (zone, key) in wanted {
            if tasks.contains_key(&zone.origin) {
                continue;
            }
            let stopped = Arc::new(AtomicBool::new(false));
            let (this, settings, task_key, engine, flag) = (self.clone(), zone.clone(), key.clone(), engine.clone(), stopped.clone());
            let handle = tokio::spawn(async move { this.keep(settings, task_key, engine, flag).await });
            tasks.insert(zone.origin, Task { settings: zone.clone(), key, handle, stopped });
        }
    }

    fn waker(&self, origin: &NameBuf) -> Arc<Notify> {
        lock(&self.wakers).entry(origin.to_lowercase()).or_default().clone()
    }

    /// The task of one zone.
    async fn keep(self: Arc<Self>, zone: ZoneSettings, key: Option<TsigKey>, engine: EngineHandle, stopped: Arc<AtomicBool>) {
        let waker = self.waker(&zone.origin);
        let mut timers = DEFAULT_TIMERS;
        // Until when the copy served may be: the SOA expire interval after the last refresh.
        let mut valid_until: Option<Instant> = None;
        if let Some((copy, left)) = read_copy(&zone).await {
            timers = copy.soa_rdata().and_then(soa_timers).unwrap_or(DEFAULT_TIMERS);
            self.install(&zone.origin, Some(Arc::new(copy)), &engine, Some(&stopped));
            valid_until = Some(Instant::now() + left);
        }
        // Until a first copy is loaded: 5 s, doubling up to the retry interval.
        let mut backoff = 5u32;
        loop {
            let current = lock(&self.zones).get(&zone.origin).and_then(|copy| copy.serial());
            let wait = match refresh(&zone, current, key.as_ref()).await {
                Ok(fresh) => {
                    if let Some(copy) = fresh {
                        timers = copy.soa_rdata().and_then(soa_timers).unwrap_or(DEFAULT_TIMERS);
                        tracing::info!(zone = %zone.origin, serial = copy.serial().unwrap_or_default(), names = copy.node_count(), "secondary zone transferred");
                        let copy = Arc::new(copy);
                        self.install(&zone.origin, Some(copy.clone()), &engine, Some(&stopped));
                        write_copy(&zone, copy).await;
                    } else {
                        touch_copy(&zone).await;
                    }
                    valid_until = Some(Instant::now() + secs(timers.2));
                    timers.0
                }
                Err(error) => {
                    let kept = lock(&self.zones).contains_key(&zone.origin);
                    tracing::warn!(zone = %zone.origin, %error, kept, "secondary zone: refresh failed; the copy served, if any, is kept");
                    if valid_until.is_some_and(|until| Instant::now() >= until) {
                        tracing::error!(zone = %zone.origin, "secondary zone expired: no longer served");
                        self.install(&zone.origin, None, &engine, Some(&stopped));
                        valid_until = None;
                    }
                    if lock(&self.zones).contains_key(&zone.origin) {
                        timers.1
                    } else {
                        let wait = backoff;
                        backoff = (backoff * 2).min(timers.1.max(5));
                        wait
                    }
                }
            };
            let refreshed = tokio::time::Instant::now();
            tokio::select! {
                () = tokio::time::sleep(secs(wait.max(1))) => {}
                // A NOTIFY that came during the refresh or the hold-off below left a permit in
                // `waker` (`notify_one`): it is taken here at once, so it is deferred, never lost.
                () = waker.notified() => {
                    tracing::info!(zone = %zone.origin, "secondary zone: NOTIFY received, refreshing");
                    // However many NOTIFY come, at most one refresh per MIN_REFRESH.
                    tokio::time::sleep_until(refreshed + MIN_REFRESH).await;
                }
            }
        }
    }

    /// Puts `copy` (or, with `None`, no copy) of `origin` into the engine; from a task, only
    /// while it is not `stopped` (checked under the lock, so a stopped zone never comes back).
    fn install(&self, origin: &NameBuf, copy: Option<Arc<Zone>>, engine: &EngineHandle, stopped: Option<&AtomicBool>) {
        let _install = lock(&self.install);
        if stopped.is_some_and(|flag| flag.load(Ordering::Relaxed)) {
            return;
        }
        match &copy {
            Some(copy) => lock(&self.zones).insert(*origin, copy.clone()),
            None => lock(&self.zones).remove(origin),
        };
        let current = engine.load_full();
        let mut zones: Vec<Arc<Zone>> = current.zones().iter().filter(|zone| zone.origin() != origin).cloned().collect();
        zones.extend(copy);
        engine.store(Arc::new(current.with_zones(ZoneSet::new(zones))));
    }
}

/// Asks the primaries in turn: `Ok(None)` when our `current` serial is not older than the first
/// one that answers, `Ok(Some(zone))` after a transfer, `Err` when none answered usefully.
async fn refresh(zone: &ZoneSettings, current: Option<u32>, key: Option<&TsigKey>) -> Result<Option<Zone>, TransferError> {
    let mut last = TransferError("no primary".into());
    for &primary in &zone.primaries {
        let serial = match primary_serial(&zone.origin, primary, key).await {
            Ok(serial) => serial,
            Err(error) => {
                last = TransferError(format!("{primary}: {error}"));
                continue;
            }
        };
        if current.is_some_and(|ours| !serial_greater(serial, ours)) {
            return Ok(None);
        }
        match transfer(zone, primary, key).await {
            Ok(copy) => return Ok(Some(copy)),
            Err(error) => last = TransferError(format!("{primary}: {error}")),
        }
    }
    Err(last)
}

/// The primary's serial, from an SOA query over UDP (signed with `key`, and its answer checked).
async fn primary_serial(origin: &NameBuf, primary: SocketAddr, key: Option<&TsigKey>) -> Result<u32, TransferError> {
    let id = random_id();
    let mut query = soa_query(origin, id);
    let mut verifier = key.map(|key| sign_request(key, &mut query, unix_now()));
    let io = |e: std::io::Error| TransferError(e.to_string());
    let socket = connected_udp(primary).await.map_err(io)?;
    socket.send(&query).await.map_err(io)?;
    let mut buf = vec![0u8; 65_535];
    let answer = tokio::time::timeout(QUERY_TIMEOUT, async {
        loop {
            let len = socket.recv(&mut buf).await.map_err(io)?;
            if buf.get(..2) == Some(&id.to_be_bytes()[..]) {
                if let Some(verifier) = verifier.as_mut() {
                    verifier.verify(&buf[..len], unix_now()).map_err(TransferError)?;
                }
                return soa_answer_serial(&buf[..len], origin, id);
            }
        }
    });
    answer.await.map_err(|_| TransferError("no answer to the SOA query".into()))?
}

/// The zone, by AXFR over TCP (signed with `key`, and every message checked), within the zone's
/// transfer bounds: records and bytes, and `transfer-timeout` from connect to last message.
async fn transfer(zone: &ZoneSettings, primary: SocketAddr, key: Option<&TsigKey>) -> Result<Zone, TransferError> {
    let deadline = zone.transfer.timeout;
    let incoming = tokio::time::timeout(deadline, receive(zone, primary, key))
        .await
        .map_err(|_| TransferError(format!("transfer given up: not finished within {} s (transfer-timeout)", deadline.as_secs())))??;
    // Building a large zone is CPU work: off the I/O threads.
    tokio::task::spawn_blocking(move || incoming.finish()).await.map_err(|e| TransferError(e.to_string()))?
}

/// The messages of the transfer, to its closing SOA.
async fn receive(zone: &ZoneSettings, primary: SocketAddr, key: Option<&TsigKey>) -> Result<Incoming, TransferError> {
    let id = random_id();
    let io = |e: std::io::Error| TransferError(e.to_string());
    let timeout = |_| TransferError("timed out".into());
    let mut stream = tokio::time::timeout(QUERY_TIMEOUT, TcpStream::connect(primary)).await.map_err(timeout)?.map_err(io)?;
    let mut query = axfr_query(&zone.origin, id);
    let mut verifier = key.map(|key| sign_request(key, &mut query, unix_now()));
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&query);
    stream.write_all(&framed).await.map_err(io)?;
    let limits = zone.transfer.limits;
    let mut incoming = Incoming::with_limits(zone.origin, id, limits);
    let mut buf = vec![0u8; 65_535];
    loop {
        let mut prefix = [0u8; 2];
        tokio::time::timeout(MESSAGE_TIMEOUT, stream.read_exact(&mut prefix)).await.map_err(timeout)?.map_err(io)?;
        let len = usize::from(u16::from_be_bytes(prefix));
        tokio::time::timeout(MESSAGE_TIMEOUT, stream.read_exact(&mut buf[..len])).await.map_err(timeout)?.map_err(io)?;
        if let Some(verifier) = verifier.as_mut() {
            verifier.verify(&buf[..len], unix_now()).map_err(TransferError)?;
        }
        if incoming.add(&buf[..len]).map_err(|error| name_limit(error, incoming.exceeded()))? {
            break;
        }
    }
    if verifier.as_ref().is_some_and(|verifier| !verifier.ended_signed()) {
        return Err(TransferError("the transfer's last message is not signed".into()));
    }
    Ok(incoming)
}

/// A transfer given up past one of its limits says which key bounds it.
fn name_limit(error: TransferError, exceeded: Option<TransferLimit>) -> TransferError {
    let key = match exceeded {
        Some(TransferLimit::Records) => "transfer-max-records",
        Some(TransferLimit::Bytes) => "transfer-max-bytes",
        None => return error,
    };
    TransferError(format!("transfer given up: {error} ({key})"))
}

/// The copy kept in the zone's `file`, when there is one that loads and has not expired, with
/// how long it may still be served: its SOA expire interval counts from the file's modification
/// time (set by each successful refresh), not from the restart.
async fn read_copy(zone: &ZoneSettings) -> Option<(Zone, Duration)> {
    if zone.file.as_os_str().is_empty() || !zone.file.exists() {
        return None;
    }
    let settings = zone.clone();
    let (loaded, age) = tokio::task::spawn_blocking(move || (crate::app::load_one(&settings), durable::age(&settings.file))).await.ok()?;
    let (file, origin) = (zone.file.display(), zone.origin);
    let copy = match loaded {
        Ok(copy) => copy,
        Err(error) => {
            tracing::warn!(zone = %origin, %file, %error, "secondary zone: the kept copy does not load");
            return None;
        }
    };
    let age = age.unwrap_or(Duration::MAX);
    let expire = secs(copy.soa_rdata().and_then(soa_timers).unwrap_or(DEFAULT_TIMERS).2);
    let serial = copy.serial().unwrap_or_default();
    match expire.checked_sub(age).filter(|left| !left.is_zero()) {
        Some(left) => {
            tracing::info!(zone = %origin, %file, serial, age_secs = age.as_secs(), expires_in_secs = left.as_secs(), "secondary zone: kept copy loaded");
            Some((copy, left))
        }
        None => {
            tracing::error!(zone = %origin, %file, serial, age_secs = age.as_secs(), expire_secs = expire.as_secs(), "secondary zone: the kept copy has expired (last refreshed longer ago than the SOA expire), not served");
            None
        }
    }
}

/// Writes `copy` to the zone's `file`, when given, durably ([`durable::write_file`]): a crash
/// never leaves half a zone, and the file's modification time is the refresh's.
async fn write_copy(zone: &ZoneSettings, copy: Arc<Zone>) {
    if zone.file.as_os_str().is_empty() {
        return;
    }
    let path = zone.file.clone();
    let written = tokio::task::spawn_blocking(move || durable::write_file(&path, zone_text(&copy).as_bytes())).await;
    match written {
        Ok(Ok(())) => tracing::debug!(zone = %zone.origin, file = %zone.file.display(), "secondary zone: copy kept"),
        Ok(Err(error)) => tracing::warn!(zone = %zone.origin, file = %zone.file.display(), %error, "secondary zone: cannot keep the copy"),
        Err(_) => {}
    }
}

/// Marks the kept copy as refreshed now (a refresh found the serial unchanged): its expiry
/// after a restart counts from here.
async fn touch_copy(zone: &ZoneSettings) {
    if zone.file.as_os_str().is_empty() {
        return;
    }
    let path = zone.file.clone();
    if let Ok(Err(error)) = tokio::task::spawn_blocking(move || durable::touch(&path)).await {
        tracing::warn!(zone = %zone.origin, file = %zone.file.display(), %error, "secondary zone: cannot mark the kept copy refreshed");
    }
}

fn secs(seconds: u32) -> Duration {
    Duration::from_secs(u64::from(seconds))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
