//! Kubernetes resource quantities (`250m`, `1.5Gi`, `9559630n`, `1e3`) parsed to numbers:
//! CPU to millicores, memory to bytes.

use crate::error::{Error, Result};

/// Parses a quantity to its value in base units (cores for CPU, bytes for memory).
pub fn parse_quantity(s: &str) -> Result<f64> {
    const WHAT: &str = "quantity";
    let t = s.trim();
    if t.is_empty() {
        return Err(Error::invalid(WHAT, s, "is empty"));
    }
    // Split the number from the suffix: the number is an optional sign, digits and one '.'.
    let num_end = t
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || *c == '.' || (*i == 0 && (*c == '+' || *c == '-'))))
        .map_or(t.len(), |(i, _)| i);
    let (num, suffix) = t.split_at(num_end);
    if num.is_empty() || num == "+" || num == "-" || num.matches('.').count() > 1 {
        return Err(Error::invalid(WHAT, s, "does not start with a number"));
    }
    let n: f64 = num
        .parse()
        .map_err(|_| Error::invalid(WHAT, s, "does not start with a number"))?;
    let mult = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        e if e.starts_with(['e', 'E']) => {
            let exp: i32 = e[1..]
                .parse()
                .map_err(|_| Error::invalid(WHAT, s, format!("bad exponent {e:?}")))?;
            if !(-30..=30).contains(&exp) {
                return Err(Error::invalid(WHAT, s, "exponent out of range"));
            }
            10f64.powi(exp)
        }
        other => return Err(Error::invalid(WHAT, s, format!("unknown suffix {other:?}"))),
    };
    Ok(n * mult)
}

/// CPU quantity in millicores, rounded up as Kubernetes rounds `MilliValue` (`9559630n` → 10).
pub fn cpu_millicores(s: &str) -> Result<u64> {
    let v = parse_quantity(s)?;
    if v < 0.0 {
        return Err(Error::invalid("CPU quantity", s, "is negative"));
    }
    // Round away tiny float noise before taking the ceiling.
    let milli = v * 1000.0;
    let rounded = (milli * 1e6).round() / 1e6;
    Ok(rounded.ceil() as u64)
}

/// Memory quantity in bytes, rounded up.
pub fn memory_bytes(s: &str) -> Result<u64> {
    let v = parse_quantity(s)?;
    if v < 0.0 {
        return Err(Error::invalid("memory quantity", s, "is negative"));
    }
    Ok(((v * 1e3).round() / 1e3).ceil() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu() {
        let cases = [
            ("250m", 250),
            ("1", 1000),
            ("0.5", 500),
            ("9559630n", 10),
            ("487558164n", 488),
            ("1500u", 2),
            ("2k", 2_000_000),
            ("1e-3", 1),
            ("0", 0),
        ];
        for (q, want) in cases {
            assert_eq!(cpu_millicores(q).ok(), Some(want), "{q}");
        }
    }

    #[test]
    fn memory() {
        let cases = [
            ("22244Ki", 22_777_856),
            ("732212Ki", 749_785_088),
            ("512Mi", 536_870_912),
            ("1Gi", 1_073_741_824),
            ("1G", 1_000_000_000),
            ("128974848", 128_974_848),
            ("1.5Gi", 1_610_612_736),
            ("1e3", 1000),
        ];
        for (q, want) in cases {
            assert_eq!(memory_bytes(q).ok(), Some(want), "{q}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "Mi", "1.2.3", "12XB", "1e", "1e99", "-1", "--1"] {
            let r = if bad == "-1" {
                cpu_millicores(bad).map(|_| ())
            } else {
                parse_quantity(bad).map(|_| ())
            };
            assert!(r.is_err(), "{bad}");
        }
    }
}
