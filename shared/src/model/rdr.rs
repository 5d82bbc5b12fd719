//! Port forwarding, Bastille's `rdr`: a rule sends what reaches a host
//! port to the same or another port of the jail's address. Rules are
//! written one a line in Bastille's `rdr.conf` form,
//! `FAMILY INTERFACE SOURCE DESTINATION PROTO HOST_PORT JAIL_PORT`
//! (`dual any any any tcp 8080 80`), with `A:B` for a port range.

use std::fmt;
use std::net::IpAddr;

use super::Jail;
use crate::error::{Error, Result};

/// The transport a rule forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }

    fn parse(word: &str) -> Result<Self> {
        match word {
            "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            _ => Err(Error::Usage(format!(
                "rdr: bad protocol \"{word}\" (tcp or udp)"
            ))),
        }
    }
}

/// The address families a rule applies to (`-t`; both when not given).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4 and IPv6, each where the jail has an address of it.
    Dual,
    /// IPv4 only.
    Ipv4,
    /// IPv6 only.
    Ipv6,
}

impl Family {
    /// `dual`, `ipv4` or `ipv6`.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Dual => "dual",
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }

    /// Parse `ipv4` or `ipv6` (and, in a rules file, `dual`).
    pub fn parse(word: &str, dual: bool) -> Result<Self> {
        match word {
            "ipv4" => Ok(Family::Ipv4),
            "ipv6" => Ok(Family::Ipv6),
            "dual" if dual => Ok(Family::Dual),
            _ => Err(Error::Usage(format!(
                "rdr: -t must be ipv4 or ipv6, not \"{word}\""
            ))),
        }
    }

    /// Whether the rule applies to addresses of IPv4 (`v4`) or IPv6.
    pub fn covers(self, v4: bool) -> bool {
        match self {
            Family::Dual => true,
            Family::Ipv4 => v4,
            Family::Ipv6 => !v4,
        }
    }

    fn overlaps(self, other: Family) -> bool {
        [true, false]
            .iter()
            .any(|&v4| self.covers(v4) && other.covers(v4))
    }
}

/// A port or an inclusive range of ports, `P` or `A:B`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// The first port.
    pub first: u16,
    /// The last port (`first` for a single port).
    pub last: u16,
}

impl Ports {
    /// Parse `P` or `A:B` (1 to 65535, A ≤ B).
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            Error::Usage(format!(
                "rdr: bad port \"{text}\" (a port 1-65535, or a range A:B)"
            ))
        };
        let port = |p: &str| {
            p.parse::<u16>()
                .ok()
                .filter(|&n| n > 0 && p.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(bad)
        };
        let (first, last) = match text.split_once(':') {
            Some((a, b)) => (port(a)?, port(b)?),
            None => (port(text)?, port(text)?),
        };
        if first > last {
            return Err(bad());
        }
        Ok(Ports { first, last })
    }

    /// How many ports less one.
    pub fn span(self) -> u16 {
        self.last - self.first
    }

    fn overlaps(self, other: Ports) -> bool {
        self.first <= other.last && other.first <= self.last
    }
}

impl fmt::Display for Ports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}:{}", self.first, self.last)
        }
    }
}

/// An address or a network (`-s`), `ADDR` or `ADDR/PREFIX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    /// The address (host bits as given).
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

impl Network {
    fn parse(text: &str) -> Result<Self> {
        let bad = || {
            Error::Usage(format!(
                "rdr: -s: not an address or network: \"{text}\" (pf tables are not supported)"
            ))
        };
        let (a, p) = text.split_once('/').unwrap_or((text, ""));
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = if p.is_empty() {
            max
        } else {
            p.parse::<u8>().ok().filter(|&n| n <= max).ok_or_else(bad)?
        };
        Ok(Network { addr, prefix })
    }

    /// The address with its host bits cleared, as bytes.
    pub fn masked(&self) -> Vec<u8> {
        let mask = self.mask();
        octets(self.addr)
            .iter()
            .zip(&mask)
            .map(|(a, m)| a & m)
            .collect()
    }

    /// The netmask, as bytes.
    pub fn mask(&self) -> Vec<u8> {
        let len = if self.addr.is_ipv4() { 4 } else { 16 };
        (0..len)
            .map(|i| {
                let bits = u32::from(self.prefix).saturating_sub(i * 8).min(8);
                (0xff00u16 >> bits) as u8
            })
            .collect()
    }

