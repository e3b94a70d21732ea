//! A secondary's SOA query over TCP, asked when the one over UDP failed (as BIND's
//! `try-tcp-refresh`): a primary may answer a zone's SOA only over TCP (Knot does so for a
//! catalog zone it generates: REFUSED over UDP), or UDP may be filtered on the way.

use portcullis_engine::auth::receive::{soa_answer_serial, soa_query, TransferError};
use portcullis_engine::policy::tsig::TsigKey;
use portcullis_wire::NameBuf;
use std::net::SocketAddr;
use std::time::Duration;

use crate::outgoing::random_id;

/// Time allowed for the connection, and for the answer.
const TIMEOUT: Duration = Duration::from_secs(3);

/// The primary's serial for `origin`, from an SOA query over TCP (signed with `key`, and its
/// answer checked), through the transfers' own TCP exchange ([`crate::secondary_xfr::exchange`]).
pub async fn primary_serial(origin: &NameBuf, primary: SocketAddr, key: Option<&TsigKey>) -> Result<u32, TransferError> {
    let id = random_id();
    let mut serial = None;
    let asked = crate::secondary_xfr::exchange(primary, soa_query(origin, id), key, |answer| {
        serial = Some(soa_answer_serial(answer, origin, id)?);
        Ok(true)
    });
    let answered = tokio::time::timeout(TIMEOUT, asked).await.map_err(|_| TransferError("SOA query over TCP: no answer".into()))?;
    answered
        .and_then(|()| serial.ok_or_else(|| TransferError("no SOA in the answer".into())))
        .map_err(|error| TransferError(format!("SOA query over TCP: {}", error.0)))
}
