//! age keys: the recipients artifacts are encrypted to (public keys, kept in the manifest) and
//! the identities that decrypt them (private keys, never stored next to the ciphertext, never
//! shown by `Debug`).
//!
//! Only X25519 keys (`age1...` / `AGE-SECRET-KEY-1...`) are accepted: they are what both the
//! Rust `age` crate and Debian's `age` 1.1 read, so any artifact can be decrypted with the
//! stock command-line tool in an emergency.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::secrecy::ExposeSecret as _;

use crate::error::{Error, Result};

/// The public keys every artifact of a backup is encrypted to (one or more: an operations key
/// and an offline break-glass key, say).
#[derive(Clone)]
pub struct Recipients(Vec<age::x25519::Recipient>);

impl fmt::Debug for Recipients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|r| r.to_string()))
            .finish()
    }
}

impl Recipients {
    /// Parses `age1...` public keys. Lines of a recipients file can be passed as they are:
    /// blank lines and `#` comments are skipped.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the line that is not an X25519 recipient, or when no
    /// recipient is given.
    pub fn parse<S: AsRef<str>>(keys: &[S]) -> Result<Self> {
        let mut out = Vec::new();
        for (n, key) in keys.iter().flat_map(|k| k.as_ref().lines()).enumerate() {
            let key = key.trim();
            if key.is_empty() || key.starts_with('#') {
                continue;
            }
            let r = age::x25519::Recipient::from_str(key).map_err(|e| {
                Error::invalid(
                    "recipient",
                    format!(
                        "entry {} ({key:?}) is not an age X25519 recipient (age1...): {e}",
                        n + 1
                    ),
                )
            })?;
            if !out
                .iter()
                .any(|o: &age::x25519::Recipient| o.to_string() == r.to_string())
            {
                out.push(r);
            }
        }
        if out.is_empty() {
            return Err(Error::invalid(
                "recipients",
                "at least one age recipient (age1...) is needed: artifacts are always encrypted",
            ));
        }
        Ok(Self(out))
    }

    /// Recipients from `age1...` values given directly and from recipients files (one key a
    /// line, `#` comments), as [`Recipients::parse`] reads them.
    ///
    /// # Errors
    /// [`Error::Io`] naming a file that cannot be read; otherwise as [`Recipients::parse`].
    pub fn from_keys_and_files<S: AsRef<str>>(keys: &[S], files: &[PathBuf]) -> Result<Self> {
        let mut all: Vec<String> = keys.iter().map(|k| k.as_ref().to_owned()).collect();
        for file in files {
            let text = std::fs::read_to_string(file)
                .map_err(|e| Error::io(format!("reading recipients {}", file.display()), e))?;
            all.push(text);
        }
        Self::parse(&all)
    }

    /// The public keys, as `age1...` strings (what the manifest records).
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }

    pub(crate) fn encryptor(&self) -> Result<age::Encryptor> {
        age::Encryptor::with_recipients(self.0.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| Error::invalid("recipients", e.to_string()))
    }
}

/// Private keys that decrypt artifacts. `Debug` shows only their public halves.
#[derive(Clone)]
pub struct Identities(Vec<age::x25519::Identity>);

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identities")
            .field("public", &self.public().to_strings())
            .finish_non_exhaustive()
    }
}

