//! Access control from several loopback source addresses (BIND's address match lists: first
//! match wins, `!` denies, a configured list replaces the default; zone rules over listener rules
//! over global rules).

use std::net::IpAddr;

use portcullis_wire::{Rcode, Rtype};

use crate::support::{self, assert_dropped, free_addr, tcp_exchange, tcp_from, udp_from, udp_socket, Setup, Q, R, SRC1, SRC2, SRC3, ZONE};

fn www() -> Q {
    Q::new(&format!("www.{ZONE}"), Rtype::A)
}

fn assert_answered(reply: &R, who: IpAddr, what: &str) {
    assert_eq!((reply.rcode, reply.answers), (Rcode::NOERROR, 1), "{what} from {who} must be answered: {reply:?}");
}

fn assert_refused(reply: &R, who: IpAddr, what: &str) {
    assert_eq!((reply.rcode, reply.answers), (Rcode::REFUSED, 0), "{what} from {who} must be REFUSED: {reply:?}");
}

/// Defaults: queries allowed from everyone; AXFR refused over TCP (FORMERR over UDP); NOTIFY (opcode 4) and
/// UPDATE (opcode 5) refused.
#[test]
fn defaults_answer_queries_and_refuse_transfer_notify_update() {
    let server = support::start("");
    for src in [SRC1, SRC2, SRC3] {
        assert_answered(&udp_from(src, server.addr, &www()), src, "udp query");
        assert_answered(&tcp_from(src, server.addr, &www()), src, "tcp query");
    }
    let axfr = Q::new(ZONE, Rtype::AXFR);
    assert_refused(&tcp_from(SRC1, server.addr, &axfr), SRC1, "AXFR over tcp");
    let reply = udp_from(SRC1, server.addr, &axfr);
    assert_eq!((reply.rcode, reply.answers), (Rcode::FORMERR, 0), "AXFR over udp (RFC 5936 §4.2): {reply:?}");
    assert_refused(&tcp_from(SRC1, server.addr, &Q::new(ZONE, Rtype::IXFR)), SRC1, "IXFR over tcp");
    let mut notify = Q::new(ZONE, Rtype::SOA).opcode(4);
    notify.aa = true;
    let reply = udp_from(SRC1, server.addr, &notify);
    assert_eq!((reply.rcode, reply.opcode, reply.qr), (Rcode::REFUSED, 4, true), "NOTIFY: {reply:?}");
    let reply = udp_from(SRC1, server.addr, &Q::new(ZONE, Rtype::SOA).opcode(5));
    assert_eq!((reply.rcode, reply.opcode), (Rcode::REFUSED, 5), "UPDATE: {reply:?}");
    let reply = tcp_from(SRC2, server.addr, &Q::new(ZONE, Rtype::SOA).opcode(5));
    assert_eq!((reply.rcode, reply.opcode), (Rcode::REFUSED, 5), "UPDATE over tcp: {reply:?}");
}

/// `query = ["127.0.0.2"]`: only 127.0.0.2 is answered, over UDP and TCP.
#[test]
fn query_list_admits_only_the_listed_address() {
    let server = support::start_with(Setup { probe_from: SRC2, ..Setup::new("[acl]\nquery = [\"127.0.0.2\"]\n") });
    assert_answered(&udp_from(SRC2, server.addr, &www()), SRC2, "udp");
    assert_answered(&tcp_from(SRC2, server.addr, &www()), SRC2, "tcp");
    for src in [SRC1, SRC3] {
        assert_refused(&udp_from(src, server.addr, &www()), src, "udp");
        assert_refused(&tcp_from(src, server.addr, &www()), src, "tcp");
    }
}