    fn overlaps(&self, other: &Network) -> bool {
        if self.addr.is_ipv4() != other.addr.is_ipv4() {
            return false;
        }
        let shorter = if self.prefix <= other.prefix {
            self
        } else {
            other
        };
        let narrowed = |n: &Network| {
            Network {
                addr: n.addr,
                prefix: shorter.prefix,
            }
            .masked()
        };
        narrowed(self) == narrowed(other)
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let max = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.prefix == max {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

/// An address's bytes, network order.
pub fn octets(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// One forwarding rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The families it applies to.
    pub family: Family,
    /// Only packets arriving on this host interface (`-i`).
    pub interface: Option<String>,
    /// Only packets from this address or network (`-s`).
    pub source: Option<Network>,
    /// Only packets to this host address (`-d`); else any of the host's.
    pub destination: Option<IpAddr>,
    /// The transport.
    pub proto: Proto,
    /// The host ports.
    pub host: Ports,
    /// The jail ports: one port for all, or a range as long as `host`.
    pub jail: Ports,
}

/// The options of a rule (`-i`, `-s`, `-d`, `-t`) as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// `-i IFACE`.
    pub interface: Option<String>,
    /// `-s ADDR[/PREFIX]`.
    pub source: Option<String>,
    /// `-d ADDR`.
    pub destination: Option<String>,
    /// `-t ipv4|ipv6`.
    pub family: Option<String>,
}

impl Options {
    fn is_empty(&self) -> bool {
        *self == Options::default()
    }
}

/// What `rdr NAME ...` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Add a rule.
    Add(Rule),
    /// `list`: print the rules.
    List,
    /// `clear`: drop every rule.
    Clear,
    /// `rm PROTO HOST_PORT`: drop the rules of that protocol and host
    /// ports (of the given options' interface, source, destination and
    /// family, when given).
    Remove(Proto, Ports, Options),
}

/// The most ports a range sent to other ports (`A:B C:D`, C ≠ A) has.
const MAX_SHIFTED: u16 = 1024;

/// Longest interface name Linux takes (FreeBSD's is the same).
const IFNAME_MAX: usize = 15;

impl Action {
    /// Parse the words after the jail's name, with the options given.
    pub fn parse(opts: &Options, words: &[String]) -> Result<Action> {
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let no_options = |what: &str| {
            if opts.is_empty() {
                Ok(())
            } else {
                Err(Error::Usage(format!(
                    "rdr: {what} takes no -i, -s, -d or -t"
                )))
            }
        };
        match words.as_slice() {
            ["list"] => no_options("list").map(|()| Action::List),
            ["clear"] => no_options("clear").map(|()| Action::Clear),
            ["rm", proto, port] => Ok(Action::Remove(
                Proto::parse(proto)?,
                Ports::parse(port)?,
                opts.clone(),
            )),
            [proto, host, jail] if *proto != "rm" => {
                Rule::new(opts, proto, host, jail).map(Action::Add)
            }
            _ => Err(Error::Usage(
                "rdr: usage: rdr NAME [-i IFACE] [-s SOURCE] [-d DESTINATION] [-t ipv4|ipv6] \
                 tcp|udp HOST_PORT JAIL_PORT | list | clear | rm tcp|udp HOST_PORT"
                    .into(),
            )),
        }
    }

