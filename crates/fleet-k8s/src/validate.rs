//! Checks of names, images, replica counts and CIDRs, done before any request is sent.

use std::net::IpAddr;

use crate::error::{Error, Result};

/// Checks a DNS-1123 subdomain (the name of most objects: deployments, pods, ingresses...).
pub(crate) fn object_name(what: &'static str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid(what, name, "must not be empty"));
    }
    if name.len() > 253 {
        return Err(Error::invalid(what, name, "must be at most 253 characters"));
    }
    for label in name.split('.') {
        label_chars(what, name, label)?;
    }
    Ok(())
}

/// Checks a DNS-1123 label (container names, namespaces, service names).
pub(crate) fn label_name(what: &'static str, name: &str) -> Result<()> {
    if name.len() > 63 {
        return Err(Error::invalid(what, name, "must be at most 63 characters"));
    }
    label_chars(what, name, name)
}

fn label_chars(what: &'static str, whole: &str, label: &str) -> Result<()> {
    if label.is_empty() {
        return Err(Error::invalid(
            what,
            whole,
            "must not be empty or have empty dot-separated parts",
        ));
    }
    if let Some(c) = label
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(Error::invalid(
            what,
            whole,
            format!("character {c:?} not allowed: use lower-case letters, digits and '-'"),
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(Error::invalid(
            what,
            whole,
            "must start and end with a letter or digit",
        ));
    }
    Ok(())
}

/// Checks a container image reference: `[registry[:port]/]path[:tag][@algorithm:hex]`, as the
/// container runtimes parse it (lower-case path components, tag of at most 128 characters).
pub(crate) fn image(reference: &str) -> Result<()> {
    const WHAT: &str = "image";
    let bad = |why: &str| Err(Error::invalid(WHAT, reference, why));
    if reference.is_empty() {
        return bad("must not be empty");
    }
    if reference.len() > 4096 {
        return bad("is longer than 4096 characters");
    }
    if reference
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return bad("must not contain whitespace or control characters");
    }
    let (name_tag, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    if let Some(d) = digest {
        let Some((algo, hex)) = d.split_once(':') else {
            return bad("digest must be ALGORITHM:HEX");
        };
        if algo.is_empty()
            || !algo
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+._-".contains(c))
        {
            return bad("digest algorithm is malformed");
        }
        if hex.len() < 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return bad("digest must have at least 32 hexadecimal digits");
        }
    }
    // A tag is after the last ':' that comes after the last '/' (a ':' before it is a port).
    let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_tag[last_slash..].rfind(':') {
        Some(i) => (
            &name_tag[..last_slash + i],
            Some(&name_tag[last_slash + i + 1..]),
        ),
        None => (name_tag, None),
    };
    if let Some(t) = tag {
        let mut cs = t.chars();
        let first_ok = cs
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if !first_ok || t.len() > 128 || !cs.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            return bad("tag must be 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'");
        }
    }
    if name.is_empty() {
        return bad("repository name is empty");
    }
    let parts: Vec<&str> = name.split('/').collect();
    // The first part is a registry host when it has a '.' or ':' or is `localhost`.
    let path_start = usize::from(
        parts.len() > 1
            && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost"),
    );
    if path_start == 1 {
        let host = parts[0];
        let (h, port) = match host.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host, None),
        };
        if h.is_empty()
            || !h
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            || port.is_some_and(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
        {
            return bad("registry host is malformed");
        }
    }
    for comp in &parts[path_start..] {
        let ok = !comp.is_empty()
            && comp
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            && comp.starts_with(|c: char| c.is_ascii_alphanumeric())
            && comp.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !ok {
            return bad(
                "path components must be lower-case letters, digits and separators ('.', '_', '-'), starting and ending alphanumeric",
            );
        }
    }
    Ok(())
}

/// Checks a replica count for a scale or an autoscaler bound: at most `max` (and so within the
/// API's `int32`), returned as the API's type.
pub(crate) fn replicas(what: &'static str, n: u32, max: u32) -> Result<i32> {
    if n > max {
        return Err(Error::invalid(
            what,
            n.to_string(),
            format!("exceeds the configured maximum of {max}"),
        ));
    }
    i32::try_from(n).map_err(|_| Error::invalid(what, n.to_string(), "exceeds the API's int32"))
}

