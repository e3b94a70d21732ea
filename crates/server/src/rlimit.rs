//! The open-file limit (`RLIMIT_NOFILE`) at start: raised to what the configured limits need,
//! with a warning naming the numbers when the hard limit is too low for it.
//!
//! A server that runs out of descriptors refuses connections with `EMFILE` long before its own
//! `max-connections` is reached, and its resolver cannot open upstream sockets; many systems
//! start services with a soft limit of 1024.

use crate::config::Settings;
use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Descriptors kept for everything not counted below: log and zone files, the runtime's own,
/// outgoing zone transfers and NOTIFYs, health probes, reused upstream TCP connections.
const MARGIN: u64 = 256;

/// Upstream sockets one resolution may hold at once (a query and a hedged one beside it).
const SOCKETS_PER_RESOLUTION: u64 = 2;

/// What the configured limits ask of the open-file limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Demand {
    /// Listen addresses: one TCP listener each.
    pub addresses: u64,
    /// UDP sockets (one per worker) per address.
    pub workers: u64,
    /// `[tcp] max-connections`, per listener.
    pub max_connections: u64,
    /// Questions the resolver pool resolves at once; 0 when nothing is resolved.
    pub resolutions: u64,
}

impl Demand {
    /// The demand of `settings` with `workers` UDP workers per address.
    pub fn of(settings: &Settings, workers: usize) -> Self {
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        Self {
            addresses: count(settings.listen.len()),
            workers: count(workers.max(1)),
            max_connections: count(settings.tcp.max_connections),
            resolutions: if settings.resolves() { count(settings.resolver.pool.max_resolutions) } else { 0 },
        }
    }

    /// Descriptors needed: per address a TCP listener, its connections (and the one newcomer
    /// held while an evicted connection closes) and its UDP sockets; the resolver's upstream
    /// sockets; and [`MARGIN`].
    pub fn descriptors(&self) -> u64 {
        let per_address = self.max_connections.saturating_add(2).saturating_add(self.workers);
        self.addresses.saturating_mul(per_address).saturating_add(self.resolutions.saturating_mul(SOCKETS_PER_RESOLUTION)).saturating_add(MARGIN)
    }
}

/// What to do about the soft limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The soft limit already allows what is needed.
    Enough,
    /// Raise the soft limit to this, which is what is needed.
    Raise(u64),
    /// The hard limit is below what is needed: raise the soft limit to it (when it is higher)
    /// and warn.
    Short(u64),
}

/// The decision for the current `soft` and `hard` limits and the descriptors `need`ed
/// (`RLIM_INFINITY` is `u64::MAX`, above any need).
pub fn decide(soft: u64, hard: u64, need: u64) -> Decision {
    if soft >= need {
        Decision::Enough
    } else if hard >= need {
        Decision::Raise(need)
    } else {
        Decision::Short(hard)
    }
}

/// What [`raise_to`] found and did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The soft limit found.
    pub soft: u64,
    /// The hard limit (never changed).
    pub hard: u64,
    /// What was decided and done.
    pub decision: Decision,
}

/// Raises the soft open-file limit towards `need`, never above the hard limit.
pub fn raise_to(need: u64) -> nix::Result<Outcome> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    let decision = decide(soft, hard, need);
    match decision {
        Decision::Raise(limit) | Decision::Short(limit) if limit > soft => setrlimit(Resource::RLIMIT_NOFILE, limit, hard)?,
        _ => {}
    }
    Ok(Outcome { soft, hard, decision })
}

/// Raises the open-file limit for what `settings` (with `workers` UDP workers per address)
/// need, and logs what was done; a warning when the limit stays below the need.
pub fn raise_for(settings: &Settings, workers: usize) {
    let need = Demand::of(settings, workers).descriptors();
    match raise_to(need) {
        Ok(Outcome { decision: Decision::Enough, soft, .. }) => tracing::debug!(need, soft, "open-file limit is enough"),
        Ok(Outcome { decision: Decision::Raise(limit), soft, .. }) => tracing::info!(need, from = soft, to = limit, "open-file limit raised"),
        Ok(Outcome { decision: Decision::Short(hard), soft, .. }) => tracing::warn!(
            need,
            from = soft,
            to = hard,
            hard,
            "open-file hard limit (RLIMIT_NOFILE) is below what max-connections, the UDP workers and the resolver need: \
             raise it (ulimit -Hn, systemd LimitNOFILE=) or lower [tcp] max-connections"
        ),
        Err(error) => tracing::warn!(need, %error, "cannot raise the open-file limit (RLIMIT_NOFILE)"),
    }
}

#[cfg(test)]
mod tests {
    use super::{decide, raise_to, Decision, Demand, MARGIN};
    use crate::config::{parse_file, validate};
    use nix::sys::resource::{getrlimit, Resource};

    #[test]
    fn the_need_counts_listeners_connections_udp_sockets_resolutions_and_a_margin() {
        let demand = Demand { addresses: 2, workers: 4, max_connections: 1000, resolutions: 500 };
        assert_eq!(demand.descriptors(), 2 * (1000 + 2 + 4) + 2 * 500 + MARGIN);
        let huge = Demand { addresses: u64::MAX, workers: 1, max_connections: u64::MAX, resolutions: u64::MAX };
        assert_eq!(huge.descriptors(), u64::MAX);
    }

    #[test]
    fn the_demand_comes_from_the_settings() {
        let text = "[server]\nlisten = [\"127.0.0.1:53\", \"[::1]:53\"]\n[tcp]\nmax-connections = 100\n[resolver]\nrecursion = true\n";
        let (raw, errors) = parse_file(text).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        let settings = validate(&raw, None).unwrap();
        let demand = Demand::of(&settings, 3);
        assert_eq!(demand, Demand { addresses: 2, workers: 3, max_connections: 100, resolutions: settings.resolver.pool.max_resolutions as u64 });
        let (raw, _) = parse_file("[server]\nlisten = [\"127.0.0.1:53\"]\n[resolver]\nrecursion = false\n").unwrap();
        let settings = validate(&raw, None).unwrap();
        assert_eq!(Demand::of(&settings, 0).resolutions, 0, "nothing resolved: no upstream sockets");
        assert_eq!(Demand::of(&settings, 0).workers, 1);
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_need_or_to_the_hard_limit_with_a_warning() {
        assert_eq!(decide(4096, 4096, 2000), Decision::Enough);
        assert_eq!(decide(1024, 524_288, 2000), Decision::Raise(2000));
        assert_eq!(decide(1024, u64::MAX, 2000), Decision::Raise(2000));
        assert_eq!(decide(1024, 1500, 2000), Decision::Short(1500));
        assert_eq!(decide(1024, 1024, 2000), Decision::Short(1024));
    }

    #[test]
    fn raising_sets_the_soft_limit_the_kernel_reports() {
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        // Raising only, and within the hard limit: harmless to the other tests of this process.
        let need = soft.saturating_add(16).min(hard);
        let outcome = raise_to(need).unwrap();
        assert_eq!((outcome.soft, outcome.hard), (soft, hard));
        let (after, hard_after) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert!(after >= need, "soft {after} < need {need}");
        assert_eq!(hard_after, hard);
        let short = raise_to(u64::MAX - 1).unwrap();
        if hard < u64::MAX - 1 {
            assert_eq!(short.decision, Decision::Short(hard));
            assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).unwrap().0, hard, "raised as far as the hard limit");
        }
    }
}
