use super::*;
use portcullis_engine::auth::ZoneSet;
use portcullis_engine::cache::CacheSettings;
use portcullis_engine::{Engine, EngineSettings};
use portcullis_wire::header::Flags;
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{Class, NameBuf, Rtype};
use std::time::Duration;

/// A random source that panics, as a bug in a resolution would.
struct Panics;

impl Random for Panics {
    fn fill(&mut self, _: &mut [u8]) {
        panic!("injected: a resolution panicked");
    }
}

fn query(name: &str) -> Vec<u8> {
    let mut buf = vec![0u8; 512];
    let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
    writer.set_header(0x1234, Flags { rd: true, ..Flags::default() });
    writer.push_question(&NameBuf::from_text(name, None).unwrap(), Rtype::A, Class::IN).unwrap();
    let len = writer.finish();
    buf.truncate(len);
    buf
}

fn pool(runtime: &tokio::runtime::Runtime) -> Arc<ResolverPool> {
    let cache = Arc::new(Cache::new(CacheSettings::DEFAULT));
    let engine = Engine::new(ZoneSet::default(), EngineSettings::default(), Arc::default()).with_recursion(cache.clone());
    let settings = ResolverSettings { root_servers: vec!["127.0.0.1".parse().unwrap()], do_not_query_localhost: false, ..ResolverSettings::default() };
    ResolverPool::new(PoolParts {
        engine: Arc::new(ArcSwap::from_pointee(engine)),
        settings: Arc::new(settings),
        cache,
        clock: Clock::default(),
        random: Arc::new(|| Box::new(Panics)),
        hash_key: [7; 16],
        limits: PoolLimits::default(),
        runtime: runtime.handle().clone(),
        forward: Vec::new(),
        iterate: true,
    })
}

#[test]
fn a_panicking_resolution_releases_its_question() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let pool = pool(&runtime);
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
    for round in 1..=2u64 {
        let waiter = Waiter {
            query: query("stuck.example."),
            peer: socket.local_addr().unwrap(),
            transport: Transport::Udp,
            listener: 0,
            reply: ReplyTo::Udp(socket.clone()),
        };
        pool.submit(waiter).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while pool.in_flight() > 0 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(pool.in_flight(), 0, "round {round}: the question is stuck in the pool");
        assert_eq!(pool.counters.panicked.load(Ordering::Relaxed), round);
        // The same question again starts a resolution of its own, not a wait on the dead one.
        assert_eq!(pool.counters.started.load(Ordering::Relaxed), round);
        assert_eq!(pool.counters.coalesced.load(Ordering::Relaxed), 0);
    }
}
