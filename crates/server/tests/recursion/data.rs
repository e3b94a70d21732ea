//! The recursion test's hierarchy: its zones and the query list resolved against it.

use crate::*;

fn soa(origin: &str) -> String {
    format!("$ORIGIN {origin}\n$TTL 3600\n@ IN SOA ns.invalid. hostmaster.invalid. 1 3600 900 604800 300\n")
}

/// The zone files, by (server host, origin).
pub fn zones(net: Net) -> Vec<(u8, &'static str, String)> {
    let ip = |host| net.ip(host);
    let mut root = soa(".");
    let _ = write!(
        root,
        "@ NS a.rootns.\n@ NS b.rootns.\na.rootns. A {}\nb.rootns. A {}\n\
         alpha. NS ns1.alpha.\nalpha. NS ns2.alpha.\nns1.alpha. A {}\nns2.alpha. A {}\n\
         beta. NS ns.beta-servers.alpha.\n",
        ip(ROOT_NSD),
        ip(ROOT_KNOT),
        ip(ALPHA_NSD),
        ip(TLD_KNOT)
    );
    let mut alpha = soa("alpha.");
    let _ = write!(
        alpha,
        "@ NS ns1\n@ NS ns2\nns1 A {a3}\nns2 A {a4}\nns.beta-servers A {a4}\nwww A 192.0.2.1\n@ TXT \"alpha\"\n\
         example NS ns1.example\nns1.example A {a5}\n\
         noglue NS ns.example.beta.\n\
         lame NS ns.lame\nlame NS ns1.example\nns.lame A {a7}\n\
         alllame NS ns.alllame\nns.alllame A {a7}\n\
         dead NS ns.dead\ndead NS ns1.example\nns.dead A {a8}\n\
         alldead NS ns.alldead\nns.alldead A {a8}\n\
         slow NS ns.slow\nns.slow A {a9}\n",
        a3 = ip(ALPHA_NSD),
        a4 = ip(TLD_KNOT),
        a5 = ip(AUTH_NSD),
        a7 = ip(LAME),
        a8 = ip(DEAD),
        a9 = ip(SLOW)
    );
    let mut beta = soa("beta.");
    let _ = write!(beta, "@ NS ns.beta-servers.alpha.\nexample NS ns.example\nns.example A {}\n", ip(AUTH_KNOT));
    let mut example_alpha = soa("example.alpha.");
    let _ = write!(
        example_alpha,
        "@ NS ns1\nns1 A {}\n@ MX 10 h1\n@ TXT \"example alpha\"\nmail MX 10 h1\nmail MX 20 h2.example.beta.\n\
         txt TXT \"hello\" \"world\"\nwww CNAME h1\next CNAME h1.example.beta.\nchain1 CNAME chain2.example.beta.\n\
         chain3 CNAME h2\ndangling CNAME nx.example.beta.\nold DNAME example.beta.\n*.wild A 192.0.2.99\n\
         empty.nonterminal.deep A 192.0.2.98\n",
        ip(AUTH_NSD)
    );
    let mut example_beta = soa("example.beta.");
    let _ = write!(example_beta, "@ NS ns\nns A {}\nchain2 CNAME chain3.example.alpha.\nwww CNAME www.alpha.\n", ip(AUTH_KNOT));
    for i in 1..=HOSTS {
        let _ = writeln!(example_alpha, "h{i} A 10.1.{}.{}", i / 250, i % 250);
        let _ = writeln!(example_beta, "h{i} A 10.2.{}.{}", i / 250, i % 250);
        if i % 5 == 0 {
            let _ = writeln!(example_alpha, "h{i} AAAA 2001:db8::{i:x}");
            let _ = writeln!(example_beta, "h{i} TXT \"host {i}\"");
        }
    }
    let small = |origin: &'static str, ns: &str, octet: u8| {
        let mut text = soa(origin);
        let _ = writeln!(text, "{ns}");
        for i in 1..=SMALL {
            let _ = writeln!(text, "h{i} A 10.{octet}.0.{i}");
        }
        text
    };
    let noglue = small("noglue.alpha.", "@ NS ns.example.beta.", 3);
    let lame = small("lame.alpha.", &format!("@ NS ns.lame\n@ NS ns1.example.alpha.\nns.lame A {}", ip(LAME)), 4);
    let dead = small("dead.alpha.", &format!("@ NS ns.dead\n@ NS ns1.example.alpha.\nns.dead A {}", ip(DEAD)), 5);
    let slow = small("slow.alpha.", &format!("@ NS ns.slow\nns.slow A {}\nburst A 10.6.1.1", ip(SLOW)), 6);
    let unrelated = small("unrelated.", "@ NS ns.invalid.", 7);
    vec![
        (ROOT_NSD, ".", root.clone()),
        (ROOT_KNOT, ".", root),
        (ALPHA_NSD, "alpha.", alpha.clone()),
        (TLD_KNOT, "alpha.", alpha),
        (TLD_KNOT, "beta.", beta),
        (AUTH_NSD, "example.alpha.", example_alpha),
        (AUTH_NSD, "lame.alpha.", lame),
        (AUTH_NSD, "dead.alpha.", dead),
        (AUTH_NSD, "slow.alpha.", slow),
        (AUTH_KNOT, "example.beta.", example_beta),
        (AUTH_KNOT, "noglue.alpha.", noglue),
        (LAME, "unrelated.", unrelated),
    ]
}

