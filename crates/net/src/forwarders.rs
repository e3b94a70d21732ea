//! The forward zones as the I/O layer holds them (issue 5): each zone's [`UpstreamGroup`] behind a
//! mutex (shared by the resolver pool's tasks, the UDP workers' relays and the zone's probe
//! task), replaced as a whole on reload ([`ForwardTable::rebuilt`]) while keeping the health
//! state of every zone whose settings did not change.

use crate::upstream::{Event, Exchange};
use crate::Clock;
use portcullis_engine::resolve::forward::{probe_query, probe_reply_ok, ForwardSettings};
use portcullis_engine::resolve::upstreams::{FailureKind, UpstreamGroup, UpstreamSnapshot};
use portcullis_engine::resolve::{ForwardMode, ForwardZones, Outbound, QueryId, Random};
use portcullis_wire::NameBuf;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// A forward zone's group.
#[derive(Debug)]
pub struct ForwardGroup {
    /// The zone's settings (the group was built from them).
    pub settings: ForwardSettings,
    /// The zone, for logs.
    pub zone: String,
    /// The group's state.
    group: Mutex<UpstreamGroup>,
    /// An encrypted group's connections (kept while its settings are unchanged, across reloads).
    pub encrypted: Option<crate::upstream_encrypted::EncryptedUpstream>,
}

impl ForwardGroup {
    fn new(settings: ForwardSettings) -> Self {
        let group = Mutex::new(UpstreamGroup::new(settings.group.clone()));
        let encrypted = settings.tls.as_ref().and_then(|tls| {
            let made = crate::upstream_encrypted::EncryptedUpstream::new(settings.group.transport, tls);
            // Validated with the configuration: a failure here leaves the group failing closed.
            made.map_err(|error| tracing::error!(zone = %settings.zone, %error, "encrypted forward group unusable")).ok()
        });
        Self { zone: settings.zone.to_string(), settings, group, encrypted }
    }

    /// The group's state, locked.
    pub fn lock(&self) -> MutexGuard<'_, UpstreamGroup> {
        self.group.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Store answers in the cache.
    pub fn caches(&self) -> bool {
        self.settings.cache
    }

    /// Validate the answers (DNSSEC).
    pub fn validates(&self) -> bool {
        self.settings.validate
    }

    /// Logs and drops the group's pending health changes.
    pub fn log_events(&self, group: &mut UpstreamGroup) {
        for event in group.take_events() {
            if event.up {
                tracing::info!(zone = %self.zone, upstream = %event.upstream, tier = ?event.tier, reason = %event.reason, "forward upstream up");
            } else {
                tracing::warn!(zone = %self.zone, upstream = %event.upstream, tier = ?event.tier, reason = %event.reason, "forward upstream down");
            }
        }
    }
}

/// Every forward zone, longest suffix first when looked up.
#[derive(Debug, Default)]
pub struct ForwardTable {
    zones: ForwardZones<Arc<ForwardGroup>>,
    settings: Vec<ForwardSettings>,
}

impl ForwardTable {
    /// A table of new groups.
    pub fn new(settings: &[ForwardSettings]) -> Self {
        Self::rebuilt(settings, &Self::default())
    }

    /// A table for `settings` that keeps `previous`'s group (and so its health state) for every
    /// zone whose settings are unchanged.
    pub fn rebuilt(settings: &[ForwardSettings], previous: &Self) -> Self {
        let mut zones = ForwardZones::new();
        for zone in settings {
            let kept = previous.zones.iter().find(|(_, _, group)| group.settings == *zone).map(|(_, _, group)| group.clone());
            zones.insert(zone.zone, zone.mode, kept.unwrap_or_else(|| Arc::new(ForwardGroup::new(zone.clone()))));
        }
        Self { zones, settings: settings.to_vec() }
    }

    /// The zone that forwards `qname`, if any.
    pub fn lookup(&self, qname: &NameBuf) -> Option<(ForwardMode, &Arc<ForwardGroup>)> {
        self.zones.lookup(qname).map(|(_, mode, group)| (mode, group))
    }

    /// The settings the table was built from.
    pub fn settings(&self) -> &[ForwardSettings] {
        &self.settings
    }