    /// Parse Bastille's argument words (jtpl's `RDR`): options first,
    /// then what [`Action::parse`] takes.
    pub fn parse_words(words: &[String]) -> Result<Action> {
        let mut opts = Options::default();
        let mut rest = words;
        while let [flag, value, tail @ ..] = rest {
            let slot = match flag.as_str() {
                "-i" | "--interface" => &mut opts.interface,
                "-s" | "--source" => &mut opts.source,
                "-d" | "--destination" => &mut opts.destination,
                "-t" | "--type" => &mut opts.family,
                f if f.starts_with('-') => {
                    return Err(Error::Usage(format!("rdr: unknown option {f}")));
                }
                _ => break,
            };
            *slot = Some(value.clone());
            rest = tail;
        }
        Action::parse(&opts, rest)
    }
}

impl Rule {
    /// A rule from its options and words, checked.
    pub fn new(opts: &Options, proto: &str, host: &str, jail: &str) -> Result<Rule> {
        let proto = Proto::parse(proto)?;
        let (host, jail) = (Ports::parse(host)?, Ports::parse(jail)?);
        if jail.span() != 0 && jail.span() != host.span() {
            return Err(Error::Usage(format!(
                "rdr: port ranges differ in length: {host} and {jail}"
            )));
        }
        // nftables cannot add to a port: a shifted range is a rule a port.
        if jail.span() != 0 && jail.first != host.first && jail.span() >= MAX_SHIFTED {
            return Err(Error::Usage(format!(
                "rdr: a range sent to other ports has at most {MAX_SHIFTED} ports ({host} to {jail}); keep the same ports or send all to one"
            )));
        }
        let family = match &opts.family {
            Some(t) => Family::parse(t, false)?,
            None if opts.source.is_some() || opts.destination.is_some() => {
                return Err(Error::Usage(
                    "rdr: -t ipv4|ipv6 must be given with -s or -d".into(),
                ));
            }
            None => Family::Dual,
        };
        let in_family = |what: &str, a: IpAddr| {
            if family.covers(a.is_ipv4()) {
                Ok(())
            } else {
                Err(Error::Usage(format!(
                    "rdr: {what} {a} is not an {} address",
                    family.as_str()
                )))
            }
        };
        let source = opts.source.as_deref().map(Network::parse).transpose()?;
        if let Some(s) = &source {
            in_family("-s", s.addr)?;
        }
        let destination = match &opts.destination {
            Some(d) => {
                let a: IpAddr = d
                    .parse()
                    .map_err(|_| Error::Usage(format!("rdr: -d: not an address: \"{d}\"")))?;
                if a.is_loopback() || a.is_unspecified() || a.is_multicast() {
                    return Err(Error::Usage(format!(
                        "rdr: -d {a}: not one of the host's own addresses"
                    )));
                }
                in_family("-d", a)?;
                Some(a)
            }
            None => None,
        };
        if let Some(i) = &opts.interface {
            let bad = i.is_empty()
                || i.len() > IFNAME_MAX
                || i == "any"
                || i.bytes()
                    .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace());
            if bad {
                return Err(Error::Usage(format!(
                    "rdr: -i: \"{i}\" is not an interface name"
                )));
            }
        }
        Ok(Rule {
            family,
            interface: opts.interface.clone(),
            source,
            destination,
            proto,
            host,
            jail,
        })
    }

    /// Parse a line of a rules file.
    pub fn parse_line(line: &str) -> Result<Rule> {
        let w: Vec<&str> = line.split_whitespace().collect();
        let bad = || Error::BadData(format!("not an rdr rule: {line}"));
        let [family, iface, src, dst, proto, host, jail] = w.as_slice() else {
            return Err(bad());
        };
        let given = |w: &str| (w != "any").then(|| w.to_string());
        let family = Family::parse(family, true).map_err(|_| bad())?;
        let opts = Options {
            interface: given(iface),
            source: given(src),
            destination: given(dst),
            family: (family != Family::Dual).then(|| family.as_str().to_string()),
        };
        Rule::new(&opts, proto, host, jail).map_err(|e| Error::BadData(format!("{line}: {e}")))
    }

    /// Whether the two rules would both take some packet.
    pub fn overlaps(&self, other: &Rule) -> bool {
        let both = |a: Option<&str>, b: Option<&str>| a.is_none() || b.is_none() || a == b;
        self.proto == other.proto
            && self.host.overlaps(other.host)
            && self.family.overlaps(other.family)
            && both(self.interface.as_deref(), other.interface.as_deref())
            && (self.destination.is_none()
                || other.destination.is_none()
                || self.destination == other.destination)
            && match (&self.source, &other.source) {
                (Some(a), Some(b)) => a.overlaps(b),
                _ => true,
            }
    }

    /// Whether `rm PROTO PORTS` with `opts` names this rule.
    pub fn matches(&self, proto: Proto, host: Ports, opts: &Options) -> bool {
        let same = |given: &Option<String>, have: Option<String>| {
            given.as_ref().is_none_or(|g| Some(g) == have.as_ref())
        };
        self.proto == proto
            && self.host == host
            && same(&opts.interface, self.interface.clone())
            && same(&opts.source, self.source.map(|s| s.to_string()))
            && same(&opts.destination, self.destination.map(|d| d.to_string()))
            && same(&opts.family, Some(self.family.as_str().to_string()))
    }

    /// The jail port that host port `p` goes to.
    pub fn jail_port(&self, p: u16) -> u16 {
        if self.jail.span() == 0 {
            self.jail.first
        } else {
            self.jail.first + (p - self.host.first)
        }
    }
}

impl fmt::Display for Rule {
    /// The rules-file line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let any = |o: Option<String>| o.unwrap_or_else(|| "any".into());
        write!(
            f,
            "{} {} {} {} {} {} {}",
            self.family.as_str(),
            any(self.interface.clone()),
            any(self.source.map(|s| s.to_string())),
            any(self.destination.map(|d| d.to_string())),
            self.proto.as_str(),
            self.host,
            self.jail
        )
    }
}

