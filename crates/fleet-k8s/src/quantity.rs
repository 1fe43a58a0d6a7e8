//! Kubernetes resource quantities (`250m`, `1.5Gi`, `9559630n`, `1e3`) read exactly: CPU to
//! millicores, memory to bytes, both rounded up as Kubernetes rounds (`MilliValue`, `Value`).
//!
//! The grammar is the API server's: an optional sign, digits with at most one `.`, then one
//! suffix: none, a decimal SI prefix (`n u m k M G T P E`), a binary one (`Ki Mi Gi Ti Pi Ei`)
//! or a decimal exponent (`e3`, `E-2`). The value is kept as integer digits times powers of ten
//! and two, so nothing is lost to floating point: `cpu_millicores("{n}m") == n` for every `n`.

use crate::error::{Error, Result};

/// Most significant digits a quantity may have (a `u128` holds 38).
const MAX_DIGITS: usize = 38;
/// Largest decimal exponent accepted (`1e1000` is not a resource amount).
const MAX_EXPONENT: i64 = 1000;

/// A parsed quantity: `(-1)^negative * digits * 10^scale10 * 2^scale2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Quantity {
    negative: bool,
    digits: u128,
    scale10: i64,
    scale2: u32,
}

fn parse(s: &str, what: &'static str) -> Result<Quantity> {
    let bad = |why: &str| Error::invalid(what, s, why);
    let t = s.trim();
    if t.is_empty() {
        return Err(bad("is empty"));
    }
    let (negative, rest) = match t.as_bytes()[0] {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let num_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(num_end);
    if !number.bytes().any(|b| b.is_ascii_digit()) || number.matches('.').count() > 1 {
        return Err(bad("does not start with a number"));
    }
    // Integer digits and the count of digits after the point.
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    let all = int_part.bytes().chain(frac_part.bytes());
    let mut digits: u128 = 0;
    let mut significant = 0usize;
    for b in all {
        if significant == 0 && b == b'0' {
            continue;
        }
        significant += 1;
        if significant > MAX_DIGITS {
            return Err(bad("has too many digits"));
        }
        digits = digits * 10 + u128::from(b - b'0');
    }
    let mut scale10 = -i64::try_from(frac_part.len()).map_err(|_| bad("is too long"))?;
    let mut scale2 = 0u32;
    match suffix {
        "" => {}
        "n" => scale10 -= 9,
        "u" => scale10 -= 6,
        "m" => scale10 -= 3,
        "k" => scale10 += 3,
        "M" => scale10 += 6,
        "G" => scale10 += 9,
        "T" => scale10 += 12,
        "P" => scale10 += 15,
        "E" => scale10 += 18,
        "Ki" => scale2 = 10,
        "Mi" => scale2 = 20,
        "Gi" => scale2 = 30,
        "Ti" => scale2 = 40,
        "Pi" => scale2 = 50,
        "Ei" => scale2 = 60,
        e if e.starts_with(['e', 'E']) => {
            let exp = &e[1..];
            let digits_only = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits_only.is_empty()
                || digits_only.len() > 6
                || !digits_only.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(bad("has a malformed exponent"));
            }
            let exp: i64 = exp.parse().map_err(|_| bad("has a malformed exponent"))?;
            if exp.abs() > MAX_EXPONENT {
                return Err(bad("has an exponent out of range"));
            }
            scale10 += exp;
        }
        other => {
            return Err(Error::invalid(
                what,
                s,
                format!("has an unknown suffix {other:?}"),
            ));
        }
    }
    Ok(Quantity {
        negative: negative && digits != 0,
        digits,
        scale10,
        scale2,
    })
}

impl Quantity {
    /// `ceil(value * 10^extra10)` as a `u64`, or `None` when it does not fit.
    fn ceil_scaled(&self, extra10: i64) -> Option<u64> {
        if self.digits == 0 {
            return Some(0);
        }
        let e = self.scale10.checked_add(extra10)?;
        let binary = self.digits.checked_mul(1u128.checked_shl(self.scale2)?)?;
        let value = if e >= 0 {
            let e = u32::try_from(e).ok()?;
            binary.checked_mul(10u128.checked_pow(e)?)?
        } else {
            let e = u32::try_from(-e).ok()?;
            match 10u128.checked_pow(e) {
                Some(div) => binary.div_ceil(div),
                // More than 10^38: any non-zero value rounds up to 1.
                None => 1,
            }
        };
        u64::try_from(value).ok()
    }
}

