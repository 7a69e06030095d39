//! Who the client is, by address: what the host reports in `spin-client-addr` (never a header
//! the client chose), or, on a request the gateway forwarded between apps (signed with a
//! service token from `api-gateway`), the address the gateway names in `X-Forwarded-For`.
//! Rate limits and login throttling count per [bucket](RequestContext::client_bucket): an
//! IPv4 address, or the /64 an IPv6 client's address is in (the block one subscriber usually
//! holds, so rotating through its addresses does not multiply a limit).

use std::net::{IpAddr, SocketAddr};

use platform::Service;

use crate::RequestContext;

/// The address part of `spin-client-addr` (`ip:port`, `[v6]:port`, or a bare address).
fn parse_address(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    text.parse::<SocketAddr>()
        .map(|socket| socket.ip())
        .ok()
        .or_else(|| text.trim_matches(['[', ']']).parse::<IpAddr>().ok())
}

/// The bucket an address is counted in.
pub(crate) fn bucket_of(address: Option<IpAddr>) -> String {
    match address {
        None => "unknown".to_string(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let block = u128::from(v6) & (u128::MAX << 64);
                format!("{}/64", std::net::Ipv6Addr::from(block))
            }
        },
    }
}

impl RequestContext {
    /// The client's address, as the host (or, between apps, the gateway) reports it.
    pub fn client_address(&self) -> Option<IpAddr> {
        let forwarded = self
            .header("x-forwarded-for")
            .filter(|_| matches!(self.signed_caller(), Ok(Some(Service::Gateway))));
        match forwarded {
            Some(list) => list.split(',').next_back().and_then(parse_address),
            None => self.header("spin-client-addr").and_then(parse_address),
        }
    }

    /// The bucket the client is counted in: its IPv4 address or its IPv6 /64.
    pub fn client_bucket(&self) -> String {
        bucket_of(self.client_address())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(text: &str) -> String {
        bucket_of(parse_address(text))
    }

    #[test]
    fn ipv4_clients_are_counted_by_address_and_ipv6_clients_by_their_64() {
        assert_eq!(bucket("203.0.113.9:51234"), "203.0.113.9");
        assert_eq!(bucket("[2001:db8:1:2:aaaa::1]:443"), "2001:db8:1:2::/64");
        assert_eq!(
            bucket("[2001:db8:1:2:ffff:ffff:ffff:ffff]:80"),
            bucket("[2001:db8:1:2::7]:80"),
            "one /64, one bucket"
        );
        assert_ne!(
            bucket("[2001:db8:1:3::1]:80"),
            bucket("[2001:db8:1:2::1]:80")
        );
        assert_eq!(bucket("[::ffff:198.51.100.7]:80"), "198.51.100.7");
        assert_eq!(bucket("198.51.100.7"), "198.51.100.7");
        assert_eq!(bucket_of(None), "unknown");
        assert_eq!(bucket("not an address"), "unknown");
    }
}
