//! Ethernet II / IPv4 / IPv6 / UDP frames: reading a query frame and writing its reply's headers.
//!
//! Pure functions over byte slices, checked at every read: any bytes give `None` or a value,
//! never a panic (`proptest` below). Only what the XDP program redirects is accepted: Ethernet II
//! without VLAN tags, IPv4 without options or fragments (RFC 791), IPv6 whose next header is UDP
//! (RFC 8200), UDP (RFC 768) whose length fits the frame. The incoming UDP checksum is not
//! checked: on veth and with checksum offload it is often only the pseudo-header's partial sum.
//!
//! The reply's headers are written fresh, addresses and ports swapped: IPv4 with DF, TTL 64 and
//! the header checksum (RFC 791 §3.1, RFC 1071); UDP checksum 0 over IPv4 (RFC 768: "no
//! checksum") and computed over IPv6, where it is mandatory (RFC 8200 §8.1).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Ethernet II header length (destination, source, EtherType).
const ETH_LEN: usize = 14;
/// IPv4 header length without options.
const IPV4_LEN: usize = 20;
/// IPv6 fixed header length.
const IPV6_LEN: usize = 40;
/// UDP header length.
const UDP_LEN: usize = 8;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const PROTO_UDP: u8 = 17;
/// TTL / hop limit of replies (RFC 1700's default).
const TTL: u8 = 64;

/// The link and network addresses of one datagram, enough to address its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addresses {
    /// Ethernet source (the client's side of the link).
    pub src_mac: [u8; 6],
    /// Ethernet destination (our interface).
    pub dst_mac: [u8; 6],
    /// The client's address and port.
    pub src: SocketAddr,
    /// Our address and port the query was sent to.
    pub dst: SocketAddr,
}

impl Addresses {
    /// Length of the headers before the UDP payload (42 for IPv4, 62 for IPv6).
    pub fn header_len(&self) -> usize {
        match self.src {
            SocketAddr::V4(_) => ETH_LEN + IPV4_LEN + UDP_LEN,
            SocketAddr::V6(_) => ETH_LEN + IPV6_LEN + UDP_LEN,
        }
    }
}

/// One UDP datagram read from a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// Who sent it to whom.
    pub addresses: Addresses,
    /// The UDP payload (the DNS message), as long as the UDP length says.
    pub payload: &'a [u8],
}

/// Reads `frame` as Ethernet II + IPv4/IPv6 + UDP; `None` for anything else or anything short.
pub fn parse(frame: &[u8]) -> Option<Datagram<'_>> {
    let dst_mac = array::<6>(frame, 0)?;
    let src_mac = array::<6>(frame, 6)?;
    let ip = frame.get(ETH_LEN..)?;
    let (src_ip, dst_ip, udp): (IpAddr, IpAddr, &[u8]) = match u16_at(frame, 12)? {
        ETHERTYPE_IPV4 => {
            let (src, dst, udp) = ipv4(ip)?;
            (src.into(), dst.into(), udp)
        }
        ETHERTYPE_IPV6 => {
            let (src, dst, udp) = ipv6(ip)?;
            (src.into(), dst.into(), udp)
        }
        _ => return None,
    };
    let src_port = u16_at(udp, 0)?;
    let dst_port = u16_at(udp, 2)?;
    let udp_len = usize::from(u16_at(udp, 4)?);
    let payload = udp.get(UDP_LEN..udp_len)?;
    let addresses = Addresses { src_mac, dst_mac, src: SocketAddr::new(src_ip, src_port), dst: SocketAddr::new(dst_ip, dst_port) };
    Some(Datagram { addresses, payload })
}

/// IPv4 without options or fragments: (source, destination, the datagram's bytes after the header).
fn ipv4(ip: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, &[u8])> {
    let first = *ip.first()?;
    let fragment = u16_at(ip, 6)? & 0x3fff;
    if first != 0x45 || fragment != 0 || *ip.get(9)? != PROTO_UDP {
        return None;
    }
    let total = usize::from(u16_at(ip, 2)?);
    let src = Ipv4Addr::from(array::<4>(ip, 12)?);
    let dst = Ipv4Addr::from(array::<4>(ip, 16)?);
    Some((src, dst, ip.get(IPV4_LEN..total)?))
}

/// IPv6 whose next header is UDP: (source, destination, the payload as long as it says).
fn ipv6(ip: &[u8]) -> Option<(Ipv6Addr, Ipv6Addr, &[u8])> {
    if ip.first()? >> 4 != 6 || *ip.get(6)? != PROTO_UDP {
        return None;
    }
    let payload_len = usize::from(u16_at(ip, 4)?);
    let src = Ipv6Addr::from(array::<16>(ip, 8)?);
    let dst = Ipv6Addr::from(array::<16>(ip, 24)?);
    Some((src, dst, ip.get(IPV6_LEN..IPV6_LEN.checked_add(payload_len)?)?))
}