/// A validated, canonical CIDR block (`10.0.0.0/8`, `2001:db8::/32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `ADDR/PREFIX`, or a bare address as a single host (`/32` or `/128`). Host bits
    /// set below the prefix are rejected, naming the network that was probably meant.
    pub fn parse(s: &str) -> Result<Self> {
        const WHAT: &str = "CIDR";
        let t = s.trim();
        let (addr_s, prefix_s) = match t.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (t, None),
        };
        let addr: IpAddr = addr_s.parse().map_err(|_| {
            Error::invalid(
                WHAT,
                s,
                format!("{addr_s:?} is not an IPv4 or IPv6 address"),
            )
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_s {
            None => max,
            Some(p) => {
                if p.is_empty() || p.len() > 3 || !p.chars().all(|c| c.is_ascii_digit()) {
                    return Err(Error::invalid(WHAT, s, "prefix length must be a number"));
                }
                let n: u8 = p
                    .parse()
                    .map_err(|_| Error::invalid(WHAT, s, "prefix length must be a number"))?;
                if n > max {
                    return Err(Error::invalid(
                        WHAT,
                        s,
                        format!("prefix length must be at most {max}"),
                    ));
                }
                n
            }
        };
        let cidr = Cidr { addr, prefix };
        let net = cidr.network();
        if net != addr {
            return Err(Error::invalid(
                WHAT,
                s,
                format!("host bits are set below /{prefix}; did you mean {net}/{prefix}?"),
            ));
        }
        Ok(cidr)
    }

    /// The address with every bit below the prefix cleared.
    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let bits = u32::from(a);
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4((bits & mask).into())
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6((bits & mask).into())
            }
        }
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl std::str::FromStr for Cidr {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Cidr::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["fleet-api", "a", "fleet-api.v2", "x1"] {
            assert!(object_name("name", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Fleet",
            "-a",
            "a-",
            "a..b",
            "a_b",
            "a b",
            &"x".repeat(254),
        ] {
            let e = object_name("deployment name", bad).err();
            assert!(
                e.as_ref().is_some_and(Error::is_invalid_input),
                "{bad}: {e:?}"
            );
        }
        assert!(label_name("container name", "a.b").is_err());
        assert!(label_name("container name", &"x".repeat(64)).is_err());
        let msg = object_name("deployment name", "Fleet")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            msg.as_deref(),
            Some(
                "invalid deployment name \"Fleet\": character 'F' not allowed: use lower-case letters, digits and '-'"
            )
        );
    }

    #[test]
    fn images() {
        for ok in [
            "nginx",
            "nginx:1.27",
            "registry.example.com/fleet/fleet-api:1.5.0",
            "localhost:5000/a/b:latest",
            "localhost/a",
            "ghcr.io/o/r@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "r.io:443/a_b/c-d:v1.2_3",
        ] {
            assert!(image(ok).is_ok(), "{ok}: {:?}", image(ok));
        }
        for bad in [
            "",
            "Nginx",
            "nginx:",
            "nginx:-x",
            "a b",
            "nginx@sha256:xyz",
            "r.io//a",
            "nginx;rm -rf /",
            "r.io:port/a",
            &format!("a:{}", "x".repeat(129)),
        ] {
            assert!(image(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn replica_bounds() {
        assert_eq!(replicas("replicas", 0, 10).ok(), Some(0));
        assert_eq!(replicas("replicas", 10, 10).ok(), Some(10));
        assert!(replicas("replicas", 11, 10).is_err());
        assert!(replicas("replicas", u32::MAX, u32::MAX).is_err());
    }

    #[test]
    fn cidrs() {
        assert_eq!(
            Cidr::parse("10.0.0.0/8")
                .map(|c| c.to_string())
                .ok()
                .as_deref(),
            Some("10.0.0.0/8")
        );
        assert_eq!(
            Cidr::parse("1.2.3.4")
                .map(|c| c.to_string())
                .ok()
                .as_deref(),
            Some("1.2.3.4/32")
        );
        assert_eq!(Cidr::parse("0.0.0.0/0").map(|c| c.prefix()).ok(), Some(0));
        assert_eq!(
            Cidr::parse("2001:db8::/32")
                .map(|c| c.to_string())
                .ok()
                .as_deref(),
            Some("2001:db8::/32")
        );
        assert_eq!(
            Cidr::parse(" 192.168.1.0/24 ")
                .map(|c| c.to_string())
                .ok()
                .as_deref(),
            Some("192.168.1.0/24")
        );
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0/8",
            "10.0.0.1/8",
            "x/8",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "::1/129",
            "10.0.0.0/8,1.2.3.4",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
        let msg = Cidr::parse("10.0.0.1/8")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.contains("did you mean 10.0.0.0/8"), "{msg}");
    }
}
