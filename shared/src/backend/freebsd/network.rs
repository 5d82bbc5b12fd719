//! The host-side network steps of jail(8) on FreeBSD: the address aliases
//! that `interface` (or an `IFACE|` prefix) puts on a host interface around
//! the jail's life, `vnet.interface` and `zfs.dataset`. They are the
//! `ifconfig(8)` and `zfs(8)` command lines jail(8) runs. And port
//! forwarding (`jmk rdr`): pf rdr rules in the anchor `jkit/NAME`, loaded
//! through pfctl(8) as Bastille does with its `rdr/NAME` (pf.conf needs
//! `rdr-anchor "jkit/*"`).

use crate::model::Params;
use crate::model::rdr::{Ports, Proto, Rule, Targets};

/// `ifconfig(8)`'s path.
const IFCONFIG: &str = "/sbin/ifconfig";

/// The `ifconfig` command lines that add (`up`) or remove the aliases of
/// the jail's addresses, IPv4 then IPv6 when adding, the reverse when
/// removing. An entry gets an alias only when it names its interface
/// (`em0|10.0.0.1/24`) or `interface` is set; extra words after the
/// address (`... up`) are passed on when adding.
pub fn alias_commands(params: &Params, up: bool) -> Vec<Vec<String>> {
    let interface = params.str("interface");
    let mut out = Vec::new();
    for (param, v6) in [("ip4.addr", false), ("ip6.addr", true)] {
        for entry in params.list(param) {
            if let Some(argv) = alias_command(entry, interface, v6, up) {
                out.push(argv);
            }
        }
    }
    if !up {
        out.reverse();
    }
    out
}

fn alias_command(entry: &str, interface: Option<&str>, v6: bool, up: bool) -> Option<Vec<String>> {
    let mut words = entry.split(' ').filter(|w| !w.is_empty());
    let first = words.next()?;
    let (iface, addr) = match first.split_once('|') {
        Some((i, a)) => (i, a),
        None => (interface?, first),
    };
    let mut argv: Vec<String> = vec![IFCONFIG.into(), iface.into()];
    match (v6, addr.split_once('/')) {
        (false, None) => argv.extend([
            "inet".into(),
            addr.into(),
            "netmask".into(),
            "255.255.255.255".into(),
        ]),
        (false, Some((a, mask))) if mask.contains('.') => {
            argv.extend(["inet".into(), a.into(), "netmask".into(), mask.into()]);
        }
        (false, Some(_)) => argv.extend(["inet".into(), addr.into()]),
        (true, None) => argv.extend([
            "inet6".into(),
            addr.into(),
            "prefixlen".into(),
            "128".into(),
        ]),
        (true, Some(_)) => argv.extend(["inet6".into(), addr.into()]),
    }
    if up {
        argv.extend(words.map(str::to_string));
    }
    argv.push(if up { "alias" } else { "-alias" }.into());
    Some(argv)
}

/// `ifconfig IFACE vnet JID` (or `-vnet` to take it back).
pub fn vnet_command(iface: &str, jid: i64, up: bool) -> Vec<String> {
    vec![
        IFCONFIG.into(),
        iface.into(),
        if up { "vnet" } else { "-vnet" }.into(),
        jid.to_string(),
    ]
}

/// The shell command that attaches ZFS dataset `dataset` to jail `jid`.
pub fn zfs_command(dataset: &str, jid: i64) -> Vec<String> {
    let script = format!(
        "if [ $(/sbin/zfs get -H -o value jailed {dataset}) = on ]; then /sbin/zfs jail {jid} {dataset} || \
         echo error, attaching {dataset} to jail {jid} failed; else echo error, you need to set jailed=on for \
         dataset {dataset}; fi"
    );
    vec!["/bin/sh".into(), "-c".into(), script]
}

/// `pfctl(8)`'s path.
const PFCTL: &str = "/sbin/pfctl";

/// The pf anchor of jail `name`'s rdr rules.
pub fn anchor(name: &str) -> String {
    format!("jkit/{name}")
}