/// The query list, each with the rcode expected (None: only compared with Unbound).
pub fn query_list() -> Vec<(String, Rtype, Option<Rcode>)> {
    let mut list = Vec::new();
    let mut add = |name: String, rtype: Rtype, rcode: Option<Rcode>| list.push((name, rtype, rcode));
    let ok = Some(Rcode::NOERROR);
    let nx = Some(Rcode::NXDOMAIN);
    let fail = Some(Rcode::SERVFAIL);
    for i in 1..=HOSTS {
        add(format!("h{i}.example.alpha."), Rtype::A, ok);
        add(format!("h{i}.example.beta."), Rtype::A, ok);
        if i % 2 == 0 {
            add(format!("h{i}.example.alpha."), Rtype::AAAA, ok);
        }
        if i % 3 == 0 {
            add(format!("h{i}.example.beta."), Rtype::TXT, ok);
        }
        if i % 7 == 0 {
            add(format!("h{i}.old.example.alpha."), Rtype::A, ok);
            add(format!("x{i}.wild.example.alpha."), Rtype::A, ok);
        }
    }
    for i in 1..=SMALL {
        for zone in ["noglue", "lame", "dead", "slow"] {
            add(format!("h{i}.{zone}.alpha."), Rtype::A, ok);
        }
    }
    for i in 1..=20 {
        add(format!("nx{i}.example.alpha."), Rtype::A, nx);
        add(format!("nx{i}.example.beta."), Rtype::A, nx);
    }
    for i in 1..=8 {
        add(format!("nx{i}.noglue.alpha."), Rtype::A, nx);
        add(format!("name{i}.nosuchtld."), Rtype::A, nx);
        add(format!("h{i}.alllame.alpha."), Rtype::A, fail);
        add(format!("h{i}.alldead.alpha."), Rtype::A, fail);
    }
    for (name, rtype) in [
        ("alpha.", Rtype::SOA),
        ("alpha.", Rtype::NS),
        ("alpha.", Rtype::TXT),
        ("www.alpha.", Rtype::A),
        ("www.alpha.", Rtype::MX),
        ("beta.", Rtype::NS),
        ("example.alpha.", Rtype::MX),
        ("example.alpha.", Rtype::TXT),
        ("example.alpha.", Rtype::NS),
        ("example.alpha.", Rtype::AAAA),
        ("mail.example.alpha.", Rtype::MX),
        ("mail.example.alpha.", Rtype::A),
        ("txt.example.alpha.", Rtype::TXT),
        ("www.example.alpha.", Rtype::A),
        ("www.example.alpha.", Rtype::CNAME),
        ("www.example.alpha.", Rtype::AAAA),
        ("ext.example.alpha.", Rtype::A),
        ("chain1.example.alpha.", Rtype::A),
        ("chain1.example.alpha.", Rtype::TXT),
        ("www.example.beta.", Rtype::A),
        ("deep.example.alpha.", Rtype::A),
        ("nonterminal.deep.example.alpha.", Rtype::A),
        ("empty.nonterminal.deep.example.alpha.", Rtype::A),
        ("ns1.example.alpha.", Rtype::A),
        ("ns.example.beta.", Rtype::A),
        ("example.beta.", Rtype::SOA),
        ("noglue.alpha.", Rtype::NS),
        ("h1.noglue.alpha.", Rtype::AAAA),
        ("slow.alpha.", Rtype::SOA),
    ] {
        add(name.to_string(), rtype, ok);
    }
    add("dangling.example.alpha.".into(), Rtype::A, nx);
    add("old.example.alpha.".into(), Rtype::DNAME, ok);
    add("nx.old.example.alpha.".into(), Rtype::A, nx);
    list
}