impl Identities {
    /// Parses `AGE-SECRET-KEY-1...` lines (an age identity file's text: comments and blank
    /// lines are skipped).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the line number (never the key) that does not parse, or
    /// when there is no identity.
    pub fn parse(text: &str) -> Result<Self> {
        let mut out = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let id = age::x25519::Identity::from_str(line).map_err(|_| {
                Error::invalid(
                    "identity",
                    format!(
                        "line {} is not an age X25519 identity (AGE-SECRET-KEY-1...)",
                        n + 1
                    ),
                )
            })?;
            out.push(id);
        }
        if out.is_empty() {
            return Err(Error::invalid(
                "identities",
                "no age identity (AGE-SECRET-KEY-1...) found",
            ));
        }
        Ok(Self(out))
    }

    /// Reads an age identity file. Errors name the file and the line, never a key.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; [`Error::InvalidInput`] (prefixed with the
    /// file's path) as [`Identities::parse`].
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading identity {}", path.display()), e))?;
        Self::parse(&text).map_err(|e| match e {
            Error::InvalidInput { what, reason } => Error::InvalidInput {
                what,
                reason: format!("{}: {reason}", path.display()),
            },
            other => other,
        })
    }

    /// A new random identity (for drills, tests and key set-up).
    pub fn generate() -> Self {
        Self(vec![age::x25519::Identity::generate()])
    }

    /// The identities as an age identity file's text. The caller decides where that secret
    /// goes (a vault, a key file with mode 0600): this crate never writes it.
    pub fn to_secret_text(&self) -> String {
        let mut s = String::new();
        for id in &self.0 {
            s.push_str(id.to_string().expose_secret());
            s.push('\n');
        }
        s
    }

    /// The matching public keys.
    pub fn public(&self) -> Recipients {
        Recipients(
            self.0
                .iter()
                .map(age::x25519::Identity::to_public)
                .collect(),
        )
    }

    pub(crate) fn as_dyn(&self) -> impl Iterator<Item = &dyn age::Identity> {
        self.0.iter().map(|i| i as &dyn age::Identity)
    }

    pub(crate) fn matches_any(&self, recipients: &[String]) -> bool {
        self.public()
            .to_strings()
            .iter()
            .any(|p| recipients.iter().any(|r| r == p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_are_read_and_named_in_errors_never_their_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let id = Identities::generate();
        let id_file = dir.path().join("key.txt");
        std::fs::write(&id_file, format!("# ops key\n{}", id.to_secret_text())).expect("write");
        let read = Identities::from_file(&id_file).expect("identity file");
        assert_eq!(read.public().to_strings(), id.public().to_strings());

        let recipients_file = dir.path().join("recipients.txt");
        let other = Identities::generate().public().to_strings();
        std::fs::write(&recipients_file, format!("{}\n", other[0])).expect("write");
        let both = Recipients::from_keys_and_files(
            &id.public().to_strings(),
            std::slice::from_ref(&recipients_file),
        )
        .expect("recipients");
        assert_eq!(both.to_strings().len(), 2);

        let bad = dir.path().join("bad.txt");
        std::fs::write(&bad, "AGE-SECRET-KEY-1NOTAKEY").expect("write");
        let e = Identities::from_file(&bad).expect_err("not a key");
        assert!(e.is_invalid_input(), "{e}");
        assert!(
            e.to_string().contains("bad.txt") && e.to_string().contains("line 1"),
            "{e}"
        );
        assert!(!e.to_string().contains("NOTAKEY"), "{e}");
        let missing = Identities::from_file(&dir.path().join("missing.txt")).expect_err("missing");
        assert!(missing.to_string().contains("missing.txt"), "{missing}");
        let e = Recipients::from_keys_and_files(&[] as &[&str], &[dir.path().join("none")])
            .expect_err("missing");
        assert!(e.to_string().contains("none"), "{e}");
    }

    #[test]
    fn parses_and_never_shows_secrets() {
        let id = Identities::generate();
        let secret = id.to_secret_text();
        assert!(secret.starts_with("AGE-SECRET-KEY-1"));
        let again =
            Identities::parse(&format!("# created for a test\n\n{secret}")).expect("parses");
        assert_eq!(again.public().to_strings(), id.public().to_strings());
        let shown = format!("{again:?}");
        assert!(!shown.contains("AGE-SECRET-KEY"), "{shown}");
        assert!(shown.contains("age1"));
        let bad = Identities::parse("AGE-SECRET-KEY-1NOPE\n").expect_err("bad key");
        assert!(bad.is_invalid_input());
        assert!(!bad.to_string().contains("NOPE"), "{bad}");
    }

    #[test]
    fn recipients_need_at_least_one_and_deduplicate() {
        let a = Identities::generate().public().to_strings()[0].clone();
        let b = Identities::generate().public().to_strings()[0].clone();
        let r = Recipients::parse(&[a.as_str(), "# comment", b.as_str(), a.as_str()]).expect("ok");
        assert_eq!(r.to_strings(), vec![a, b]);
        assert!(
            Recipients::parse::<&str>(&[])
                .expect_err("none")
                .is_invalid_input()
        );
        assert!(
            Recipients::parse(&["ssh-ed25519 AAAA"])
                .expect_err("not x25519")
                .is_invalid_input()
        );
    }
}
