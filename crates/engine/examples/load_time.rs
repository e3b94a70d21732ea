//! Times the phases of loading a zone: `cargo run --release -p portcullis-engine --example load_time ORIGIN FILE`.
use portcullis_engine::auth::zone::{RecordData, Zone};
use portcullis_engine::zonefile::{check_zone, parse_zone_text, NoIncludes};
use portcullis_wire::{Class, NameBuf};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(origin), Some(file)) = (args.get(1), args.get(2)) else { return eprintln!("usage: load_time ORIGIN FILE") };
    let Ok(origin) = NameBuf::from_text(origin, None) else { return eprintln!("bad origin") };
    let started = Instant::now();
    let Ok(text) = std::fs::read_to_string(file) else { return eprintln!("cannot read {file}") };
    let Ok(records) = parse_zone_text(&origin, &text, file, &NoIncludes) else { return eprintln!("parse failed") };
    println!("parse  {:?} ({} records)", started.elapsed(), records.len());
    let started = Instant::now();
    let problems = check_zone(&origin, &records);
    println!("check  {:?} ({} problems)", started.elapsed(), problems.len());
    let started = Instant::now();
    let zone = Zone::build(&origin, Class::IN, records.iter().map(|r| RecordData { owner: &r.owner, rtype: r.rtype, ttl: r.ttl, rdata: &r.rdata }));
    println!("build  {:?} ({} nodes, {} heap bytes)", started.elapsed(), zone.node_count(), zone.heap_bytes());
}
