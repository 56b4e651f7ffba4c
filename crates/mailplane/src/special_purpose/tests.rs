//! The classification's tests: a table of addresses, one or more per registry entry, each
//! with the range that names it or none when it is public unicast.

use super::*;

fn range_of(address: &str) -> Option<String> {
    let ip: IpAddr = address.parse().unwrap();
    classify(ip).map(|s| match s.carried_by {
        Some(form) => format!("{form} -> {}", s.range),
        None => s.range,
    })
}

/// One address inside and one just outside every range: (range as the classification
/// names it, inside, outside, what the outside address is: `None` for public unicast).
#[test]
fn one_address_inside_and_one_just_outside_every_range() {
    let rows: &[(&str, &str, &str, Option<&str>)] = &[
        // IPv4.
        ("0.0.0.0/8", "0.1.2.3", "1.0.0.0", None),
        ("0.0.0.0/32", "0.0.0.0", "0.0.0.1", Some("0.0.0.0/8")),
        ("10.0.0.0/8", "10.255.255.255", "11.0.0.0", None),
        ("10.0.0.0/8", "10.0.0.0", "9.255.255.255", None),
        ("100.64.0.0/10", "100.64.0.0", "100.63.255.255", None),
        ("100.64.0.0/10", "100.127.255.255", "100.128.0.0", None),
        ("127.0.0.0/8", "127.0.0.1", "128.0.0.0", None),
        ("127.0.0.0/8", "127.255.255.255", "126.255.255.255", None),
        ("169.254.0.0/16", "169.254.169.254", "169.255.0.0", None),
        ("172.16.0.0/12", "172.31.255.255", "172.32.0.0", None),
        ("172.16.0.0/12", "172.16.0.0", "172.15.255.255", None),
        ("192.0.0.0/24", "192.0.0.255", "192.0.1.0", None),
        ("192.0.0.0/24", "192.0.0.11", "191.255.255.255", None),
        (
            "192.0.0.0/29",
            "192.0.0.7",
            "192.0.0.8",
            Some("192.0.0.8/32"),
        ),
        (
            "192.0.0.8/32",
            "192.0.0.8",
            "192.0.0.11",
            Some("192.0.0.0/24"),
        ),
        (
            "192.0.0.9/32",
            "192.0.0.9",
            "192.0.0.11",
            Some("192.0.0.0/24"),
        ),
        (
            "192.0.0.10/32",
            "192.0.0.10",
            "192.0.0.11",
            Some("192.0.0.0/24"),
        ),
        (
            "192.0.0.170/32",
            "192.0.0.170",
            "192.0.0.169",
            Some("192.0.0.0/24"),
        ),
        (
            "192.0.0.171/32",
            "192.0.0.171",
            "192.0.0.172",
            Some("192.0.0.0/24"),
        ),
        ("192.0.2.0/24", "192.0.2.1", "192.0.3.0", None),
        ("192.31.196.0/24", "192.31.196.1", "192.31.197.0", None),
        ("192.52.193.0/24", "192.52.193.1", "192.52.192.255", None),
        ("192.88.99.0/24", "192.88.99.1", "192.88.100.0", None),
        (
            "192.88.99.2/32",
            "192.88.99.2",
            "192.88.99.3",
            Some("192.88.99.0/24"),
        ),
        ("192.168.0.0/16", "192.168.1.1", "192.169.0.0", None),
        ("192.175.48.0/24", "192.175.48.1", "192.175.49.0", None),
        ("198.18.0.0/15", "198.18.0.1", "198.17.255.255", None),
        ("198.18.0.0/15", "198.19.255.255", "198.20.0.0", None),
        ("198.51.100.0/24", "198.51.100.7", "198.51.101.0", None),
        ("203.0.113.0/24", "203.0.113.7", "203.0.114.0", None),
        ("224.0.0.0/4", "224.0.0.1", "223.255.255.255", None),
        (
            "224.0.0.0/4",
            "239.255.255.255",
            "240.0.0.0",
            Some("240.0.0.0/4"),
        ),
        (
            "240.0.0.0/4",
            "240.0.0.1",
            "239.255.255.255",
            Some("224.0.0.0/4"),
        ),
        (
            "240.0.0.0/4",
            "255.255.255.254",
            "255.255.255.255",
            Some("255.255.255.255/32"),
        ),
        (
            "255.255.255.255/32",
            "255.255.255.255",
            "255.255.255.254",
            Some("240.0.0.0/4"),
        ),
        // IPv6.
        ("::1/128", "::1", "::2", Some("::/96")),
        ("::/128", "::", "::1", Some("::1/128")),
        ("::/96", "::127.0.0.1", "::1:0:0", Some("outside 2000::/3")),
        (
            "::ffff:0.0.0.0/96 -> 127.0.0.0/8",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8",
            None,
        ),
        (
            "::ffff:0.0.0.0/96 -> 10.0.0.0/8",
            "::ffff:10.0.0.1",
            "::fffe:ffff:ffff",
            Some("outside 2000::/3"),
        ),
        (
            "64:ff9b::/96 -> 127.0.0.0/8",
            "64:ff9b::127.0.0.1",
            "64:ff9b::8.8.8.8",
            None,
        ),
        (
            "64:ff9b::/96 -> 192.168.0.0/16",
            "64:ff9b::192.168.0.1",
            "64:ff9b:0:0:0:1::",
            Some("outside 2000::/3"),
        ),
        (
            "64:ff9b:1::/48",
            "64:ff9b:1::1",
            "64:ff9b:2::",
            Some("outside 2000::/3"),
        ),
        ("100::/64", "100::1", "100:0:0:1::", Some("100:0:0:1::/64")),
        (
            "100:0:0:1::/64",
            "100:0:0:1::1",
            "100:0:0:2::",
            Some("outside 2000::/3"),
        ),
        ("2001::/23", "2001:100::", "2001:200::", None),
        ("2001::/32", "2001::1", "2001:1::", Some("2001::/23")),
        ("2001:1::1/128", "2001:1::1", "2001:1::4", Some("2001::/23")),
        ("2001:1::2/128", "2001:1::2", "2001:1::4", Some("2001::/23")),
        ("2001:1::3/128", "2001:1::3", "2001:1::4", Some("2001::/23")),
        ("2001:2::/48", "2001:2::1", "2001:2:1::", Some("2001::/23")),
        ("2001:3::/32", "2001:3::1", "2001:4::", Some("2001::/23")),
        (
            "2001:4:112::/48",
            "2001:4:112::1",
            "2001:4:113::",
            Some("2001::/23"),
        ),
        ("2001:10::/28", "2001:10::1", "2001:f::", Some("2001::/23")),
        (
            "2001:20::/28",
            "2001:2f::1",
            "2001:30::",
            Some("2001:30::/28"),
        ),
        ("2001:30::/28", "2001:30::1", "2001:40::", Some("2001::/23")),
        ("2001:db8::/32", "2001:db8::1", "2001:db9::", None),
        (
            "2002::/16 -> 127.0.0.0/8",
            "2002:7f00:1::1",
            "2002:808:808::1",
            None,
        ),
        (
            "2002::/16 -> 192.168.0.0/16",
            "2002:c0a8:1::",
            "2003::",
            None,
        ),
        (
            "2620:4f:8000::/48",
            "2620:4f:8000::1",
            "2620:4f:8001::",
            None,
        ),
        ("3fff::/20", "3fff:fff::1", "3fff:1000::", None),
        ("5f00::/16", "5f00::1", "5f01::", Some("outside 2000::/3")),
        (
            "fc00::/7",
            "fd12:3456::1",
            "fe00::",
            Some("outside 2000::/3"),
        ),
        ("fe80::/10", "fe80::1", "fec0::", Some("fec0::/10")),
        ("fec0::/10", "fec0::1", "ff00::", Some("ff00::/8")),
        (
            "ff00::/8",
            "ff02::1",
            "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            Some("fec0::/10"),
        ),
        (
            "outside 2000::/3",
            "1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "2000::",
            None,
        ),
        (
            "outside 2000::/3",
            "4000::",
            "3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            None,
        ),
    ];
    for (range, inside, outside, outside_is) in rows {
        assert_eq!(range_of(inside).as_deref(), Some(*range), "{inside}");
        assert_eq!(range_of(outside).as_deref(), *outside_is, "{outside}");
    }
    // Every entry has a row, so that a new entry comes with its addresses.
    for e in ENTRIES {
        let named = e.block.to_string();
        assert!(
            rows.iter()
                .any(|(r, ..)| *r == named || r.starts_with(&format!("{named} -> "))),
            "{named} has no row"
        );
    }
}

