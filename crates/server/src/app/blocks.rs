//! `portcullis ctl blocks`, `ctl unblock` and `ctl clear-blocks`: the tunnelling detector's
//! holds read and lifted (`engine::policy::tunnel::holds`). The detector keeps only a keyed hash
//! per account, so the holds are named from the alerts it raised (kind `tunnelling`, action
//! `block`: client prefix and registered domain) and each is checked against the detector, which
//! says until when it holds; the count of every held account comes from the detector itself (a
//! hold whose alert was cleared is counted, not named). RRL's part (its limits) is added by the
//! control socket from the counters (`ctl::server`).

use super::build::Shared;
use portcullis_engine::base::Prefix;
use portcullis_engine::policy::{AlertAction, AlertKind};
use portcullis_net::Clock;
use portcullis_wire::NameBuf;
use serde_json::{json, Value};

/// The holds in force: `{"tunnelling": [{client, domain, until, seconds_left}], "held": N}`.
pub(super) fn list(shared: &Shared, clock: Clock) -> Value {
    let Some(detector) = shared.tunnel_detector() else {
        return json!({"tunnelling": [], "held": 0, "detector": "off"});
    };
    let (now, unix) = clock.now();
    let mut holds = Vec::new();
    let mut alerts = shared.alerts.list();
    alerts.retain(|alert| alert.kind == AlertKind::Tunnelling && alert.action == AlertAction::Block);
    for alert in &alerts {
        let (Some(client), Some(domain)) = (alert.client.as_deref(), alert.domain.as_deref()) else { continue };
        let Ok((prefix, name)) = account(client, domain) else { continue };
        let Some(until) = detector.hold_until(&prefix, name.as_wire(), now) else { continue };
        let left = until.saturating_sub(now.as_secs());
        holds.push(json!({"client": prefix.to_string(), "domain": domain, "until": crate::stats::rfc3339(unix + left), "seconds_left": left}));
    }
    holds.dedup();
    json!({"tunnelling": holds, "held": detector.held(now)})
}

/// Lifts the hold of `client` (a prefix as the detector names it, or an address) on `domain`.
pub(super) fn unblock(shared: &Shared, clock: Clock, client: &str, domain: &str) -> Result<String, String> {
    let detector = shared.tunnel_detector().ok_or("the tunnelling detector is off: nothing is held")?;
    let (prefix, name) = account(client, domain)?;
    let prefix = match client.contains('/') {
        true => prefix,
        // An address: the account's prefix covering it, as the detector forms it.
        false => {
            let settings = detector.settings();
            let len = if prefix.addr().is_ipv4() { settings.prefix_v4 } else { settings.prefix_v6 };
            Prefix::covering(prefix.addr(), len)
        }
    };
    match detector.release(&prefix, name.as_wire(), clock.now().0) {
        true => Ok(format!("tunnelling hold lifted: {prefix} on {name}")),
        false => Err(format!("no tunnelling hold for {prefix} on {name} (see `portcullis ctl blocks`)")),
    }
}

/// Lifts every tunnelling hold; the message says how many.
pub(super) fn clear_tunnelling(shared: &Shared, clock: Clock) -> String {
    let lifted = shared.tunnel_detector().map_or(0, |detector| detector.release_all(clock.now().0));
    format!("{lifted} tunnelling holds lifted")
}

/// The account's prefix and domain (lower-case, absolute) from their text.
fn account(client: &str, domain: &str) -> Result<(Prefix, NameBuf), String> {
    let prefix = match client.parse::<Prefix>() {
        Ok(prefix) => prefix,
        Err(_) => client.parse::<std::net::IpAddr>().map(Prefix::host).map_err(|_| format!("'{client}' is neither a client prefix nor an address"))?,
    };
    let name = NameBuf::from_text(domain, Some(&NameBuf::ROOT)).map_err(|error| format!("'{domain}' is not a domain name: {error}"))?;
    Ok((prefix, name.to_lowercase()))
}
