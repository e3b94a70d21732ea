//! Sending NOTIFY (RFC 1996) to a zone's secondaries when it is loaded with a new serial: at
//! start, and on a reload that changed the serial. One task per secondary sends the message over
//! UDP from a port of its own and waits for the answer, 5 times at most, waiting 1, 2, 4, 8 and
//! 16 seconds (§3.6: retransmit with back-off until answered); every outcome is logged. With the
//! zone's TSIG key the NOTIFY is signed, and only an answer whose signature verifies counts.

use crate::outgoing::{connected_udp, random_id, unix_now};
use portcullis_engine::auth::notify::{notify_message, notify_reply};
use portcullis_engine::auth::Zone;
use portcullis_engine::policy::tsig::TsigKey;
use portcullis_engine::policy::tsig_client::sign_request;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Sends per secondary.
const ATTEMPTS: u32 = 5;

/// Tells every one of `targets` that `zone` changed, in tasks of their own on the current
/// runtime.
pub fn notify_all(zone: &Arc<Zone>, targets: &[SocketAddr], key: Option<&TsigKey>) {
    for &target in targets {
        let (zone, key) = (zone.clone(), key.cloned());
        tokio::spawn(async move { notify_one(&zone, target, key.as_ref()).await });
    }
}

async fn notify_one(zone: &Zone, target: SocketAddr, key: Option<&TsigKey>) {
    let origin = zone.origin().to_string();
    let serial = zone.serial().unwrap_or_default();
    let Some(unsigned) = notify_message(zone, random_id()) else { return };
    let Ok(socket) = connected_udp(target).await else { return tracing::warn!(zone = %origin, %target, "notify: cannot open a socket") };
    let mut buf = vec![0u8; 4096];
    for attempt in 0..ATTEMPTS {
        // Each send is signed anew: a secondary with a replay cache refuses the same signed bytes
        // twice, and only the answer to the latest send verifies.
        let mut query = unsigned.clone();
        let mut verifier = key.map(|key| sign_request(key, &mut query, unix_now()));
        if socket.send(&query).await.is_err() {
            tracing::debug!(zone = %origin, %target, "notify: send failed");
        }
        let wait = Duration::from_secs(1 << attempt);
        let answer = tokio::time::timeout(wait, async {
            loop {
                let Ok(len) = socket.recv(&mut buf).await else { return None };
                let Some(rcode) = notify_reply(&buf[..len], &unsigned) else { continue };
                match verifier.as_mut().map(|verifier| verifier.verify(&buf[..len], unix_now())) {
                    Some(Err(error)) => tracing::debug!(zone = %origin, %target, %error, "notify: an answer that does not verify"),
                    _ => return Some(rcode),
                }
            }
        })
        .await;
        match answer {
            Ok(Some(rcode)) => return tracing::info!(zone = %origin, serial, %target, %rcode, "notify answered"),
            Ok(None) => tokio::time::sleep(wait).await,
            Err(_) => {}
        }
    }
    tracing::warn!(zone = %origin, serial, %target, attempts = ATTEMPTS, "notify not answered");
}
