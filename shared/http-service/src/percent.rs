//! Percent-encoding, as URLs use it: one decoder for path segments and query strings, one
//! encoder for path segments.

/// Where the text comes from: a query string also writes a space as `+`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    PathSegment,
    Query,
}

/// `%XX` becomes the byte it names (and, in a query, `+` a space); a `%` not followed by two
/// hex digits stays as it is; bytes that are not UTF-8 become U+FFFD.
pub fn decode(text: &str, part: Part) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' if part == Part::Query => out.push(b' '),
            b'%' => {
                if let Some(byte) = text
                    .get(index + 1..index + 3)
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                {
                    out.push(byte);
                    index += 3;
                    continue;
                }
                out.push(b'%');
            }
            other => out.push(other),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `value` as one path segment: everything but unreserved characters percent-encoded.
pub fn encode_segment(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_is_a_space_only_in_queries() {
        assert_eq!(decode("a+b%20c", Part::Query), "a b c");
        assert_eq!(decode("a+b%20c", Part::PathSegment), "a+b c");
    }

    #[test]
    fn broken_escapes_stay_and_encoding_round_trips() {
        assert_eq!(decode("100%", Part::Query), "100%");
        assert_eq!(decode("%zz", Part::PathSegment), "%zz");
        let value = "p 1/x+é";
        assert_eq!(decode(&encode_segment(value), Part::PathSegment), value);
    }
}
