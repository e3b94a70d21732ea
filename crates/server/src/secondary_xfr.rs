//! A secondary zone's refresh over the network (RFC 1995, RFC 1996, RFC 5936): the SOA query,
//! then IXFR from the copy held (with its serial), falling back to AXFR when the primary
//! answers in a way that cannot be used (an error, NOTIMP, FORMERR, REFUSED, a stream that does
//! not parse) or when the differences it sent do not apply to the copy (a record deleted that
//! is not there, serials out of sequence). Every zone got is built on a copy, never the one
//! served, and checked against its ZONEMD (RFC 8976) when it has one; a zone that fails any
//! check is refused and the copy served stays.

use portcullis_engine::auth::diff::{apex_soa, apply, ZoneDiff};
use portcullis_engine::auth::receive::{axfr_query, soa_answer_serial, soa_query, Incoming, TransferError, TransferLimit};
use portcullis_engine::auth::receive_ixfr::{ixfr_query, IncomingIxfr, Received};
use portcullis_engine::auth::transfer::serial_greater;
use portcullis_engine::auth::zonemd::{self, ZonemdCheck};
use portcullis_engine::auth::Zone;
use portcullis_engine::policy::tsig::TsigKey;
use portcullis_engine::policy::tsig_client::sign_request;
use portcullis_wire::NameBuf;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::ZoneSettings;
use crate::outgoing::{connected_udp, random_id, unix_now};

/// Time allowed for an SOA answer, and for each message of a transfer (the whole transfer has
/// the zone's `transfer-timeout`).
const QUERY_TIMEOUT: Duration = Duration::from_secs(3);
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// A newer version got from a primary.
pub enum Fresh {
    /// By IXFR: the new version (the differences applied to a copy) and the differences.
    Incremental(Zone, Vec<ZoneDiff>),
    /// By AXFR (or IXFR in AXFR form): the whole zone.
    Full(Zone),
}

impl Fresh {
    /// The new version.
    pub fn zone(&self) -> &Zone {
        match self {
            Self::Incremental(zone, _) | Self::Full(zone) => zone,
        }
    }

    /// "IXFR" or "AXFR", for the log.
    pub fn method(&self) -> &'static str {
        match self {
            Self::Incremental(..) => "IXFR",
            Self::Full(_) => "AXFR",
        }
    }
}

/// Asks the primaries in turn: `Ok(None)` when our `current` copy is not older than the first
/// one that answers, `Ok(Some(fresh))` after a transfer, `Err` when none answered usefully.
pub async fn refresh(
    zone: &ZoneSettings,
    current: Option<Arc<Zone>>,
    key: Option<&TsigKey>,
    transfers: &tokio::sync::Semaphore,
) -> Result<Option<Fresh>, TransferError> {
    let mut last = TransferError("no primary".into());
    for &primary in &zone.primaries {
        let serial = match primary_serial(&zone.origin, primary, key).await {
            Ok(serial) => Ok(serial),
            Err(udp) => crate::soa_tcp::primary_serial(&zone.origin, primary, key).await.map_err(|tcp| TransferError(format!("{}; {}", udp.0, tcp.0))),
        };
        let serial = match serial {
            Ok(serial) => serial,
            Err(error) => {
                last = TransferError(format!("{primary}: {error}"));
                continue;
            }
        };
        let ours = current.as_ref().and_then(|copy| copy.serial());
        if ours.is_some_and(|ours| !serial_greater(serial, ours)) {
            return Ok(None);
        }
        // At most `TRANSFERS_IN` transfers in at once (a catalog's members starting together).
        let _permit = transfers.acquire().await.ok();
        if let Some(current) = &current {
            match incremental(zone, primary, key, current.clone()).await {
                Ok(fresh) => return Ok(fresh),
                Err(error) => tracing::warn!(zone = %zone.origin, %primary, %error, "secondary zone: IXFR failed, the copy served is kept; trying AXFR"),
            }
        }
        match transfer(zone, primary, key).await {
            Ok(copy) => return Ok(Some(Fresh::Full(copy))),
            Err(error) => last = TransferError(format!("{primary}: {error}")),
        }
    }
    Err(last)
}