/// Parse a rules file's text: one rule a line; blank lines and `#`
/// comments are skipped.
pub fn parse_rules(text: &str) -> Result<Vec<Rule>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(Rule::parse_line)
        .collect()
}

/// The addresses a jail's rules send to: the first of `ip4.addr` and of
/// `ip6.addr` (interface and prefix removed), as Bastille takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Targets {
    /// The jail's first IPv4 address.
    pub v4: Option<IpAddr>,
    /// The jail's first IPv6 address.
    pub v6: Option<IpAddr>,
}

impl Targets {
    /// The targets of jail `def`.
    pub fn of(def: &Jail) -> Targets {
        let first = |param: &str| {
            def.params
                .list(param)
                .first()
                .and_then(|a| super::param::addr_part(a).parse::<IpAddr>().ok())
        };
        Targets {
            v4: first("ip4.addr").filter(IpAddr::is_ipv4),
            v6: first("ip6.addr").filter(IpAddr::is_ipv6),
        }
    }

    /// The jail's addresses `rule` sends to: one per family it covers
    /// and the jail has.
    pub fn for_rule(&self, rule: &Rule) -> Vec<IpAddr> {
        [(true, self.v4), (false, self.v6)]
            .into_iter()
            .filter(|(v4, _)| rule.family.covers(*v4))
            .filter_map(|(_, a)| a)
            .collect()
    }

