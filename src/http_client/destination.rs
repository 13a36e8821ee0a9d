//! Where a request whose URL a client chose may go (today: calendar import).
//!
//! A user who may name a URL must not turn the unit into a probe of the networks it sits
//! on: loopback (castd itself, other local services), private, link-local and similar
//! ranges are refused unless an administrator allows the host. The check is made on the
//! addresses a name resolves to, here, once; the caller then connects to exactly those
//! addresses, so a second lookup cannot answer differently (DNS rebinding). Every hop of
//! a redirect comes through here again.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Hosts an administrator allows on any address (the `calendarImportAllowedHosts`
/// setting).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Allowance {
    any: bool,
    names: Vec<String>,
    addresses: Vec<IpAddr>,
}

impl Allowance {
    /// Host names or addresses separated by commas or white space; `*` allows every host.
    pub fn parse(text: &str) -> Allowance {
        let mut allowance = Allowance::default();
        for item in text.split(|c: char| c == ',' || c.is_whitespace()) {
            let item = item.trim().trim_start_matches('[').trim_end_matches(']');
            if item.is_empty() {
                continue;
            }
            if item == "*" {
                allowance.any = true;
            } else if let Ok(ip) = item.parse::<IpAddr>() {
                allowance.addresses.push(ip);
            } else {
                allowance
                    .names
                    .push(item.trim_end_matches('.').to_ascii_lowercase());
            }
        }
        allowance
    }

    fn allows(&self, host: &url::Host<&str>) -> bool {
        self.any
            || match host {
                url::Host::Domain(name) => {
                    let name = name.trim_end_matches('.').to_ascii_lowercase();
                    self.names.contains(&name)
                }
                url::Host::Ipv4(ip) => self.addresses.contains(&IpAddr::V4(*ip)),
                url::Host::Ipv6(ip) => self.addresses.contains(&IpAddr::V6(*ip)),
            }
    }
}

/// Whether `ip` is a unicast address on the public internet: not unspecified, loopback,
/// private (RFC 1918, fc00::/7), shared (100.64/10), link-local, multicast, broadcast,
/// reserved or set aside for documentation, benchmarks or protocols; an IPv6 address that
/// carries an IPv4 one (mapped, compatible, NAT64, 6to4) is judged by that.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                   // "this network", unspecified
        || a == 10                             // private
        || a == 127                            // loopback
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 169 && b == 254)              // link-local
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 168)              // private
        || (a == 192 && b == 0 && c == 0)      // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)      // documentation
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100)   // documentation
        || (a == 203 && b == 0 && c == 113)    // documentation
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded_v4 = |high: usize| {
        let o = ip.octets();
        Ipv4Addr::new(o[high], o[high + 1], o[high + 2], o[high + 3])
    };
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    // ::a.b.c.d (deprecated "compatible"), covering :: and ::1 too.
    if s[..6] == [0; 6] {
        return false;
    }
    // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32 bits.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(embedded_v4(12));
    }
    // 6to4 (2002::/16) carries the IPv4 address in bits 16-47.
    if s[0] == 0x2002 {
        return is_public_v4(embedded_v4(2));
    }
    !((s[0] & 0xfe00) == 0xfc00            // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80       // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0       // site-local fec0::/10 (deprecated)
        || (s[0] & 0xff00) == 0xff00       // multicast
        || (s[0] == 0x2001 && s[1] < 0x200) // IETF protocol assignments 2001::/23 (Teredo …)
        || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation
        || (s[0] == 0x100 && s[1..4] == [0, 0, 0])) // discard-only 100::/64
}

/// The socket addresses `url` may be connected to: its IP address, or those its host name
/// resolves to, keeping only public ones unless the host is allowed. `Err` says why not,
/// for the log (a client gets one answer for every failure).
pub async fn resolve(url: &url::Url, allowance: &Allowance) -> Result<Vec<SocketAddr>, String> {
    let host = url.host().ok_or("the URL has no host")?;
    let port = url.port_or_known_default().ok_or("the URL has no port")?;
    let found: Vec<SocketAddr> = match &host {
        url::Host::Ipv4(ip) => vec![SocketAddr::new(IpAddr::V4(*ip), port)],
        url::Host::Ipv6(ip) => vec![SocketAddr::new(IpAddr::V6(*ip), port)],
        url::Host::Domain(name) => tokio::net::lookup_host((*name, port))
            .await
            .map_err(|e| format!("{name} does not resolve: {e}"))?
            .collect(),
    };
    if allowance.allows(&host) {
        return Ok(found);
    }
    let public: Vec<SocketAddr> = found
        .iter()
        .copied()
        .filter(|a| is_public(a.ip()))
        .collect();
    if public.is_empty() {
        let listed: Vec<String> = found.iter().map(|a| a.ip().to_string()).collect();
        return Err(format!(
            "{host} is on a loopback, private, link-local or reserved address ({}); the calendarImportAllowedHosts setting can allow it",
            listed.join(", ")
        ));
    }
    Ok(public)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn internal_and_special_addresses_are_not_public() {
        for inside in [
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001::1",
            "2001:db8::1",
            "100::1",
        ] {
            assert!(!is_public(ip(inside)), "{inside} must not count as public");
        }
        for outside in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.0.1",
            "172.32.0.1",
            "192.169.0.1",
            "223.255.255.254",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2606:4700::1111",
            "2a00:1450::1",
        ] {
            assert!(is_public(ip(outside)), "{outside} is public");
        }
    }

    #[tokio::test]
    async fn every_spelling_of_loopback_is_refused_unless_allowed() {
        let none = Allowance::default();
        for url in [
            "http://127.0.0.1:9/x.ics",
            "http://2130706433:9/",
            "http://0x7f000001:9/",
            "http://127.1:9/",
            "http://0177.0.0.1:9/",
            "http://localhost:9/",
            "http://LOCALHOST.:9/",
            "http://[::1]:9/",
            "http://[::ffff:127.0.0.1]:9/",
            "http://0.0.0.0:9/",
        ] {
            let parsed = url::Url::parse(url).unwrap();
            let refused = resolve(&parsed, &none).await;
            assert!(refused.is_err(), "{url}: {refused:?}");
        }
        let allowed = Allowance::parse(" 127.0.0.1, localhost [::1]");
        for url in [
            "http://127.0.0.1:9/",
            "http://2130706433:9/",
            "http://localhost:9/",
            "http://[::1]:9/",
        ] {
            let parsed = url::Url::parse(url).unwrap();
            let addrs = resolve(&parsed, &allowed).await.unwrap();
            assert!(addrs.iter().all(|a| a.port() == 9), "{url}: {addrs:?}");
        }
        let refused = resolve(&url::Url::parse("http://10.0.0.1/").unwrap(), &allowed).await;
        assert!(refused.is_err());
        let everything = Allowance::parse("*");
        assert!(
            resolve(&url::Url::parse("http://10.0.0.1/").unwrap(), &everything)
                .await
                .is_ok()
        );
    }
}
