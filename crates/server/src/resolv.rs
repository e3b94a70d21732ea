//! The parts of resolv.conf(5) the client uses: `nameserver`, and `options timeout:`,
//! `attempts:` and `rotate`.

use std::net::IpAddr;

/// What resolv.conf says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvConf {
    /// Name servers, in order.
    pub nameservers: Vec<IpAddr>,
    /// Seconds per try (resolv.conf default 5).
    pub timeout: u64,
    /// Rounds over the list (resolv.conf default 2).
    pub attempts: u32,
    /// Start at a different server each time.
    pub rotate: bool,
}

impl Default for ResolvConf {
    fn default() -> Self {
        Self { nameservers: Vec::new(), timeout: 5, attempts: 2, rotate: false }
    }
}

/// Parses resolv.conf text; unknown lines are ignored as the C library does.
pub fn parse(text: &str) -> ResolvConf {
    let mut conf = ResolvConf::default();
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or("");
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(Ok(ip)) = words.next().map(|w| w.split('%').next().unwrap_or(w).parse()) {
                    conf.nameservers.push(ip);
                }
            }
            Some("options") => {
                for option in words {
                    if let Some(value) = option.strip_prefix("timeout:") {
                        conf.timeout = value.parse().map_or(conf.timeout, |v: u64| v.clamp(1, 30));
                    } else if let Some(value) = option.strip_prefix("attempts:") {
                        conf.attempts = value.parse().map_or(conf.attempts, |v: u32| v.clamp(1, 5));
                    } else if option == "rotate" {
                        conf.rotate = true;
                    }
                }
            }
            _ => {}
        }
    }
    conf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameservers_and_options() {
        let conf =
            parse("# comment\nnameserver 127.0.0.1\nnameserver ::1\nnameserver fe80::1%eth0\noptions timeout:1 attempts:3 rotate ndots:2\nsearch example\n");
        assert_eq!(conf.nameservers.len(), 3);
        assert_eq!((conf.timeout, conf.attempts, conf.rotate), (1, 3, true));
    }
}
