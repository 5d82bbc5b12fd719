//! The host-side network steps of jail(8) on FreeBSD: the address aliases
//! that `interface` (or an `IFACE|` prefix) puts on a host interface around
//! the jail's life, `vnet.interface` and `zfs.dataset`. They are the
//! `ifconfig(8)` and `zfs(8)` command lines jail(8) runs.

use crate::model::Params;

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
}
