//! SCRAM-SHA-256 password verifiers computed on the client (RFC 5802 with SHA-256, RFC 7677),
//! so that `ALTER ROLE ... PASSWORD` carries the verifier and never the password.
//!
//! PostgreSQL stores `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64
//! fields) and accepts that string in `ALTER ROLE ... PASSWORD` as already hashed. From the
//! RFC: `SaltedPassword = Hi(Normalize(password), salt, i)` where `Hi` is PBKDF2 with
//! HMAC-SHA-256 and one output block; `ClientKey = HMAC(SaltedPassword, "Client Key")`;
//! `StoredKey = H(ClientKey)`; `ServerKey = HMAC(SaltedPassword, "Server Key")`.
//! `Normalize` is SASLprep (RFC 4013); like the server and libpq, a password that SASLprep
//! rejects is used as its raw bytes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::secret::Secret;

/// PostgreSQL's default (`scram_iterations`, 4096).
pub(crate) const DEFAULT_ITERATIONS: u32 = 4096;
/// Salt length PostgreSQL itself uses.
pub(crate) const SALT_LEN: usize = 16;
/// A cap that keeps a typo from hashing for minutes (PostgreSQL allows up to `i32::MAX`).
pub(crate) const MAX_ITERATIONS: u32 = 10_000_000;

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length; the error arm cannot happen but is not unwrapped.
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return [0; 32];
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// `Hi(str, salt, i)` of RFC 5802: PBKDF2-HMAC-SHA-256 with one 32-byte block.
fn hi(password: &[u8], salt: &[u8], iterations: u32) -> Zeroizing<[u8; 32]> {
    let mut u = hmac(password, &[salt, &1u32.to_be_bytes()]);
    let mut out = Zeroizing::new(u);
    for _ in 1..iterations {
        u = hmac(password, &[&u]);
        for (o, x) in out.iter_mut().zip(u.iter()) {
            *o ^= x;
        }
    }
    out
}

/// The verifier for `password` with the given salt and iteration count.
pub(crate) fn verifier_with_salt(
    password: &Secret,
    salt: &[u8],
    iterations: u32,
) -> Result<String, Error> {
    if iterations == 0 || iterations > MAX_ITERATIONS {
        return Err(Error::InvalidInput {
            field: "iterations",
            reason: format!("must be between 1 and {MAX_ITERATIONS}"),
        });
    }
    if salt.is_empty() {
        return Err(Error::InvalidInput {
            field: "salt",
            reason: "must not be empty".into(),
        });
    }
    let raw = password.expose();
    let prepared: Zeroizing<Vec<u8>> = Zeroizing::new(match stringprep::saslprep(raw) {
        Ok(p) => p.as_bytes().to_vec(),
        Err(_) => raw.as_bytes().to_vec(),
    });
    let salted = hi(&prepared, salt, iterations);
    let client_key = Zeroizing::new(hmac(salted.as_ref(), &[b"Client Key"]));
    let stored_key: [u8; 32] = Sha256::digest(client_key.as_ref()).into();
    let server_key = hmac(salted.as_ref(), &[b"Server Key"]);
    Ok(format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(stored_key),
        STANDARD.encode(server_key)
    ))
}

/// The verifier for `password` with a fresh random salt.
pub(crate) fn verifier(password: &Secret, iterations: u32) -> Result<String, Error> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(|e| Error::InvalidInput {
        field: "salt",
        reason: format!("no randomness from the operating system: {e}"),
    })?;
    verifier_with_salt(password, &salt, iterations)
}

/// The salt and iteration count of a stored verifier (to recompute it in tests).
#[cfg(test)]
fn parse_verifier(stored: &str) -> Option<(u32, Vec<u8>)> {
    let rest = stored.strip_prefix("SCRAM-SHA-256$")?;
    let (params, _keys) = rest.split_once('$')?;
    let (iterations, salt) = params.split_once(':')?;
    Some((iterations.parse().ok()?, STANDARD.decode(salt).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7677_test_vector() {
        // RFC 7677 §3: user "user", password "pencil", salt "W22ZaJ0SNY7soEsUEjb6gQ==",
        // 4096 iterations; the server signature there is HMAC(ServerKey, AuthMessage), so
        // check ServerKey through it.
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").expect("salt");
        let v = verifier_with_salt(&Secret::new("pencil"), &salt, 4096).expect("verifier");
        let keys = v.rsplit('$').next().expect("keys");
        let (stored, server) = keys.split_once(':').expect("two keys");
        let server_key = STANDARD.decode(server).expect("base64");
        let auth_message = "n=user,r=rOprNGfwEbeRWgbNEkqO,\
            r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,\
            c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let signature = hmac(&server_key, &[auth_message.as_bytes()]);
        assert_eq!(
            STANDARD.encode(signature),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        // The client's proof there: ClientKey = proof XOR HMAC(StoredKey, AuthMessage), and
        // H(ClientKey) must be StoredKey.
        let stored_key = STANDARD.decode(stored).expect("base64");
        let proof = STANDARD
            .decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .expect("proof");
        let client_signature = hmac(&stored_key, &[auth_message.as_bytes()]);
        let client_key: Vec<u8> = proof
            .iter()
            .zip(client_signature.iter())
            .map(|(a, b)| a ^ b)
            .collect();
        assert_eq!(
            Sha256::digest(&client_key).as_slice(),
            stored_key.as_slice()
        );
    }

    #[test]
    fn format_and_parse() {
        let v = verifier(&Secret::new("x"), 4096).expect("verifier");
        assert!(v.starts_with("SCRAM-SHA-256$4096:"), "{v}");
        let (i, salt) = parse_verifier(&v).expect("parses");
        assert_eq!((i, salt.len()), (4096, SALT_LEN));
        assert_eq!(
            verifier_with_salt(&Secret::new("x"), &salt, i).expect("again"),
            v
        );
        assert!(!v.contains('\''), "safe inside a string literal");
    }

    #[test]
    fn extreme_iterations_are_refused() {
        assert!(verifier(&Secret::new("x"), 0).is_err());
        assert!(verifier(&Secret::new("x"), u32::MAX).is_err());
    }
}
