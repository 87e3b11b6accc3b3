//! The keys the relay's per-address limits count by. proto-spec/relay.md#limits
//!
//! An IPv4 address is scarce, and usually one host (or one NAT: a venue, a carrier's CGNAT).
//! An IPv6 host gets a whole /64 and picks any address in it, and a site gets a /48 (65,536
//! /64s), so counting exact IPv6 addresses lets one machine rotate past every cap. Limits on
//! one host count by [`host`] (IPv4 /32, IPv6 /64); shares of a store that one party must not
//! be able to take alone count by [`site`] (IPv4 /32, IPv6 /48).
//!
//! IPv4 sites stay /32 rather than /24: a /24 is often a carrier's CGNAT pool, shared by
//! thousands of unrelated phones that would then share one quota, and an attacker gains
//! little from neighbouring IPv4 addresses that the /32 caps do not already charge for.
//!
//! ```
//! use meishi_relay::prefix::{host, site};
//!
//! let a = "2001:db8:1:2:aaaa::1".parse().unwrap();
//! let b = "2001:db8:1:3::9".parse().unwrap();
//! assert_ne!(host(a), host(b)); // two /64s
//! assert_eq!(site(a), site(b)); // one /48
//! assert_eq!(host("192.0.2.7".parse().unwrap()).to_string(), "192.0.2.7/32");
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Bits of an IPv6 address that name one host (a subnet is a /64).
pub const IPV6_HOST_BITS: u8 = 64;
/// Bits of an IPv6 address that name one site (the usual end-site allocation).
pub const IPV6_SITE_BITS: u8 = 48;

/// An address prefix: the network part of an address, the rest zeroed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    net: IpAddr,
    len: u8,
}

impl Prefix {
    /// The first `len` bits of `ip` (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn of(ip: IpAddr, len: u8) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(a) => {
                let len = len.min(32);
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                Self {
                    net: IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask)),
                    len,
                }
            }
            IpAddr::V6(a) => {
                let len = len.min(128);
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                Self {
                    net: IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask)),
                    len,
                }
            }
        }
    }

    /// How many leading bits it keeps.
    pub fn bits(&self) -> u8 {
        self.len
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.len)
    }
}

/// The key of one host: an IPv4 address, or an IPv6 /64.
pub fn host(ip: IpAddr) -> Prefix {
    match ip.to_canonical() {
        IpAddr::V4(_) => Prefix::of(ip, 32),
        IpAddr::V6(_) => Prefix::of(ip, IPV6_HOST_BITS),
    }
}

/// The key of one site: an IPv4 address, or an IPv6 /48.
pub fn site(ip: IpAddr) -> Prefix {
    match ip.to_canonical() {
        IpAddr::V4(_) => Prefix::of(ip, 32),
        IpAddr::V6(_) => Prefix::of(ip, IPV6_SITE_BITS),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;

    fn check(ip: &str, want_host: &str, want_site: &str) {
        let ip: IpAddr = ip.parse().unwrap();
        assert_eq!(host(ip).to_string(), want_host, "host of {ip}");
        assert_eq!(site(ip).to_string(), want_site, "site of {ip}");
    }

    #[test]
    fn hosts_and_sites() {
        check("192.0.2.7", "192.0.2.7/32", "192.0.2.7/32");
        check("::ffff:192.0.2.7", "192.0.2.7/32", "192.0.2.7/32");
        check(
            "2001:db8:1:2:3:4:5:6",
            "2001:db8:1:2::/64",
            "2001:db8:1::/48",
        );
        check("::1", "::/64", "::/48");
        assert_eq!(
            Prefix::of("10.1.2.3".parse().unwrap(), 0).to_string(),
            "0.0.0.0/0"
        );
        assert_eq!(Prefix::of("10.1.2.3".parse().unwrap(), 40).bits(), 32);
    }

    #[test]
    fn every_address_of_a_64_is_one_host() {
        let a: IpAddr = "2001:db8:0:1:ffff:ffff:ffff:ffff".parse().unwrap();
        let b: IpAddr = "2001:db8:0:1::".parse().unwrap();
        let c: IpAddr = "2001:db8:0:2::".parse().unwrap();
        assert_eq!(host(a), host(b));
        assert_ne!(host(a), host(c));
        assert_eq!(site(a), site(c));
        assert_ne!(site(a), site("2001:db8:1::".parse().unwrap()));
    }
}