/// `pfctl -a jkit/NAME -f -`: load the anchor's rules from stdin.
pub fn pfctl_load(name: &str) -> Vec<String> {
    [PFCTL, "-a", &anchor(name), "-f", "-"]
        .map(str::to_string)
        .to_vec()
}

/// `pfctl -a jkit/NAME -F nat`: drop the anchor's rdr rules (Bastille's
/// `rdr clear`).
pub fn pfctl_flush(name: &str) -> Vec<String> {
    [PFCTL, "-a", &anchor(name), "-F", "nat"]
        .map(str::to_string)
        .to_vec()
}

/// The pf rules of `rules` to the jail's `targets`, one line each: for
/// each family a rule covers and the jail has an address of,
/// `rdr pass [on IF] inet|inet6 proto P from SRC to DST port HOST -> JAIL port PORT`,
/// DST being the host's own addresses (`self`) unless `-d` names one.
pub fn pf_rules(targets: &Targets, rules: &[Rule]) -> String {
    let mut out = String::new();
    for r in rules {
        for to in targets.for_rule(r) {
            let on = r
                .interface
                .as_ref()
                .map(|i| format!(" on {i}"))
                .unwrap_or_default();
            let af = if to.is_ipv4() { "inet" } else { "inet6" };
            let from = r.source.map_or("any".to_string(), |s| s.to_string());
            let dst = r.destination.map_or("self".to_string(), |d| d.to_string());
            let jail_port = if r.jail.span() == 0 {
                r.jail.first.to_string()
            } else {
                format!("{}:*", r.jail.first)
            };
            out.push_str(&format!(
                "rdr pass{on} {af} proto {} from {from} to {dst} port {} -> {to} port {jail_port}\n",
                r.proto.as_str(),
                r.host,
            ));
        }
    }
    out
}

/// `sockstat -46 -l -q -P PROTO -p FIRST-LAST`: the host's listening
/// sockets on those ports.
pub fn sockstat_command(proto: Proto, ports: Ports) -> Vec<String> {
    vec![
        "/usr/bin/sockstat".into(),
        "-46".into(),
        "-l".into(),
        "-q".into(),
        "-P".into(),
        proto.as_str().into(),
        "-p".into(),
        format!("{}-{}", ports.first, ports.last),
    ]
}