/// First match wins: `["!127.0.0.3", "127.0.0.0/8"]` refuses 127.0.0.3; the reverse order
/// answers it (the prefix matches first).
#[test]
fn negation_and_first_match_order() {
    let deny_first = support::start("[acl]\nquery = [\"!127.0.0.3\", \"127.0.0.0/8\"]\n");
    assert_answered(&udp_from(SRC1, deny_first.addr, &www()), SRC1, "deny-first list");
    assert_answered(&udp_from(SRC2, deny_first.addr, &www()), SRC2, "deny-first list");
    assert_refused(&udp_from(SRC3, deny_first.addr, &www()), SRC3, "deny-first list");

    let allow_first = support::start("[acl]\nquery = [\"127.0.0.0/8\", \"!127.0.0.3\"]\n");
    for src in [SRC1, SRC2, SRC3] {
        assert_answered(&udp_from(src, allow_first.addr, &www()), src, "allow-first list");
    }
}

/// Named lists nest; `!list` denies its members; `none` denies everyone; `any` admits everyone.
#[test]
fn named_lists_none_and_any() {
    let server = support::start("[acl]\nquery = [\"!blocked\", \"any\"]\n[acl.lists]\nblocked = [\"127.0.0.2\", \"127.0.0.3\"]\n");
    assert_answered(&udp_from(SRC1, server.addr, &www()), SRC1, "not in the blocked list");
    assert_refused(&udp_from(SRC2, server.addr, &www()), SRC2, "in the blocked list");
    assert_refused(&udp_from(SRC3, server.addr, &www()), SRC3, "in the blocked list");

    let none = support::start("[acl]\nquery = [\"none\"]\n");
    for src in [SRC1, SRC2] {
        assert_refused(&udp_from(src, none.addr, &www()), src, "query = none");
    }
}

/// `[[acl.zone]]` rules replace the global ones for their zone only.
#[test]
fn per_zone_rules() {
    let server = support::start("[[acl.zone]]\nzone = \"private.test\"\nquery = [\"127.0.0.2\"]\n");
    let private = Q::new("www.private.test.", Rtype::A);
    assert_answered(&udp_from(SRC2, server.addr, &private), SRC2, "private zone");
    assert_answered(&tcp_from(SRC2, server.addr, &private), SRC2, "private zone");
    assert_refused(&udp_from(SRC1, server.addr, &private), SRC1, "private zone");
    assert_refused(&tcp_from(SRC1, server.addr, &private), SRC1, "private zone");
    let nx = udp_from(SRC1, server.addr, &Q::new("nothere.private.test.", Rtype::A));
    assert_eq!(nx.rcode, Rcode::REFUSED, "a refused client learns nothing of the zone, not even NXDOMAIN: {nx:?}");
    for src in [SRC1, SRC2] {
        assert_answered(&udp_from(src, server.addr, &www()), src, "public zone");
    }
    // Transfer rules per zone: a transfer (NOERROR, the zone) only where listed.
    let transfers = support::start("[[acl.zone]]\nzone = \"private.test.\"\ntransfer = [\"127.0.0.2\"]\n");
    let axfr = |zone: &str, src| tcp_from(src, transfers.addr, &Q::new(zone, Rtype::AXFR)).rcode;
    assert_eq!(axfr("private.test.", SRC2), Rcode::NOERROR, "listed for private.test.");
    assert_eq!(axfr("private.test.", SRC1), Rcode::REFUSED, "not listed for private.test.");
    assert_eq!(axfr(ZONE, SRC2), Rcode::REFUSED, "the other zone keeps the default (deny)");
    let over_udp = udp_from(SRC2, transfers.addr, &Q::new("private.test.", Rtype::AXFR));
    assert_eq!(over_udp.rcode, Rcode::FORMERR, "AXFR over UDP, even where allowed: {over_udp:?}");
}

/// SIGHUP applies changed rules: a query list added to the file takes effect on reload.
#[test]
fn reload_applies_new_rules() {
    let server = support::start("");
    assert_answered(&udp_from(SRC1, server.addr, &www()), SRC1, "before reload");
    support::write_config(&server.dir, &[server.addr], "[acl]\nquery = [\"127.0.0.2\"]\n");
    server.signal("HUP");
    support::wait_reloaded(&server, 1);
    assert_refused(&udp_from(SRC1, server.addr, &www()), SRC1, "after reload");
    assert_answered(&udp_from(SRC2, server.addr, &www()), SRC2, "after reload");
}