/// Writes the reply's headers into `frame[..query.header_len()]` for a payload of `payload_len`
/// octets already at `frame[query.header_len()..]`, and returns the frame's length. `query` are
/// the query's addresses (swapped here). `None` if the frame is too short or the payload too
/// long for a UDP datagram; the families of `src` and `dst` must agree.
pub fn write_reply(frame: &mut [u8], query: &Addresses, payload_len: usize) -> Option<usize> {
    let header_len = query.header_len();
    let total = header_len.checked_add(payload_len)?;
    let frame = frame.get_mut(..total)?;
    let udp_len = u16::try_from(UDP_LEN.checked_add(payload_len)?).ok()?;
    frame.get_mut(0..6)?.copy_from_slice(&query.src_mac);
    frame.get_mut(6..12)?.copy_from_slice(&query.dst_mac);
    let (ip, rest) = frame.get_mut(ETH_LEN..)?.split_at_mut(header_len - ETH_LEN - UDP_LEN);
    let (udp, payload) = rest.split_at_mut(UDP_LEN);
    udp[0..2].copy_from_slice(&query.dst.port().to_be_bytes());
    udp[2..4].copy_from_slice(&query.src.port().to_be_bytes());
    udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
    udp[6..8].fill(0);
    let ethertype = match (query.dst.ip(), query.src.ip()) {
        (IpAddr::V4(from), IpAddr::V4(to)) => {
            write_ipv4(ip, from, to, udp_len)?;
            ETHERTYPE_IPV4
        }
        (IpAddr::V6(from), IpAddr::V6(to)) => {
            write_ipv6(ip, from, to, udp_len);
            let sum = udp_checksum_v6(from, to, udp, payload);
            udp[6..8].copy_from_slice(&sum.to_be_bytes());
            ETHERTYPE_IPV6
        }
        _ => return None,
    };
    frame.get_mut(12..14)?.copy_from_slice(&ethertype.to_be_bytes());
    Some(total)
}

/// The 20-octet IPv4 header: no options, DF set, identification 0 (RFC 6864 §4.1 allows it for
/// atomic datagrams), header checksum computed.
fn write_ipv4(ip: &mut [u8], from: Ipv4Addr, to: Ipv4Addr, udp_len: u16) -> Option<()> {
    let total = u16::try_from(IPV4_LEN).ok()?.checked_add(udp_len)?;
    let header = ip.get_mut(..IPV4_LEN)?;
    header[0] = 0x45;
    header[1] = 0;
    header[2..4].copy_from_slice(&total.to_be_bytes());
    header[4..6].fill(0);
    header[6..8].copy_from_slice(&0x4000u16.to_be_bytes());
    header[8] = TTL;
    header[9] = PROTO_UDP;
    header[10..12].fill(0);
    header[12..16].copy_from_slice(&from.octets());
    header[16..20].copy_from_slice(&to.octets());
    let sum = fold(sum_words(header, 0));
    header[10..12].copy_from_slice(&(!sum).to_be_bytes());
    Some(())
}

/// The 40-octet IPv6 header: traffic class and flow label 0.
fn write_ipv6(ip: &mut [u8], from: Ipv6Addr, to: Ipv6Addr, udp_len: u16) {
    ip[0..4].copy_from_slice(&[0x60, 0, 0, 0]);
    ip[4..6].copy_from_slice(&udp_len.to_be_bytes());
    ip[6] = PROTO_UDP;
    ip[7] = TTL;
    ip[8..24].copy_from_slice(&from.octets());
    ip[24..40].copy_from_slice(&to.octets());
}

/// The UDP checksum over IPv6 (RFC 8200 §8.1 pseudo-header); 0 is sent as 0xffff (RFC 768).
fn udp_checksum_v6(from: Ipv6Addr, to: Ipv6Addr, udp: &[u8], payload: &[u8]) -> u16 {
    let udp_len = udp.len() + payload.len();
    let mut sum = sum_words(&from.octets(), 0);
    sum = sum_words(&to.octets(), sum);
    sum += u64::try_from(udp_len).unwrap_or(0) + u64::from(PROTO_UDP);
    sum = sum_words(udp, sum);
    sum = sum_words(payload, sum);
    match !fold(sum) {
        0 => 0xffff,
        value => value,
    }
}

/// Adds `bytes` as big-endian 16-bit words to `sum` (RFC 1071), an odd last octet padded with 0.
fn sum_words(bytes: &[u8], mut sum: u64) -> u64 {
    let mut words = bytes.chunks_exact(2);
    for word in &mut words {
        sum += u64::from(u16::from_be_bytes([word[0], word[1]]));
    }
    if let [last] = words.remainder() {
        sum += u64::from(u16::from_be_bytes([*last, 0]));
    }
    sum
}

/// Folds a running sum into 16 bits with end-around carry.
fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    u16::try_from(sum).unwrap_or(0xffff)
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    array::<2>(bytes, at).map(u16::from_be_bytes)
}

fn array<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

#[cfg(test)]
#[path = "packet_tests.rs"]
mod tests;
