//! UDP workers: one thread per socket, fixed receive and send buffers, the engine called
//! synchronously (DESIGN §4.4). A short read timeout lets workers notice shutdown.

use crate::{EngineHandle, Shutdown};
use portcullis_engine::{Outcome, Request, Transport};
use std::io;
use std::net::UdpSocket;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often an idle worker checks for shutdown.
const POLL: Duration = Duration::from_millis(200);

/// Starts one worker thread per socket.
pub fn spawn_workers(sockets: Vec<UdpSocket>, engine: &EngineHandle, shutdown: &Shutdown) -> io::Result<Vec<JoinHandle<()>>> {
    let mut handles = Vec::new();
    for (index, socket) in sockets.into_iter().enumerate() {
        socket.set_read_timeout(Some(POLL))?;
        let engine = engine.clone();
        let shutdown = shutdown.clone();
        let handle = std::thread::Builder::new().name(format!("udp-{index}")).spawn(move || serve(&socket, &engine, &shutdown))?;
        handles.push(handle);
    }
    Ok(handles)
}

/// The worker loop: receive, answer, send, until shutdown.
fn serve(socket: &UdpSocket, engine: &EngineHandle, shutdown: &Shutdown) {
    let mut receive = vec![0u8; 65_535];
    let mut send = vec![0u8; 65_535];
    while !shutdown.is_triggered() {
        let (len, peer) = match socket.recv_from(&mut receive) {
            Ok(received) => received,
            Err(error) if matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted) => continue,
            Err(error) => {
                tracing::debug!(%error, "udp receive failed");
                continue;
            }
        };
        let request = Request { bytes: &receive[..len], peer, transport: Transport::Udp };
        let outcome = engine.load().handle(&request, &mut send);
        match outcome {
            Outcome::Reply(n) => {
                if let Err(error) = socket.send_to(&send[..n], peer) {
                    tracing::debug!(%error, %peer, "udp send failed");
                }
            }
            Outcome::Drop(reason) => tracing::trace!(%peer, reason = reason.as_str(), "dropped"),
        }
    }
}
