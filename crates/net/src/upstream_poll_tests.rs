use super::*;
use std::time::Duration;

/// A connected, non-blocking socket watched by `poll`, and the peer it is connected to.
fn watched_pair(poll: &UpstreamPoll) -> (Watched<'_>, UdpSocket) {
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_nonblocking(true).unwrap();
    socket.connect(peer.local_addr().unwrap()).unwrap();
    peer.connect(socket.local_addr().unwrap()).unwrap();
    (poll.watch(socket).unwrap(), peer)
}

/// The next datagram or error of `watched`, within 5 s.
async fn next(watched: &mut Watched<'_>) -> io::Result<Vec<u8>> {
    let mut buf = [0u8; 512];
    let received = std::future::poll_fn(|cx| watched.poll_recv(cx, |socket| socket.recv_from(&mut buf)));
    let (len, _) = tokio::time::timeout(Duration::from_secs(5), received).await.expect("no event within 5 s")?;
    Ok(buf[..len].to_vec())
}

/// Descriptors in the epoll set (its `/proc/self/fdinfo` lists one `tfd:` line per watched one).
fn watched_count(poll: &UpstreamPoll) -> usize {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", poll.set.as_raw_fd())).unwrap();
    info.lines().filter(|line| line.starts_with("tfd:")).count()
}

#[tokio::test]
async fn every_datagram_wakes_or_is_read_none_is_lost() {
    let poll = UpstreamPoll::new().unwrap();
    let dispatch = tokio::spawn(poll.clone().dispatch_loop());
    let (mut watched, peer) = watched_pair(&poll);
    // One at a time: each waits for its event.
    for round in 0..3u8 {
        let waiting = next(&mut watched);
        peer.send(&[round]).unwrap();
        assert_eq!(waiting.await.unwrap(), vec![round]);
    }
    // Three at once, one edge: all three are read before the socket waits again.
    for byte in [7u8, 8, 9] {
        peer.send(&[byte]).unwrap();
    }
    for byte in [7u8, 8, 9] {
        assert_eq!(next(&mut watched).await.unwrap(), vec![byte]);
    }
    dispatch.abort();
}

#[tokio::test]
async fn an_icmp_port_unreachable_is_the_sockets_error() {
    let poll = UpstreamPoll::new().unwrap();
    let dispatch = tokio::spawn(poll.clone().dispatch_loop());
    let closed = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_nonblocking(true).unwrap();
    socket.connect(closed).unwrap();
    socket.send(b"query").unwrap();
    let mut watched = poll.watch(socket).unwrap();
    let error = next(&mut watched).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
    dispatch.abort();
}

#[tokio::test]
async fn a_closed_socket_leaves_the_set_and_its_slot_wakes_nobody() {
    let poll = UpstreamPoll::new().unwrap();
    let (watched, peer) = watched_pair(&poll);
    let old = watched.token;
    assert_eq!(watched_count(&poll), 1);
    drop(watched);
    // Closed without an epoll_ctl DEL, and out of the set all the same.
    assert_eq!(watched_count(&poll), 0);
    drop(peer);
    let (watched, _peer) = watched_pair(&poll);
    assert_eq!(split(watched.token).0, split(old).0, "the slot is used again");
    assert_ne!(watched.token, old, "under a new generation");
    // An event fetched for the closed socket finds no slot: it sets nothing and wakes nobody.
    poll.wake(&[EpollEvent::new(EpollFlags::EPOLLIN, old)]);
    assert!(!poll.lock().get(watched.token).unwrap().ready);
    // Many sockets later, none is left behind.
    for _ in 0..100 {
        drop(watched_pair(&poll));
    }
    assert_eq!(watched_count(&poll), 1);
}
