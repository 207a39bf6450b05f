//! The client's address as the throttles key it. The peer address, never `X-Forwarded-For`: a
//! client can write that header itself. IPv6 is keyed by its /64, the block one subscriber usually
//! holds, so hopping between the addresses of one's own block earns no extra tries.

use std::net::IpAddr;

use actix_web::HttpRequest;

/// The peer's network as a throttle key (`unknown` when the connection has no peer address).
pub fn client_network(req: &HttpRequest) -> String {
    req.peer_addr()
        .map_or_else(|| "unknown".to_string(), |peer| network_of(peer.ip()))
}

pub fn network_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_is_keyed_by_its_64_block() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(network_of(a), "2001:db8:1:2::/64");
        assert_eq!(network_of(a), network_of(b));
        assert_ne!(network_of(a), network_of(other));
    }

    #[test]
    fn ipv4_and_mapped_ipv4_are_one_key() {
        let v4: IpAddr = "203.0.113.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(network_of(v4), "203.0.113.7");
        assert_eq!(network_of(mapped), "203.0.113.7");
    }
}
