//! jail(8)'s `ip_hostname`: the addresses of `host.hostname` added to
//! `ip4.addr` / `ip6.addr`.

use std::net::{IpAddr, ToSocketAddrs};

use crate::error::{Error, Result};
use crate::model::{Params, Value};

/// Add the addresses `host.hostname` resolves to, to `ip4.addr` and
/// `ip6.addr` (jail(8)'s `ip_hostname`). Addresses already listed are not
/// repeated.
pub fn add_hostname_addresses(params: &mut Params) -> Result<()> {
    let host = params
        .str("host.hostname")
        .ok_or_else(|| Error::Config("ip_hostname: no host.hostname".into()))?
        .to_string();
    let addrs: Vec<IpAddr> = (host.as_str(), 0)
        .to_socket_addrs()
        .map_err(|e| Error::Config(format!("host.hostname {host}: {e}")))?
        .map(|a| a.ip())
        .collect();
    for (param, v6) in [("ip4.addr", false), ("ip6.addr", true)] {
        let mut list = params.list(param).to_vec();
        for a in addrs.iter().filter(|a| a.is_ipv6() == v6) {
            let text = a.to_string();
            if !list
                .iter()
                .any(|e| crate::model::param::addr_part(e) == text)
            {
                list.push(text);
            }
        }
        if !list.is_empty() {
            params.set(
                param,
                if v6 {
                    Value::Ip6(list)
                } else {
                    Value::Ip4(list)
                },
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostname_addresses_are_appended_once() {
        let mut p = Params::new();
        p.assign("host.hostname=localhost").unwrap();
        p.assign("ip4.addr=127.0.0.1").unwrap();
        add_hostname_addresses(&mut p).unwrap();
        assert_eq!(p.list("ip4.addr"), ["127.0.0.1"]);
        let e = add_hostname_addresses(&mut Params::new()).unwrap_err();
        assert_eq!(e.to_string(), "ip_hostname: no host.hostname");
    }
}
