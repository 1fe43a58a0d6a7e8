//! Secret values that never print, and freshly generated ones.

use crate::error::{Error, Result};

/// A secret value. `Debug` and `Display` print `<redacted>`; read it with [`Self::expose`].
/// It is not `Serialize`, so it cannot end up in JSON output by accident. Equality compares
/// in time independent of where the values differ.
#[derive(Clone)]
pub struct SecretValue(String);

impl PartialEq for SecretValue {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl Eq for SecretValue {}

impl SecretValue {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself. Call only where it must leave the process (e.g. a connection).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length in characters.
    pub fn len(&self) -> usize {
        self.0.chars().count()
    }

    /// `true` for the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

impl std::fmt::Display for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The shape of a generated secret value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretForm {
    /// `length` characters from `A-Z a-z 0-9`.
    Alphanumeric {
        /// Characters (16 to 4096).
        length: usize,
    },
    /// `length` characters from letters, digits and `!#%+-.:=?@^_~` (no quotes, backslash,
    /// `$` or spaces, so the value survives shells and connection strings), with at least one
    /// of each class.
    Password {
        /// Characters (16 to 4096).
        length: usize,
    },
    /// `bytes` random bytes as lower-case hex.
    Hex {
        /// Random bytes (16 to 4096).
        bytes: usize,
    },
    /// `bytes` random bytes as unpadded base64url.
    Base64Url {
        /// Random bytes (16 to 4096).
        bytes: usize,
    },
}

impl Default for SecretForm {
    fn default() -> Self {
        Self::Password { length: 32 }
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const SYMBOLS: &[u8] = b"!#%+-.:=?@^_~";
/// The bounds on a generated value's size: below is not strong, above is not a secret.
const MIN_SIZE: usize = 16;
const MAX_SIZE: usize = 4096;

fn random_bytes(n: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| Error::InvalidResponse {
        operation: "generate secret".into(),
        reason: format!("the OS random source failed: {e}"),
    })?;
    Ok(buf)
}

/// Uniform choice from `alphabet` by rejection sampling (no modulo bias).
fn pick(alphabet: &[u8], count: usize) -> Result<Vec<u8>> {
    let limit = 256 - (256 % alphabet.len());
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        for b in random_bytes(count.saturating_mul(2))? {
            if usize::from(b) < limit && out.len() < count {
                out.push(alphabet[usize::from(b) % alphabet.len()]);
            }
        }
    }
    Ok(out)
}

impl SecretForm {
    fn size(&self) -> usize {
        match *self {
            Self::Alphanumeric { length } | Self::Password { length } => length,
            Self::Hex { bytes } | Self::Base64Url { bytes } => bytes,
        }
    }

    /// Checks the form's size (16 to 4096) without generating anything.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `secret_form`.
    pub fn check(&self) -> Result<()> {
        let size = self.size();
        if !(MIN_SIZE..=MAX_SIZE).contains(&size) {
            return Err(Error::invalid(
                "secret_form",
                format!("{size}: between {MIN_SIZE} (strong enough) and {MAX_SIZE}"),
            ));
        }
        Ok(())
    }

    /// Generates a value of this form from the operating system's CSPRNG.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a size outside 16..=4096; an error when the OS random
    /// source fails.
    pub fn generate(&self) -> Result<SecretValue> {
        self.check()?;
        let text = match *self {
            Self::Alphanumeric { length } => {
                String::from_utf8_lossy(&pick(ALNUM, length)?).into_owned()
            }
            Self::Password { length } => {
                let all: Vec<u8> = [ALNUM, SYMBOLS].concat();
                loop {
                    let candidate = pick(&all, length)?;
                    let has = |f: fn(&u8) -> bool| candidate.iter().any(f);
                    if has(u8::is_ascii_uppercase)
                        && has(u8::is_ascii_lowercase)
                        && has(u8::is_ascii_digit)
                        && has(|c| SYMBOLS.contains(c))
                    {
                        break String::from_utf8_lossy(&candidate).into_owned();
                    }
                }
            }
            Self::Hex { bytes } => random_bytes(bytes)?
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            Self::Base64Url { bytes } => azure_core::base64::encode_url_safe(random_bytes(bytes)?),
        };
        Ok(SecretValue(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_never_print() {
        let v = SecretValue::new("hunter2");
        assert_eq!(format!("{v:?}"), "SecretValue(<redacted>)");
        assert_eq!(format!("{v}"), "<redacted>");
        assert_eq!(v.expose(), "hunter2");
    }

    #[test]
    fn generated_values_have_their_form() -> Result<()> {
        let p = SecretForm::Password { length: 40 }.generate()?;
        assert_eq!(p.len(), 40);
        assert!(
            p.expose()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#%+-.:=?@^_~".contains(c))
        );
        assert!(p.expose().chars().any(|c| "!#%+-.:=?@^_~".contains(c)));
        let a = SecretForm::Alphanumeric { length: 24 }.generate()?;
        assert!(a.expose().chars().all(|c| c.is_ascii_alphanumeric()));
        let h = SecretForm::Hex { bytes: 32 }.generate()?;
        assert_eq!(h.len(), 64);
        let b = SecretForm::Base64Url { bytes: 32 }.generate()?;
        assert_eq!(b.len(), 43);
        assert_ne!(
            SecretForm::default().generate()?,
            SecretForm::default().generate()?
        );
        assert!(SecretForm::Password { length: 8 }.generate().is_err());
        Ok(())
    }

    /// Issue 10: an extreme length overflowed `count * 2` or tried to allocate without bound.
    #[test]
    fn extreme_sizes_are_refused_not_attempted() {
        for form in [
            SecretForm::Password { length: usize::MAX },
            SecretForm::Alphanumeric {
                length: usize::MAX / 2 + 1,
            },
            SecretForm::Hex { bytes: usize::MAX },
            SecretForm::Base64Url {
                bytes: MAX_SIZE + 1,
            },
        ] {
            assert!(form.generate().is_err(), "{form:?}");
        }
    }
}