/// The first socket of `sockstat_command`'s output (`USER COMMAND PID FD
/// PROTO LOCAL FOREIGN`) not bound to loopback only, as a line naming its
/// process.
pub fn listener_of(proto: Proto, sockstat: &str) -> Option<String> {
    sockstat.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (command, pid, local) = (f.get(1)?, f.get(2)?, f.get(5)?);
        let (addr, port) = local.rsplit_once(':')?;
        let addr = addr.trim_start_matches('[').trim_end_matches(']');
        if addr.starts_with("127.") || addr == "::1" {
            return None;
        }
        Some(format!(
            "{} port {port} is in use on the host by {command} (pid {pid})",
            proto.as_str()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[&str]) -> Params {
        crate::model::test_params(pairs)
    }

    fn lines(cmds: &[Vec<String>]) -> Vec<String> {
        cmds.iter().map(|c| c.join(" ")).collect()
    }

    #[test]
    fn aliases_as_jail8_adds_and_removes_them() {
        let p = params(&[
            "interface=em0",
            "ip4.addr=10.213.0.1,lo1|10.213.0.2/24,10.213.0.3/255.255.0.0",
            "ip6.addr=fd00:213::1,fd00:213::2/64",
        ]);
        assert_eq!(
            lines(&alias_commands(&p, true)),
            [
                "/sbin/ifconfig em0 inet 10.213.0.1 netmask 255.255.255.255 alias",
                "/sbin/ifconfig lo1 inet 10.213.0.2/24 alias",
                "/sbin/ifconfig em0 inet 10.213.0.3 netmask 255.255.0.0 alias",
                "/sbin/ifconfig em0 inet6 fd00:213::1 prefixlen 128 alias",
                "/sbin/ifconfig em0 inet6 fd00:213::2/64 alias",
            ]
        );
        let down = lines(&alias_commands(&p, false));
        assert_eq!(down[0], "/sbin/ifconfig em0 inet6 fd00:213::2/64 -alias");
        assert_eq!(
            down[4],
            "/sbin/ifconfig em0 inet 10.213.0.1 netmask 255.255.255.255 -alias"
        );
        // without an interface only prefixed entries get an alias
        let p = params(&["ip4.addr=10.213.0.1,lo1|10.213.0.2"]);
        assert_eq!(
            lines(&alias_commands(&p, true)),
            ["/sbin/ifconfig lo1 inet 10.213.0.2 netmask 255.255.255.255 alias"]
        );
        assert!(alias_commands(&Params::new(), true).is_empty());
    }

    #[test]
    fn vnet_and_zfs_commands() {
        assert_eq!(
            vnet_command("epair0b", 3, true).join(" "),
            "/sbin/ifconfig epair0b vnet 3"
        );
        assert_eq!(
            vnet_command("epair0b", 3, false).join(" "),
            "/sbin/ifconfig epair0b -vnet 3"
        );
        let z = zfs_command("tank/j", 4);
        assert_eq!(z[..2], ["/bin/sh", "-c"]);
        assert!(z[2].contains("/sbin/zfs jail 4 tank/j"), "{}", z[2]);
    }

    fn rules(args: &[&str]) -> Vec<Rule> {
        args.iter()
            .map(|a| {
                let w: Vec<String> = a.split_whitespace().map(str::to_string).collect();
                match crate::model::rdr::Action::parse_words(&w).unwrap() {
                    crate::model::rdr::Action::Add(r) => r,
                    x => panic!("{x:?}"),
                }
            })
            .collect()
    }

    #[test]
    fn rdr_rules_as_pf_reads_them() {
        let t = Targets {
            v4: Some("10.17.89.1".parse().unwrap()),
            v6: Some("fd00:213::5".parse().unwrap()),
        };
        let text = pf_rules(
            &t,
            &rules(&[
                "tcp 2001 22",
                "-i em0 -t ipv4 -s 192.0.2.0/24 -d 10.213.0.1 udp 5000:5010 6000:6010",
                "-t ipv6 tcp 8000:8010 80",
            ]),
        );
        assert_eq!(
            text,
            "rdr pass inet proto tcp from any to self port 2001 -> 10.17.89.1 port 22\n\
             rdr pass inet6 proto tcp from any to self port 2001 -> fd00:213::5 port 22\n\
             rdr pass on em0 inet proto udp from 192.0.2.0/24 to 10.213.0.1 port 5000:5010 -> 10.17.89.1 port 6000:*\n\
             rdr pass inet6 proto tcp from any to self port 8000:8010 -> fd00:213::5 port 80\n"
        );
        let v4_only = Targets { v6: None, ..t };
        assert_eq!(
            pf_rules(&v4_only, &rules(&["tcp 80 8080"])).lines().count(),
            1
        );
        assert_eq!(pfctl_load("web").join(" "), "/sbin/pfctl -a jkit/web -f -");
        assert_eq!(
            pfctl_flush("web").join(" "),
            "/sbin/pfctl -a jkit/web -F nat"
        );
    }

    #[test]
    fn sockstat_names_the_listener_but_not_loopback() {
        let ports = Ports::parse("8000:8080").unwrap();
        assert_eq!(
            sockstat_command(Proto::Tcp, ports).join(" "),
            "/usr/bin/sockstat -46 -l -q -P tcp -p 8000-8080"
        );
        let out = "root     sshd       812 4  tcp4   127.0.0.1:8022        *:*\n\
                   www      nginx      901 6  tcp6   *:8080                *:*\n";
        assert_eq!(
            listener_of(Proto::Tcp, out).unwrap(),
            "tcp port 8080 is in use on the host by nginx (pid 901)"
        );
        assert_eq!(
            listener_of(Proto::Udp, "root x 1 2 udp6 [::1]:53 *:*\n"),
            None
        );
    }
}