fn non_negative(s: &str, what: &'static str) -> Result<Quantity> {
    let q = parse(s, what)?;
    if q.negative {
        return Err(Error::invalid(what, s, "is negative"));
    }
    Ok(q)
}

/// A CPU quantity in millicores, rounded up as Kubernetes rounds `MilliValue`
/// (`9559630n` is 10, `1.5` is 1500).
///
/// # Errors
/// [`Error::InvalidInput`] for anything that is not a non-negative quantity that fits in a `u64`
/// of millicores.
pub fn cpu_millicores(s: &str) -> Result<u64> {
    const WHAT: &str = "CPU quantity";
    non_negative(s, WHAT)?
        .ceil_scaled(3)
        .ok_or_else(|| Error::invalid(WHAT, s, "is too large"))
}

/// A memory quantity in bytes, rounded up (`1.5Gi` is 1610612736, `1e3` is 1000).
///
/// # Errors
/// [`Error::InvalidInput`] for anything that is not a non-negative quantity that fits in a `u64`
/// of bytes.
pub fn memory_bytes(s: &str) -> Result<u64> {
    const WHAT: &str = "memory quantity";
    non_negative(s, WHAT)?
        .ceil_scaled(0)
        .ok_or_else(|| Error::invalid(WHAT, s, "is too large"))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn cpu() {
        let cases = [
            ("250m", 250),
            ("1", 1000),
            ("0.5", 500),
            (".5", 500),
            ("5.", 5000),
            ("+2", 2000),
            ("9559630n", 10),
            ("487558164n", 488),
            ("1500u", 2),
            ("2k", 2_000_000),
            ("1e-3", 1),
            ("1E3", 1_000_000),
            ("1e-999", 1),
            ("0", 0),
            ("-0", 0),
            ("0.000", 0),
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
            ("15Ei", 15 * (1u64 << 60)),
            ("18446744073709551615", u64::MAX),
            ("0.1", 1),
        ];
        for (q, want) in cases {
            assert_eq!(memory_bytes(q).ok(), Some(want), "{q}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            " ",
            "Mi",
            ".",
            "+",
            "-",
            "1.2.3",
            "12XB",
            "1e",
            "1e+",
            "1e1001",
            "1e9999999999",
            "1ee3",
            "--1",
            "-1",
            "1 Gi",
            "16Ei",
            "18446744073709551616",
            "1e30",
            "١",
        ] {
            assert!(memory_bytes(bad).is_err(), "{bad}");
        }
        let e = cpu_millicores("-1").err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("invalid CPU quantity \"-1\": is negative")
        );
    }

    proptest! {
        /// No input makes the parsers panic.
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = cpu_millicores(&s);
            let _ = memory_bytes(&s);
        }

        /// Structured near-misses: numbers, points, signs and suffixes in any order.
        #[test]
        fn never_panics_on_quantity_shapes(s in "[-+]?[0-9.]{0,45}(|n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][-+]?[0-9]{0,8})") {
            let _ = cpu_millicores(&s);
            let _ = memory_bytes(&s);
        }

        /// Printing a value and reading it back gives the value.
        #[test]
        fn round_trips(n in any::<u64>()) {
            prop_assert_eq!(cpu_millicores(&format!("{n}m")).ok(), Some(n));
            prop_assert_eq!(memory_bytes(&n.to_string()).ok(), Some(n));
            if let Some(bytes) = n.checked_mul(1024) {
                prop_assert_eq!(memory_bytes(&format!("{n}Ki")).ok(), Some(bytes));
            }
            if let Some(milli) = n.checked_mul(1000) {
                prop_assert_eq!(cpu_millicores(&n.to_string()).ok(), Some(milli));
            }
        }

        /// Rounding is upwards and never off by more than one unit.
        #[test]
        fn nanocores_round_up(n in 0u64..u64::MAX / 2) {
            let milli = cpu_millicores(&format!("{n}n")).ok();
            prop_assert_eq!(milli, Some(n.div_ceil(1_000_000)));
        }
    }
}
