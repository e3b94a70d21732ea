use super::*;
use proptest::prelude::*;

/// A named way to spoil a good frame.
type Spoil = (&'static str, fn(&mut Vec<u8>));

const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xc];
const SERVER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x5];

/// The addresses of a query from `client` to `server` (so `write_reply` with the swapped pair
/// writes that query's frame).
fn query(client: SocketAddr, server: SocketAddr) -> Addresses {
    Addresses { src_mac: CLIENT_MAC, dst_mac: SERVER_MAC, src: client, dst: server }
}

fn swapped(a: &Addresses) -> Addresses {
    Addresses { src_mac: a.dst_mac, dst_mac: a.src_mac, src: a.dst, dst: a.src }
}

/// A frame carrying `payload` with the addresses `addresses` (built by writing the reply of the
/// swapped addresses).
fn frame(addresses: &Addresses, payload: &[u8]) -> Vec<u8> {
    let reply_of = swapped(addresses);
    let header = reply_of.header_len();
    let mut bytes = vec![0; header + payload.len()];
    bytes[header..].copy_from_slice(payload);
    assert_eq!(write_reply(&mut bytes, &reply_of, payload.len()), Some(bytes.len()));
    bytes
}

fn v4() -> Addresses {
    query("192.0.2.2:40000".parse().unwrap(), "192.0.2.1:53".parse().unwrap())
}

fn v6() -> Addresses {
    query("[2001:db8::2]:40000".parse().unwrap(), "[2001:db8::1]:53".parse().unwrap())
}

#[test]
fn ipv4_frame_round_trips() {
    let bytes = frame(&v4(), b"dns message");
    let datagram = parse(&bytes).unwrap();
    assert_eq!(datagram.addresses, v4());
    assert_eq!(datagram.payload, b"dns message");
    assert_eq!(&bytes[12..14], &[0x08, 0x00]);
    assert_eq!(&bytes[40..42], &[0, 0], "UDP checksum over IPv4 is 0 (none)");
}

#[test]
fn ipv6_frame_round_trips_with_valid_udp_checksum() {
    let bytes = frame(&v6(), b"odd-length payload");
    let datagram = parse(&bytes).unwrap();
    assert_eq!(datagram.addresses, v6());
    assert_eq!(datagram.payload, b"odd-length payload");
    // The checksum verifies: the one's complement sum over pseudo-header, header and data is 0xffff.
    let udp = &bytes[54..];
    let mut sum = sum_words(&bytes[22..54], 0);
    sum += u64::try_from(udp.len()).unwrap() + 17;
    assert_eq!(fold(sum_words(udp, sum)), 0xffff);
}

#[test]
fn ipv4_header_checksum_matches_a_known_header() {
    // 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7: the usual worked example.
    let mut header = [0u8; 20];
    write_ipv4(&mut header, Ipv4Addr::new(192, 168, 0, 1), Ipv4Addr::new(192, 168, 0, 199), 0x73 - 20).unwrap();
    assert_eq!(&header[10..12], &[0xb8, 0x61]);
    assert_eq!(fold(sum_words(&header, 0)), 0xffff);
}

#[test]
fn reply_swaps_addresses_ports_and_macs() {
    let mut bytes = frame(&v4(), b"question");
    let query = parse(&bytes).unwrap().addresses;
    bytes[42..48].copy_from_slice(b"answer");
    let len = write_reply(&mut bytes, &query, 6).unwrap();
    let reply = parse(&bytes[..len]).unwrap();
    assert_eq!(reply.addresses, swapped(&query));
    assert_eq!(reply.payload, b"answer");
}

#[test]
fn anything_else_is_refused() {
    let good = frame(&v4(), b"x");
    let cases: [Spoil; 7] = [
        ("VLAN tag", |f| f[12..14].copy_from_slice(&[0x81, 0x00])),
        ("IPv4 options", |f| f[14] = 0x46),
        ("more fragments", |f| f[20] |= 0x20),
        ("TCP", |f| f[23] = 6),
        ("UDP length past the frame", |f| f[38..40].copy_from_slice(&100u16.to_be_bytes())),
        ("UDP length under its header", |f| f[38..40].copy_from_slice(&7u16.to_be_bytes())),
        ("IPv4 total length past the frame", |f| f[16..18].copy_from_slice(&200u16.to_be_bytes())),
    ];
    for (what, spoil) in cases {
        let mut bytes = good.clone();
        spoil(&mut bytes);
        assert_eq!(parse(&bytes), None, "{what}");
    }
    let mut bytes = frame(&v6(), b"x");
    bytes[20] = 0; // hop-by-hop options header
    assert_eq!(parse(&bytes), None, "IPv6 extension header");
}

#[test]
fn reply_that_does_not_fit_is_refused() {
    let mut short = [0u8; 50];
    assert_eq!(write_reply(&mut short, &v4(), 9), None);
    let mut big = vec![0u8; 70_000];
    assert_eq!(write_reply(&mut big, &v4(), 65_530), None, "UDP length over 65 535");
    let mixed = Addresses { dst: "[::1]:53".parse().unwrap(), ..v4() };
    assert_eq!(write_reply(&mut big, &mixed, 10), None, "families differ");
}

fn any_addresses() -> impl Strategy<Value = Addresses> {
    let v4 = (any::<[u8; 4]>(), any::<u16>(), any::<[u8; 4]>(), any::<u16>()).prop_map(|(a, p, b, q)| (SocketAddr::from((a, p)), SocketAddr::from((b, q))));
    let v6 = (any::<[u8; 16]>(), any::<u16>(), any::<[u8; 16]>(), any::<u16>()).prop_map(|(a, p, b, q)| (SocketAddr::from((a, p)), SocketAddr::from((b, q))));
    (any::<[u8; 6]>(), any::<[u8; 6]>(), prop_oneof![v4, v6]).prop_map(|(src_mac, dst_mac, (src, dst))| Addresses { src_mac, dst_mac, src, dst })
}

proptest! {
    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn parse_never_panics_on_spoiled_frames(flips in proptest::collection::vec((0usize..80, any::<u8>()), 1..6), cut in 0usize..90) {
        let mut bytes = frame(&v6(), b"some payload");
        for (at, value) in flips {
            if let Some(b) = bytes.get_mut(at) { *b = value; }
        }
        bytes.truncate(cut);
        let _ = parse(&bytes);
    }

    #[test]
    fn written_frames_parse_back(addresses in any_addresses(), payload in proptest::collection::vec(any::<u8>(), 0..600), room in 0usize..700) {
        let mut bytes = vec![0u8; room];
        let header = addresses.header_len();
        if let Some(space) = bytes.get_mut(header..header + payload.len()) { space.copy_from_slice(&payload); }
        if let Some(len) = write_reply(&mut bytes, &addresses, payload.len()) {
            let datagram = parse(&bytes[..len]).unwrap();
            prop_assert_eq!(datagram.addresses, swapped(&addresses));
            prop_assert_eq!(datagram.payload, &payload[..]);
        } else {
            prop_assert!(room < header + payload.len());
        }
    }
}