/// `denied = "drop"`: a denied UDP query gets nothing (proven by a later control query from an
/// allowed source that is answered); over TCP the connection is closed without a reply.
#[test]
fn denied_drop_sends_nothing() {
    let server =
        support::start_with(Setup { probe_from: SRC2, ..Setup::new("[acl]\ndenied = \"drop\"\nquery = [\"127.0.0.2\"]\ntransfer = [\"127.0.0.2\"]\n") });
    let socket = udp_socket(SRC1, 0, server.addr);
    socket.send(&www().wire()).unwrap_or_else(|e| panic!("{e}"));
    assert_dropped(&socket, server.addr, SRC2, "denied query from 127.0.0.1 with denied = drop");
    assert!(tcp_exchange(SRC1, server.addr, &www()).is_none(), "denied TCP query: the connection must close without a reply");
    let notify = Q::new(ZONE, Rtype::SOA).opcode(4);
    socket.send(&notify.wire()).unwrap_or_else(|e| panic!("{e}"));
    assert_dropped(&socket, server.addr, SRC2, "denied NOTIFY with denied = drop");
    // Compare: the refuse configuration answers the same query.
    let refusing = support::start_with(Setup { probe_from: SRC2, ..Setup::new("[acl]\ndenied = \"refuse\"\nquery = [\"127.0.0.2\"]\n") });
    assert_refused(&udp_from(SRC1, refusing.addr, &www()), SRC1, "denied = refuse");
    // An allowed transfer is not dropped: the zone comes.
    let axfr = tcp_from(SRC2, server.addr, &Q::new(ZONE, Rtype::AXFR));
    assert!(axfr.rcode == Rcode::NOERROR && axfr.aa && axfr.answers > 0, "allowed AXFR: {axfr:?}");
}

/// `[[acl.listener]]`: two listen addresses with different rules.
#[test]
fn per_listener_rules() {
    let open = free_addr();
    let closed = free_addr();
    let extra = format!("[acl]\nquery = [\"any\"]\n\n[[acl.listener]]\naddress = \"{closed}\"\nquery = [\"127.0.0.2\"]\n");
    let server = support::start_with(Setup { listen: vec![open, closed], ..Setup::new(&extra) });
    for src in [SRC1, SRC2, SRC3] {
        assert_answered(&udp_from(src, open, &www()), src, "open listener");
        assert_answered(&tcp_from(src, open, &www()), src, "open listener");
    }
    assert_answered(&udp_from(SRC2, closed, &www()), SRC2, "restricted listener");
    assert_answered(&tcp_from(SRC2, closed, &www()), SRC2, "restricted listener");
    for src in [SRC1, SRC3] {
        assert_refused(&udp_from(src, closed, &www()), src, "restricted listener, udp");
        assert_refused(&tcp_from(src, closed, &www()), src, "restricted listener, tcp");
    }
    drop(server);
}

/// NOTIFY and UPDATE lists: an allowed NOTIFY is not refused (NOTIMP: no secondary zone here),
/// nor an allowed UPDATE (an empty one changes nothing: NOERROR, RFC 2136 §3.4.2.7); others
/// still are.
#[test]
fn notify_and_update_lists() {
    let server = support::start("[acl]\nnotify = [\"127.0.0.2\"]\nupdate = [\"!127.0.0.3\", \"localhost\"]\n");
    let notify = Q::new(ZONE, Rtype::SOA).opcode(4);
    assert_eq!(udp_from(SRC2, server.addr, &notify).rcode, Rcode::NOTIMP, "allowed NOTIFY");
    assert_eq!(udp_from(SRC1, server.addr, &notify).rcode, Rcode::REFUSED, "NOTIFY from an unlisted address");
    let update = Q::new(ZONE, Rtype::SOA).opcode(5);
    assert_eq!(udp_from(SRC1, server.addr, &update).rcode, Rcode::NOERROR, "allowed UPDATE (localhost)");
    assert_eq!(udp_from(SRC3, server.addr, &update).rcode, Rcode::REFUSED, "UPDATE from the negated address");
}