    /// Check that every rule has an address to go to in the jail `name`.
    pub fn check(&self, name: &str, rules: &[Rule]) -> Result<()> {
        for r in rules {
            if self.for_rule(r).is_empty() {
                let (fam, param) = match r.family {
                    Family::Dual => ("IPv4 or IPv6", "ip4.addr, ip6.addr"),
                    Family::Ipv4 => ("IPv4", "ip4.addr"),
                    Family::Ipv6 => ("IPv6", "ip6.addr"),
                };
                return Err(Error::Config(format!(
                    "jail \"{name}\" has no {fam} address ({param}) to forward {}/{} to",
                    r.proto.as_str(),
                    r.host
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    fn rule(s: &str) -> Rule {
        match Action::parse_words(&words(s)).unwrap() {
            Action::Add(r) => r,
            a => panic!("{a:?}"),
        }
    }

    fn err(s: &str) -> String {
        Action::parse_words(&words(s)).unwrap_err().to_string()
    }

    #[test]
    fn rules_parse_and_print_as_bastille_writes_them() {
        let r = rule("tcp 8080 80");
        assert_eq!(r.to_string(), "dual any any any tcp 8080 80");
        let r = rule("-i eth1 -s 10.213.9.0/24 -d 10.213.0.1 -t ipv4 udp 5000:5010 6000:6010");
        assert_eq!(
            r.to_string(),
            "ipv4 eth1 10.213.9.0/24 10.213.0.1 udp 5000:5010 6000:6010"
        );
        assert_eq!(Rule::parse_line(&r.to_string()).unwrap(), r);
        assert_eq!((r.jail_port(5000), r.jail_port(5010)), (6000, 6010));
        let all_to_one = rule("tcp 8000:8002 80");
        assert_eq!(all_to_one.jail_port(8002), 80);
        let text = "# web\ndual any any any tcp 80 8080\n\nipv6 any fd00:213::/64 any udp 53 53\n";
        let rules = parse_rules(text).unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[1].source.unwrap().to_string(), "fd00:213::/64");
        assert_eq!(Action::parse_words(&words("list")).unwrap(), Action::List);
        assert_eq!(Action::parse_words(&words("clear")).unwrap(), Action::Clear);
        assert!(matches!(
            Action::parse_words(&words("rm udp 53")).unwrap(),
            Action::Remove(
                Proto::Udp,
                Ports {
                    first: 53,
                    last: 53
                },
                _
            )
        ));
    }

    #[test]
    fn bad_rules_are_refused_in_one_line() {
        for (args, msg) in [
            ("sctp 80 80", "rdr: bad protocol \"sctp\" (tcp or udp)"),
            (
                "tcp 0 80",
                "rdr: bad port \"0\" (a port 1-65535, or a range A:B)",
            ),
            (
                "tcp 65536 80",
                "rdr: bad port \"65536\" (a port 1-65535, or a range A:B)",
            ),
            (
                "tcp 90:80 80",
                "rdr: bad port \"90:80\" (a port 1-65535, or a range A:B)",
            ),
            (
                "tcp +80 80",
                "rdr: bad port \"+80\" (a port 1-65535, or a range A:B)",
            ),
            (
                "tcp 80:90 1:5",
                "rdr: port ranges differ in length: 80:90 and 1:5",
            ),
            (
                "tcp 1000:3000 11000:13000",
                "rdr: a range sent to other ports has at most 1024 ports (1000:3000 to 11000:13000); keep the same ports or send all to one",
            ),
            (
                "-s 10.0.0.1 tcp 80 80",
                "rdr: -t ipv4|ipv6 must be given with -s or -d",
            ),
            (
                "-t ipv5 tcp 80 80",
                "rdr: -t must be ipv4 or ipv6, not \"ipv5\"",
            ),
            (
                "-t ipv6 -s 10.0.0.1 tcp 80 80",
                "rdr: -s 10.0.0.1 is not an ipv6 address",
            ),
            (
                "-t ipv4 -d 127.0.0.1 tcp 80 80",
                "rdr: -d 127.0.0.1: not one of the host's own addresses",
            ),
            (
                "-t ipv4 -s <tbl> tcp 80 80",
                "rdr: -s: not an address or network: \"<tbl>\" (pf tables are not supported)",
            ),
            (
                "-i a/b tcp 80 80",
                "rdr: -i: \"a/b\" is not an interface name",
            ),
            ("-x 1 tcp 80 80", "rdr: unknown option -x"),
            ("-i eth0 list", "rdr: list takes no -i, -s, -d or -t"),
        ] {
            assert_eq!(err(args), msg, "{args}");
        }
        assert!(err("tcp 80").starts_with("rdr: usage: "));
        assert_eq!(
            Action::parse_words(&words("tcp 80"))
                .unwrap_err()
                .exit_code(),
            64
        );
        assert!(Rule::parse_line("dual any any any tcp 80").is_err());
    }

    #[test]
    fn overlaps_need_protocol_ports_family_and_match_sets_in_common() {
        let a = rule("tcp 8000:8010 80");
        assert!(a.overlaps(&rule("tcp 8010 80")));
        assert!(!a.overlaps(&rule("udp 8010 80")));
        assert!(!a.overlaps(&rule("tcp 8011 80")));
        let v4 = rule("-t ipv4 tcp 80 80");
        assert!(!v4.overlaps(&rule("-t ipv6 tcp 80 80")));
        assert!(v4.overlaps(&a.clone()) == a.host.overlaps(v4.host));
        assert!(!rule("-i eth0 tcp 80 80").overlaps(&rule("-i eth1 tcp 80 80")));
        assert!(rule("-i eth0 tcp 80 80").overlaps(&rule("tcp 80 80")));
        let s1 = rule("-t ipv4 -s 10.213.0.0/16 tcp 80 80");
        assert!(s1.overlaps(&rule("-t ipv4 -s 10.213.5.6 tcp 80 80")));
        assert!(!s1.overlaps(&rule("-t ipv4 -s 10.214.0.0/16 tcp 80 80")));
        assert!(
            !rule("-t ipv4 -d 10.213.0.1 tcp 80 80")
                .overlaps(&rule("-t ipv4 -d 10.213.0.2 tcp 80 80"))
        );
        let n = Network::parse("10.213.7.9/20").unwrap();
        assert_eq!(n.masked(), [10, 213, 0, 0]);
        assert_eq!(n.mask(), [255, 255, 240, 0]);
        assert!(rule("tcp 80 80").matches(
            Proto::Tcp,
            Ports::parse("80").unwrap(),
            &Options::default()
        ));
        let eth0 = Options {
            interface: Some("eth0".into()),
            ..Options::default()
        };
        assert!(!rule("tcp 80 80").matches(Proto::Tcp, Ports::parse("80").unwrap(), &eth0));
    }

    #[test]
    fn targets_are_the_first_address_of_each_family() {
        let def = Jail {
            name: "w".into(),
            jid: None,
            state: super::super::State::Stopped,
            params: crate::model::test_params(&[
                "ip4.addr=em0|10.213.0.5/24,10.213.0.6",
                "ip6.addr=fd00:213::5/64",
            ]),
        };
        let t = Targets::of(&def);
        assert_eq!(t.v4, Some("10.213.0.5".parse().unwrap()));
        assert_eq!(t.for_rule(&rule("tcp 80 80")).len(), 2);
        assert_eq!(t.for_rule(&rule("-t ipv6 tcp 80 80")), [t.v6.unwrap()]);
        let v4_only = Targets { v6: None, ..t };
        assert_eq!(
            v4_only
                .check("w", &[rule("-t ipv6 udp 53 53")])
                .unwrap_err()
                .to_string(),
            "jail \"w\" has no IPv6 address (ip6.addr) to forward udp/53 to"
        );
        assert!(Targets::default().check("w", &[rule("tcp 80 80")]).is_err());
    }
}
