//! The detectors' part of the log and of the alerts (issue 16 item 4): once a second the
//! tunnelling detector's new detections are drained, each logged as one structured line
//! (client prefix, registered domain, score, action, the features that made it) and raised as an
//! alert of kind `tunnelling` (merged with the alert already kept about the same prefix and
//! domain).

use portcullis_engine::policy::shadow::ShadowDetector;
use portcullis_engine::policy::tunnel::{TunnelDetector, TunnelEvent};
use portcullis_engine::policy::{Alert, AlertAction, AlertKind, Alerts};

/// Logs and raises the detections made since the last call.
pub fn log_events(detector: &TunnelDetector, alerts: &Alerts) {
    let now = crate::outgoing::unix_now();
    for event in detector.drain_events() {
        let features = &event.features;
        let action = if event.blocked { AlertAction::Block } else { AlertAction::Log };
        tracing::warn!(
            detector = "tunnelling",
            client = %event.client,
            domain = %event.domain,
            score = format!("{:.2}", event.score),
            action = action.as_str(),
            information = features.information.round(),
            randomness = format!("{:.2}", features.randomness),
            names = features.names.round(),
            carriers = format!("{:.2}", features.carriers),
            nxdomain = format!("{:.2}", features.nxdomain),
            queries = features.queries,
            "DNS tunnelling suspected: {} sends about {:.0} octets a minute of random-looking names under {}",
            event.client,
            features.information,
            event.domain,
        );
        alerts.raise(alert(&event, action, now));
    }
}

/// The alert of one detection.
fn alert(event: &TunnelEvent, action: AlertAction, now: u64) -> Alert {
    let features = &event.features;
    let detail = format!(
        "about {:.0} octets of names a minute (randomness {:.2}, {:.0} distinct names, carrier qtypes {:.0}%, NXDOMAIN {:.0}%, {} queries){}",
        features.information,
        features.randomness,
        features.names,
        features.carriers * 100.0,
        features.nxdomain * 100.0,
        features.queries,
        if event.blocked { "; its queries are refused (EDE 15) for detection.tunnelling-hold" } else { "" },
    );
    Alert::new(AlertKind::Tunnelling, action, now, detail).domain(event.domain.clone()).client(event.client.to_string()).score(event.score)
}

/// Logs and raises the shadowing detector's events since the last call.
pub fn log_shadowing(detector: &ShadowDetector, alerts: &Alerts) {
    let now = crate::outgoing::unix_now();
    for event in detector.drain_events() {
        let detail = format!(
            "{} names seen for the first time within {} s under an established domain, answered from networks it did not use (e.g. {})",
            event.names,
            detector.settings().burst_window,
            event.network
        );
        tracing::warn!(detector = "shadowing", domain = %event.domain, names = event.names, network = %event.network, "domain shadowing suspected: {detail}");
        alerts.raise(Alert::new(AlertKind::Shadowing, AlertAction::Log, now, detail).domain(event.domain).score(f64::from(event.names)));
    }
}