/// IXFR from `primary` with our `current` copy's SOA: `Ok(None)` when the primary says we are
/// current, the new version otherwise (built on a copy, ZONEMD checked).
async fn incremental(zone: &ZoneSettings, primary: SocketAddr, key: Option<&TsigKey>, current: Arc<Zone>) -> Result<Option<Fresh>, TransferError> {
    let soa = apex_soa(&current).ok_or_else(|| TransferError("our copy has no SOA".into()))?;
    let ours = current.serial().unwrap_or_default();
    let id = random_id();
    let mut incoming = IncomingIxfr::new(zone.origin, id, ours, zone.transfer.limits);
    let query = ixfr_query(&zone.origin, id, &soa);
    let deadline = zone.transfer.timeout;
    tokio::time::timeout(deadline, exchange(primary, query, key, |bytes| incoming.add(bytes).map_err(|error| name_limit(error, incoming.exceeded()))))
        .await
        .map_err(|_| TransferError(format!("IXFR given up: not finished within {} s (transfer-timeout)", deadline.as_secs())))??;
    let built = tokio::task::spawn_blocking(move || match incoming.finish()? {
        Received::UpToDate => Ok(None),
        Received::Full(zone) => checked(*zone).map(|zone| Some(Fresh::Full(zone))),
        Received::Incremental(diffs) => {
            let zone = apply(&current, &diffs).map_err(|e| TransferError(format!("the differences do not apply to our copy: {e}")))?;
            checked(zone).map(|zone| Some(Fresh::Incremental(zone, diffs)))
        }
    });
    built.await.map_err(|e| TransferError(e.to_string()))?
}

/// `zone` when its ZONEMD, if any, verifies (RFC 8976 §4).
fn checked(zone: Zone) -> Result<Zone, TransferError> {
    match zonemd::check(&zone) {
        ZonemdCheck::Absent | ZonemdCheck::Verified => Ok(zone),
        ZonemdCheck::Unsupported => {
            tracing::info!(zone = %zone.origin(), "secondary zone: its ZONEMD uses a scheme or hash algorithm not known here; not checked");
            Ok(zone)
        }
        ZonemdCheck::Mismatch(why) => Err(TransferError(format!("ZONEMD does not verify: {why}"))),
    }
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
/// transfer bounds: records and bytes, and `transfer-timeout` from connect to last message; its
/// ZONEMD checked.
async fn transfer(zone: &ZoneSettings, primary: SocketAddr, key: Option<&TsigKey>) -> Result<Zone, TransferError> {
    let deadline = zone.transfer.timeout;
    let id = random_id();
    let mut incoming = Incoming::with_limits(zone.origin, id, zone.transfer.limits);
    let query = axfr_query(&zone.origin, id);
    tokio::time::timeout(deadline, exchange(primary, query, key, |bytes| incoming.add(bytes).map_err(|error| name_limit(error, incoming.exceeded()))))
        .await
        .map_err(|_| TransferError(format!("transfer given up: not finished within {} s (transfer-timeout)", deadline.as_secs())))??;
    // Building a large zone is CPU work: off the I/O threads.
    tokio::task::spawn_blocking(move || incoming.finish().and_then(checked)).await.map_err(|e| TransferError(e.to_string()))?
}

/// Sends `query` over TCP (signed with `key`) and hands every message of the answer, verified,
/// to `add` until it says the answer is complete.
pub(crate) async fn exchange(
    primary: SocketAddr,
    mut query: Vec<u8>,
    key: Option<&TsigKey>,
    mut add: impl FnMut(&[u8]) -> Result<bool, TransferError>,
) -> Result<(), TransferError> {
    let io = |e: std::io::Error| TransferError(e.to_string());
    let timeout = |_| TransferError("timed out".into());
    let mut stream = tokio::time::timeout(QUERY_TIMEOUT, TcpStream::connect(primary)).await.map_err(timeout)?.map_err(io)?;
    let mut verifier = key.map(|key| sign_request(key, &mut query, unix_now()));
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&query);
    stream.write_all(&framed).await.map_err(io)?;
    let mut buf = vec![0u8; 65_535];
    loop {
        let mut prefix = [0u8; 2];
        tokio::time::timeout(MESSAGE_TIMEOUT, stream.read_exact(&mut prefix)).await.map_err(timeout)?.map_err(io)?;
        let len = usize::from(u16::from_be_bytes(prefix));
        tokio::time::timeout(MESSAGE_TIMEOUT, stream.read_exact(&mut buf[..len])).await.map_err(timeout)?.map_err(io)?;
        if let Some(verifier) = verifier.as_mut() {
            verifier.verify(&buf[..len], unix_now()).map_err(TransferError)?;
        }
        if add(&buf[..len])? {
            break;
        }
    }
    if verifier.as_ref().is_some_and(|verifier| !verifier.ended_signed()) {
        return Err(TransferError("the transfer's last message is not signed".into()));
    }
    Ok(())
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
