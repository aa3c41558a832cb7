//! The SSRF guard for Prefect URLs a caller brings in headers (or an OAuth client names):
//! the rules a deployment's [`UrlPolicy`] sets.

use std::net::{Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use crate::settings::UrlPolicy;

/// The SSRF guard for header URLs (already parsed: http(s), a host, no userinfo). Each
/// reason names the rule and the setting that changes it.
pub(crate) fn check_header_url(url: &Url, policy: &UrlPolicy) -> Result<(), String> {
    let host = url.host_str().unwrap_or_default().trim_end_matches('.').to_ascii_lowercase();
    if !policy.api_hosts.is_empty() && !policy.api_hosts.contains(&host) {
        return Err(format!(
            "host `{host}` is not in this server's PREFECT_API_HOSTS allowlist ({}); use one of those hosts, or ask \
             the operator to add it",
            policy.api_hosts.join(", ")
        ));
    }
    if policy.allow_private {
        return Ok(());
    }
    if url.scheme() != "https" {
        return Err(format!(
            "it must use https, not {}; plain http is only accepted when the server sets \
             ALLOW_PRIVATE_PREFECT_URLS=true",
            url.scheme()
        ));
    }
    if let Some(host) = url.host()
        && is_private_host(&host)
    {
        return Err(format!(
            "host `{}` is a loopback, private, link-local or otherwise non-public address; such hosts are only \
             accepted when the server sets ALLOW_PRIVATE_PREFECT_URLS=true",
            url.host_str().unwrap_or_default()
        ));
    }
    Ok(())
}

/// Hosts a public Prefect API never has: loopback, private, link-local (cloud metadata),
/// unspecified, shared, multicast and reserved addresses, and names that are local by
/// definition (`localhost`, `*.localhost`, `*.local`, `*.internal`, single labels). The
/// check is on the host as written; IPv4 written in decimal, hex or octal is normalised
/// by the URL parser first.
fn is_private_host(host: &Host<&str>) -> bool {
    match host {
        Host::Ipv4(ip) => is_private_v4(*ip),
        Host::Ipv6(ip) => is_private_v6(*ip),
        Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            !name.contains('.') || [".localhost", ".local", ".internal"].iter().any(|suffix| name.ends_with(suffix))
        }
    }
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    a == 0 // "this network", incl. 0.0.0.0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier-grade NAT)
        || (a == 169 && b == 254) // link-local: cloud metadata at 169.254.169.254
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || a >= 224 // multicast, reserved, broadcast
}

fn is_private_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d, which covers :: and ::1)
    // and NAT64 (64:ff9b::a.b.c.d) addresses reach the embedded IPv4 address.
    if let [0, 0, 0, 0, 0, 0xffff | 0, ..] | [0x64, 0xff9b, 0, 0, 0, 0, ..] = segments {
        let [.., a, b, c, d] = ip.octets();
        return is_private_v4(Ipv4Addr::new(a, b, c, d));
    }
    (segments[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (segments[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (segments[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
        || (segments[0] & 0xff00) == 0xff00 // multicast
}