/// The first and last address of every block are in it, and the addresses just before
/// and after are not classified by it (they are public or in another block).
#[test]
fn every_block_ends_where_its_prefix_says() {
    for e in ENTRIES {
        let (first, last, before, after): (IpAddr, IpAddr, Option<IpAddr>, Option<IpAddr>) =
            match e.block {
                Block::V4(base, len) => {
                    let last = base | u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
                    (
                        Ipv4Addr::from_bits(base).into(),
                        Ipv4Addr::from_bits(last).into(),
                        base.checked_sub(1).map(|b| Ipv4Addr::from_bits(b).into()),
                        last.checked_add(1).map(|a| Ipv4Addr::from_bits(a).into()),
                    )
                }
                Block::V6(base, len) => {
                    let last = base | u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
                    (
                        Ipv6Addr::from_bits(base).into(),
                        Ipv6Addr::from_bits(last).into(),
                        base.checked_sub(1).map(|b| Ipv6Addr::from_bits(b).into()),
                        last.checked_add(1).map(|a| Ipv6Addr::from_bits(a).into()),
                    )
                }
            };
        assert!(
            e.block.contains(first) && e.block.contains(last),
            "{}",
            e.block
        );
        for outside in [before, after].into_iter().flatten() {
            assert!(!e.block.contains(outside), "{} holds {outside}", e.block);
            if let Some(found) = entry_of(outside) {
                assert!(!std::ptr::eq(found, e), "{} holds {outside}", e.block);
            }
        }
    }
}

#[test]
fn ordinary_public_addresses_are_public_unicast() {
    for address in [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.215.14",
        "223.255.255.255",
        "2606:4700:4700::1111",
        "2a00:1450:4001:80b::200e",
        "::ffff:1.1.1.1",
        "64:ff9b::1.1.1.1",
        "2002:101:101::1",
    ] {
        assert_eq!(classify(address.parse().unwrap()), None, "{address}");
    }
}

#[test]
fn the_explanation_names_the_range_and_the_carried_address() {
    let s = classify("::ffff:127.0.0.1".parse().unwrap()).unwrap();
    assert_eq!(
        s.to_string(),
        "it carries 127.0.0.1 (::ffff:0.0.0.0/96), which is in 127.0.0.0/8 (Loopback, RFC 1122, section 3.2.1.3)"
    );
    let s = classify("198.18.0.1".parse().unwrap()).unwrap();
    assert_eq!(s.to_string(), "in 198.18.0.0/15 (Benchmarking, RFC 2544)");
}
