//! Network facts: interfaces with addresses and link state, the default gateway, DNS.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::net::if_::InterfaceFlags;

use crate::model::{NetworkInterface, NetworkStatus};

/// Reads the interfaces and routes now; DNS reachability comes from `probe`.
pub fn interfaces() -> std::io::Result<Vec<NetworkInterface>> {
    let mut by_name: BTreeMap<String, NetworkInterface> = BTreeMap::new();
    for ifa in nix::ifaddrs::getifaddrs().map_err(std::io::Error::from)? {
        let entry = by_name
            .entry(ifa.interface_name.clone())
            .or_insert_with(|| NetworkInterface {
                name: ifa.interface_name.clone(),
                mac: None,
                addresses: Vec::new(),
                up: false,
                speed_mbps: read_speed(&ifa.interface_name),
            });
        entry.up |= ifa
            .flags
            .contains(InterfaceFlags::IFF_UP | InterfaceFlags::IFF_RUNNING);
        let Some(address) = ifa.address else { continue };
        if let Some(link) = address.as_link_addr() {
            if let Some(mac) = link.addr().filter(|m| m.iter().any(|b| *b != 0)) {
                entry.mac = Some(format_mac(mac));
            }
        } else if let Some(v4) = address.as_sockaddr_in() {
            let prefix = ifa
                .netmask
                .as_ref()
                .and_then(|m| m.as_sockaddr_in())
                .map_or(32, |m| u32::from(m.ip()).count_ones());
            entry.addresses.push(format!("{}/{prefix}", v4.ip()));
        } else if let Some(v6) = address.as_sockaddr_in6() {
            let prefix = ifa
                .netmask
                .as_ref()
                .and_then(|m| m.as_sockaddr_in6())
                .map_or(128, |m| u128::from(m.ip()).count_ones());
            entry.addresses.push(format!("{}/{prefix}", v6.ip()));
        }
    }
    Ok(by_name.into_values().collect())
}

fn read_speed(name: &str) -> Option<u32> {
    // The kernel reports -1 (or fails to read) when the link is down or unknown.
    std::fs::read_to_string(format!("/sys/class/net/{name}/speed"))
        .ok()?
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|s| *s > 0)
        .and_then(|s| u32::try_from(s).ok())
}

fn format_mac(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The IPv4 default gateway from `/proc/net/route`.
pub fn default_gateway() -> Option<Ipv4Addr> {
    parse_default_gateway(&std::fs::read_to_string("/proc/net/route").ok()?)
}

fn parse_default_gateway(table: &str) -> Option<Ipv4Addr> {
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 3 || fields[1] != "00000000" {
            return None;
        }
        let raw = u32::from_str_radix(fields[2], 16).ok()?;
        // The kernel prints the address in host (little-endian) byte order.
        Some(Ipv4Addr::from(raw.swap_bytes()))
    })
}

/// Name servers from `/etc/resolv.conf`.
pub fn dns_servers() -> Vec<IpAddr> {
    std::fs::read_to_string("/etc/resolv.conf")
        .map(|text| parse_resolv_conf(&text))
        .unwrap_or_default()
}

fn parse_resolv_conf(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.trim().split('%').next()?.parse().ok())
        .collect()
}

/// Remembers whether DNS answered, so a panel polling every second does not send a
/// query every second.
pub struct DnsProbe {
    last: Mutex<Option<(Instant, bool)>>,
}

const DNS_PROBE_TTL: Duration = Duration::from_secs(30);
const DNS_TIMEOUT: Duration = Duration::from_millis(800);

impl Default for DnsProbe {
    fn default() -> Self {
        DnsProbe {
            last: Mutex::new(None),
        }
    }
}

impl DnsProbe {
    /// Whether any configured name server answers a query for the root's NS records.
    pub async fn reachable(&self, servers: &[IpAddr]) -> bool {
        if let Some((at, ok)) = *self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            && at.elapsed() < DNS_PROBE_TTL
        {
            return ok;
        }
        let mut ok = false;
        for server in servers {
            if query_root(*server).await {
                ok = true;
                break;
            }
        }
        *self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((Instant::now(), ok));
        ok
    }
}

#[expect(clippy::expect_used, reason = "invariant: address")]
async fn query_root(server: IpAddr) -> bool {
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().expect("address")
    } else {
        "[::]:0".parse().expect("address")
    };
    let Ok(socket) = tokio::net::UdpSocket::bind(bind).await else {
        return false;
    };
    let id: u16 = rand::random();
    // Header: id, flags (recursion desired), 1 question; question: root name, type NS, class IN.
    let mut query = Vec::with_capacity(17);
    query.extend_from_slice(&id.to_be_bytes());
    query.extend_from_slice(&[0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0]);
    query.extend_from_slice(&[0x00, 0x00, 0x02, 0x00, 0x01]);
    if socket.send_to(&query, (server, 53)).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 512];
    match tokio::time::timeout(DNS_TIMEOUT, socket.recv_from(&mut buf)).await {
        Ok(Ok((n, from))) => n >= 12 && from.ip() == server && buf[..2] == id.to_be_bytes(),
        _ => false,
    }
}

/// Everything `/status/network` shows.
pub async fn status(probe: &DnsProbe) -> std::io::Result<NetworkStatus> {
    let interfaces = tokio::task::spawn_blocking(interfaces)
        .await
        .map_err(std::io::Error::other)??;
    let servers = dns_servers();
    Ok(NetworkStatus {
        interfaces,
        default_gateway: default_gateway().map(|g| g.to_string()),
        dns_reachable: probe.reachable(&servers).await,
        dns_servers: servers.iter().map(IpAddr::to_string).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_route_is_decoded() {
        let table = "Iface\tDestination\tGateway \tFlags\n\
                     eth0\t0000A8C0\t00000000\t0001\n\
                     eth0\t00000000\t0100A8C0\t0003\n";
        assert_eq!(
            parse_default_gateway(table),
            Some(Ipv4Addr::new(192, 168, 0, 1))
        );
        assert_eq!(parse_default_gateway("Iface\n"), None);
    }

    #[test]
    fn name_servers_are_read() {
        let conf = "# comment\nnameserver 10.0.0.2\nsearch example\nnameserver fe80::1%eth0\nnameserver junk\n";
        assert_eq!(
            parse_resolv_conf(conf),
            vec![
                "10.0.0.2".parse::<IpAddr>().unwrap(),
                "fe80::1".parse().unwrap()
            ]
        );
    }

    #[test]
    fn loopback_is_listed_up_with_its_address() {
        let all = interfaces().unwrap();
        let lo = all.iter().find(|i| i.name == "lo").expect("lo exists");
        assert!(lo.up);
        assert!(
            lo.addresses.contains(&"127.0.0.1/8".to_string()),
            "{:?}",
            lo.addresses
        );
        assert_eq!(lo.mac, None);
    }
}
