//! A secondary's SOA query over TCP, asked when the one over UDP failed (as BIND's
//! `try-tcp-refresh`): a primary may answer a zone's SOA only over TCP (Knot does so for a
//! catalog zone it generates: REFUSED over UDP), or UDP may be filtered on the way.

use portcullis_engine::auth::receive::{soa_answer_serial, soa_query, TransferError};
use portcullis_engine::policy::tsig::TsigKey;
use portcullis_engine::policy::tsig_client::sign_request;
use portcullis_wire::NameBuf;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::outgoing::{random_id, unix_now};

/// Time allowed for the connection, and for the answer.
const TIMEOUT: Duration = Duration::from_secs(3);

/// The primary's serial for `origin`, from an SOA query over TCP (signed with `key`, and its
/// answer checked).
pub async fn primary_serial(origin: &NameBuf, primary: SocketAddr, key: Option<&TsigKey>) -> Result<u32, TransferError> {
    let id = random_id();
    let mut query = soa_query(origin, id);
    let mut verifier = key.map(|key| sign_request(key, &mut query, unix_now()));
    let io = |e: std::io::Error| TransferError(e.to_string());
    let exchange = async {
        let mut stream = TcpStream::connect(primary).await.map_err(io)?;
        let mut framed = (query.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&query);
        stream.write_all(&framed).await.map_err(io)?;
        let mut prefix = [0u8; 2];
        stream.read_exact(&mut prefix).await.map_err(io)?;
        let mut answer = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
        stream.read_exact(&mut answer).await.map_err(io)?;
        if let Some(verifier) = verifier.as_mut() {
            verifier.verify(&answer, unix_now()).map_err(TransferError)?;
        }
        soa_answer_serial(&answer, origin, id)
    };
    let answer = tokio::time::timeout(TIMEOUT, exchange).await.map_err(|_| TransferError("SOA query over TCP: no answer".into()))?;
    answer.map_err(|error| TransferError(format!("SOA query over TCP: {}", error.0)))
}