    /// Every zone's group.
    pub fn groups(&self) -> impl Iterator<Item = &Arc<ForwardGroup>> {
        self.zones.iter().map(|(_, _, group)| group)
    }

    /// True when `group` is one of this table's.
    pub fn holds(&self, group: &Arc<ForwardGroup>) -> bool {
        self.groups().any(|have| Arc::ptr_eq(have, group))
    }

    /// Counters and state of every zone's upstreams.
    pub fn snapshot(&self) -> Vec<(String, Vec<UpstreamSnapshot>)> {
        self.groups().map(|group| (group.zone.clone(), group.lock().snapshot())).collect()
    }
}

/// What a probe task needs from its owner; the task ends when [`ProbeOwner::current`] no longer
/// holds its group (reload) or the owner is gone.
pub trait ProbeOwner: Send + Sync + 'static {
    /// The table in use now.
    fn current(&self) -> Arc<ForwardTable>;
    /// The shared clock.
    fn clock(&self) -> Clock;
    /// A fresh random source.
    fn random(&self) -> Box<dyn Random + Send>;
    /// Counts probes sent.
    fn probes(&self) -> &AtomicU64;
}

/// Sends the zone's probe query to each down upstream when it is due, until the group leaves the
/// owner's table.
pub async fn probe_loop<O: ProbeOwner>(owner: std::sync::Weak<O>, group: Arc<ForwardGroup>) {
    let tick = Duration::from_millis(group.lock().settings().probe_interval_ms.clamp(10, 250));
    loop {
        tokio::time::sleep(tick).await;
        let Some(owner) = owner.upgrade() else { return };
        if !owner.current().holds(&group) {
            return;
        }
        let (now, _) = owner.clock().now();
        let due: Vec<(usize, SocketAddr, u64)> = {
            let mut state = group.lock();
            let due = state.probes_due(now);
            due.into_iter()
                .filter_map(|index| {
                    state.probe_sent(index);
                    Some((index, state.addr(index)?, state.timeout_ms(index)))
                })
                .collect()
        };
        for (index, server, timeout_ms) in due {
            owner.probes().fetch_add(1, Ordering::Relaxed);
            let mut id_bytes = [0u8; 2];
            owner.random().fill(&mut id_bytes);
            let (clock, group) = (owner.clock(), group.clone());
            tokio::spawn(async move {
                let outcome = probe(&group, server, u16::from_be_bytes(id_bytes), timeout_ms).await;
                let (after, _) = clock.now();
                let mut state = group.lock();
                match outcome {
                    Ok(()) => state.on_success(index, after.as_millis().saturating_sub(now.as_millis()), after),
                    Err(kind) => state.on_failure(index, kind, after),
                }
                group.log_events(&mut state);
            });
        }
    }
}

/// One probe query over UDP (or the group's encrypted transport): Ok when the upstream answers it ([`probe_reply_ok`]: any rcode but
/// SERVFAIL).
async fn probe(group: &ForwardGroup, server: SocketAddr, wire_id: u16, timeout_ms: u64) -> Result<(), FailureKind> {
    let outbound = Outbound {
        id: QueryId(0),
        server,
        transport: portcullis_engine::Transport::Udp,
        bytes: probe_query(&group.settings.probe, wire_id),
        deadline: portcullis_engine::policy::Instant::from_millis(0),
    };
    let budget = Duration::from_millis(timeout_ms);
    if let Some(encrypted) = &group.encrypted {
        return match encrypted.query(server, outbound.bytes.clone(), budget).await {
            Event::Message(from, bytes) if from == server && probe_reply_ok(&outbound.bytes, &bytes) => Ok(()),
            Event::Message(..) => Err(FailureKind::Unreachable),
            Event::Failed => Err(FailureKind::Timeout),
        };
    }
    tokio::time::timeout(budget, async {
        let mut exchange = Exchange::start(&outbound, budget).await;
        loop {
            match exchange.next().await {
                Event::Message(from, bytes) if from == server && probe_reply_ok(&outbound.bytes, &bytes) => return Ok(()),
                Event::Message(..) => {}
                Event::Failed => return Err(FailureKind::Unreachable),
            }
        }
    })
    .await
    .unwrap_or(Err(FailureKind::Timeout))
}
