//! Masking the literals of query texts before they reach a report: a query text in
//! `pg_stat_activity` is whatever the client sent, `ALTER ROLE ... PASSWORD '...'` included.

/// Replaces every literal of a SQL text with `?` and every comment body with `?`, keeping
/// keywords, identifiers and quoted identifiers.
///
/// Covered: `'...'` strings (with `''` inside), `E'...'` strings (with backslash escapes),
/// dollar-quoted strings `$$...$$` and `$tag$...$tag$`, numbers, `--` and nested `/* */`
/// comments. An unterminated string or comment is masked to the end of the text. Strings are
/// read as PostgreSQL reads them with `standard_conforming_strings` on (the default since 9.1).
///
/// ```
/// assert_eq!(
///     fleet_db::mask_literals("ALTER ROLE app PASSWORD 'hunter2' VALID UNTIL '2030-01-01'"),
///     "ALTER ROLE app PASSWORD ? VALID UNTIL ?"
/// );
/// assert_eq!(fleet_db::mask_literals("SELECT $x$it's$x$, E'a\\'b', 42"), "SELECT ?, ?, ?");
/// ```
pub fn mask_literals(sql: &str) -> String {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let prev = out.chars().last();
        let after_word = prev.is_some_and(is_ident_char);
        match c {
            '\'' => {
                // E'...' (or e'...'): the E was already copied; drop it, the literal is '?'.
                let escape = matches!(prev, Some('E' | 'e'))
                    && !out
                        .chars()
                        .rev()
                        .nth(1)
                        .is_some_and(|p| is_ident_char(p) || p == '"');
                if escape {
                    out.pop();
                }
                i = skip_string(&chars, i + 1, escape);
                out.push('?');
            }
            '"' => {
                // A quoted identifier: copied through ("" inside is a quote).
                out.push('"');
                i += 1;
                while i < chars.len() {
                    out.push(chars[i]);
                    if chars[i] == '"' {
                        if chars.get(i + 1) == Some(&'"') {
                            out.push('"');
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            '$' if !after_word => match dollar_tag(&chars, i) {
                Some(tag_len) => {
                    let tag = &chars[i..i + tag_len];
                    i = find_seq(&chars, i + tag_len, tag).map_or(chars.len(), |end| end + tag_len);
                    out.push('?');
                }
                None => {
                    // A parameter ($1) or a lone dollar.
                    out.push('$');
                    i += 1;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        out.push(chars[i]);
                        i += 1;
                    }
                }
            },
            '-' if chars.get(i + 1) == Some(&'-') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                out.push_str("-- ?");
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                let mut depth = 0usize;
                while i < chars.len() {
                    if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                out.push_str("/* ? */");
            }
            c if c.is_ascii_digit() && !after_word => {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
                out.push('?');
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// Index after the closing quote of a string whose body starts at `i`.
fn skip_string(chars: &[char], mut i: usize, backslash_escapes: bool) -> usize {
    while i < chars.len() {
        match chars[i] {
            '\\' if backslash_escapes => i += 2,
            '\'' if chars.get(i + 1) == Some(&'\'') => i += 2,
            '\'' => return i + 1,
            _ => i += 1,
        }
    }
    chars.len()
}

/// Length of a dollar-quote opening tag (`$$`, `$tag$`) at `i`, if there is one.
fn dollar_tag(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if let Some(&first) = chars.get(j)
        && (first.is_alphabetic() || first == '_')
    {
        j += 1;
        while chars
            .get(j)
            .is_some_and(|c| c.is_alphanumeric() || *c == '_')
        {
            j += 1;
        }
    }
    (chars.get(j) == Some(&'$')).then_some(j + 1 - i)
}

fn find_seq(chars: &[char], from: usize, seq: &[char]) -> Option<usize> {
    if seq.is_empty() || from > chars.len() {
        return None;
    }
    chars[from..]
        .windows(seq.len())
        .position(|w| w == seq)
        .map(|p| from + p)
}

#[cfg(test)]
mod tests {
    use super::mask_literals as m;

    #[test]
    fn strings_and_numbers() {
        assert_eq!(
            m("SELECT * FROM t WHERE a = 'x''y' AND b = 42 AND c = 1.5e3"),
            "SELECT * FROM t WHERE a = ? AND b = ? AND c = ?"
        );
        assert_eq!(m("SELECT t1.c2 FROM t1"), "SELECT t1.c2 FROM t1");
        assert_eq!(m("SELECT $1, $2"), "SELECT $1, $2");
    }

    #[test]
    fn password_statements() {
        for sql in [
            "ALTER ROLE app PASSWORD 'hunter2'",
            "ALTER ROLE app WITH PASSWORD E'hun\\'ter2'",
            "ALTER ROLE app PASSWORD $$hunter2$$",
            "ALTER ROLE app PASSWORD $pw$hunter2 $$ it's$pw$",
            "CREATE USER x PASSWORD e'\\\\hunter2\\''",
            "ALTER ROLE app PASSWORD 'hunter2",
            "ALTER ROLE app PASSWORD $q$hunter2",
            "SELECT 1 -- don't\n; ALTER ROLE app PASSWORD 'hunter2'",
            "SELECT 1 /* it's /* nested */ ' */ ; ALTER ROLE app PASSWORD 'hunter2'",
        ] {
            let masked = m(sql);
            assert!(!masked.contains("hunter2"), "{sql:?} -> {masked:?}");
            assert!(masked.contains("PASSWORD ?"), "{sql:?} -> {masked:?}");
        }
    }

    #[test]
    fn identifiers_are_kept() {
        assert_eq!(
            m("SELECT \"it's\"\"x\" FROM e"),
            "SELECT \"it's\"\"x\" FROM e"
        );
        assert_eq!(m("SELECT name'x'"), "SELECT name?");
        assert_eq!(m("SELECT some$1 FROM a$b"), "SELECT some$1 FROM a$b");
        assert_eq!(m("SELECT e.x FROM e"), "SELECT e.x FROM e");
    }

    #[test]
    fn never_panics_on_odd_input() {
        for sql in [
            "'",
            "$",
            "$$",
            "$a",
            "E'",
            "e'\\",
            "/*",
            "--",
            "\"",
            "\u{10ffff}'é'",
        ] {
            let _ = m(sql);
        }
    }
}
