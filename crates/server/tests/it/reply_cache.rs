//! The UDP workers' reply cache end to end (`[server] reply-cache`): a server with it answers
//! every query of the query list, asked three times over, with the bytes a server without it
//! gives (IDs aside), so the repeats, answered from the cache, are the engine's replies.

use std::fs;
use std::net::SocketAddr;

use crate::client::udp;
use crate::harness::{example_zone, write_config, Server, Tcp};
use crate::peers::{free_port, temp_dir};
use crate::queries::load;

/// A server over example.test. with `reply-cache = slots`.
fn server(slots: usize) -> (Server, SocketAddr) {
    let dir = temp_dir("reply-cache");
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = write_config(&dir, addr, &Tcp::default(), &[("example.test.", &example_zone())]);
    let text = fs::read_to_string(&config).unwrap_or_else(|e| panic!("read {}: {e}", config.display()));
    fs::write(&config, text.replace("threads = 1\n", &format!("threads = 1\nreply-cache = {slots}\n"))).unwrap_or_else(|e| panic!("write config: {e}"));
    let server = Server::start(dir, addr, &["serve".as_ref(), "--config".as_ref(), config.as_os_str()], "example.test.").unwrap_or_else(|e| panic!("{e}"));
    (server, addr)
}

#[test]
fn replies_from_the_reply_cache_are_the_servers_without_it() {
    let ((_plain, plain), (_cached, cached)) = (server(0), server(1024));
    let queries = load("example.test.txt");
    assert!(queries.len() > 20, "{} queries", queries.len());
    for round in 0..3 {
        for query in &queries {
            let expected = udp(plain, query).unwrap_or_else(|e| panic!("{e}"));
            let got = udp(cached, query).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(got[2..], expected[2..], "round {round}: {query}");
        }
    }
}
