//! Property tests of the redaction entry points: [`redact_connection_string`], `Debug` of
//! [`DbOptions`] and [`PgClient`], and the error for a string that does not parse. Generated
//! connection strings hold a password in every way libpq and the driver accept it (URL user
//! information, a query parameter, `key=value` with and without spaces, single-quoted with
//! escapes, backslash-escaped) and in malformed ways (unencoded `@`, `/` or `&` in a URL,
//! unquoted spaces, unterminated quotes). The password never shows in any of the outputs.
//!
//! Passwords start with `Zq` and the other fields use only `a`..`y` and digits, so the password
//! can only appear in an output by being copied there.

use proptest::prelude::*;

use super::redact_connection_string;
use crate::client::PgClient;
use crate::options::DbOptions;

fn field() -> impl Strategy<Value = String> {
    "[a-y][a-y0-9]{0,7}"
}

fn password() -> impl Strategy<Value = String> {
    // Anything printable, the characters that matter to the parsers made likely.
    let chars = prop_oneof![
        3 => proptest::char::range('a', 'z'),
        1 => proptest::char::range('A', 'Z'),
        1 => proptest::char::range('0', '9'),
        4 => prop::sample::select(vec![
            ' ', '\t', '\'', '"', '\\', '@', ':', '/', '?', '&', '=', '%', '#', '$', ',', '+',
        ]),
        1 => proptest::char::any().prop_filter("no NUL", |c| *c != '\0'),
    ];
    proptest::collection::vec(chars, 0..20)
        .prop_map(|cs| format!("Zq{}", cs.into_iter().collect::<String>()))
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn ws() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["", " ", "  ", "\t", " \n "]).prop_map(str::to_owned)
}

/// The ways a password is written in a key=value string.
fn kv_password(pw: String) -> impl Strategy<Value = String> {
    let escaped_plain: String = pw
        .chars()
        .flat_map(|c| {
            if c.is_whitespace() || c == '\'' || c == '\\' {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect();
    let quoted = format!("'{}'", pw.replace('\\', "\\\\").replace('\'', "\\'"));
    let raw_quoted = format!("'{pw}'");
    let unterminated = format!("'{pw}");
    prop::sample::select(vec![escaped_plain, quoted, pw, raw_quoted, unterminated])
}

fn kv_string() -> impl Strategy<Value = String> {
    (
        field(),
        field(),
        field(),
        password(),
        ws(),
        ws(),
        any::<bool>(),
    )
        .prop_flat_map(|(host, user, db, pw, a, b, first)| {
            kv_password(pw.clone()).prop_map(move |value| {
                let password = format!("password{a}={b}{value}");
                let rest = format!("host={host} user={user} dbname={db}");
                let s = if first {
                    format!("{password} {rest}")
                } else {
                    format!("{rest} {password}")
                };
                (s, pw.clone())
            })
        })
        .prop_map(|(s, pw)| format!("{pw}\u{0}{s}"))
}

fn url_string() -> impl Strategy<Value = String> {
    (
        field(),
        field(),
        field(),
        password(),
        0u8..6,
        prop::sample::select(vec!["postgresql", "postgres"]),
    )
        .prop_map(|(host, user, db, pw, form, scheme)| {
            let s = match form {
                0 => format!("{scheme}://{user}:{}@{host}:5432/{db}", percent(&pw)),
                1 => format!("{scheme}://{user}:{pw}@{host}/{db}"),
                2 => format!(
                    "{scheme}://{host}/{db}?user={user}&password={}&sslmode=disable",
                    percent(&pw)
                ),
                3 => format!("{scheme}://{host}/{db}?password={pw}"),
                4 => format!(
                    "{scheme}://{user}:{}@{host}/{db}?application_name={user}",
                    percent(&pw)
                ),
                _ => format!(
                    "{scheme}://{host}/{db}?sslmode=require&password={}",
                    percent(&pw)
                ),
            };
            format!("{pw}\u{0}{s}")
        })
}

fn check(pair: &str) -> Result<(), TestCaseError> {
    let (pw, conn) = pair.split_once('\u{0}').unwrap_or_default();
    prop_assume!(!pw.is_empty());
    let shown = redact_connection_string(conn);
    prop_assert!(!shown.contains(pw), "redacted {conn:?} -> {shown:?}");
    let options = DbOptions::from_url(conn);
    let debug = format!("{options:?}");
    prop_assert!(!debug.contains(pw), "Debug of {conn:?} -> {debug}");
    match PgClient::new(options) {
        Ok(client) => {
            let debug = format!("{client:?}");
            prop_assert!(!debug.contains(pw), "client Debug of {conn:?} -> {debug}");
            prop_assert!(!client.server().contains(pw));
        }
        Err(e) => {
            let text = format!("{e} {e:?}");
            prop_assert!(!text.contains(pw), "error of {conn:?} -> {text}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn key_value_strings_never_show_the_password(pair in kv_string()) {
        check(&pair)?;
    }

    #[test]
    fn urls_never_show_the_password(pair in url_string()) {
        check(&pair)?;
    }

    #[test]
    fn arbitrary_text_never_shows_a_password_field(
        pw in password(),
        noise in "\\PC{0,30}",
        split in 0usize..31,
    ) {
        // A password dropped into random text, after `password=`.
        let at = noise.char_indices().map(|(i, _)| i).nth(split).unwrap_or(noise.len());
        let conn = format!("{}password={pw} {}", &noise[..at], &noise[at..]);
        check(&format!("{pw}\u{0}{conn}"))?;
    }
}
