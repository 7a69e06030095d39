//! Request ids: a client's own id is kept when it is sane, otherwise a new UUID v4 is made.

/// The header that carries the request id both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// 1 to 128 characters of `[A-Za-z0-9._-]`: safe to log and echo.
pub fn is_sane_request_id(candidate: &str) -> bool {
    (1..=128).contains(&candidate.len())
        && candidate
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The client's id if sane, else a fresh one.
pub fn request_id_from(header: Option<&str>) -> String {
    match header.map(str::trim) {
        Some(id) if is_sane_request_id(id) => id.to_string(),
        _ => uuid::Uuid::new_v4().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_sane_ids() {
        for id in ["a", "req-123", "A.b_C-9", &"x".repeat(128)] {
            assert!(is_sane_request_id(id), "{id}");
            assert_eq!(request_id_from(Some(id)), id);
        }
    }

    #[test]
    fn replaces_missing_empty_long_or_unsafe_ids_with_a_uuid() {
        let too_long = "x".repeat(129);
        for header in [
            None,
            Some(""),
            Some(too_long.as_str()),
            Some("a b"),
            Some("<script>"),
            Some("é"),
            Some("a\nb"),
        ] {
            let id = request_id_from(header);
            assert!(uuid::Uuid::parse_str(&id).is_ok(), "{header:?} gave {id}");
            assert_eq!(
                uuid::Uuid::parse_str(&id).map(|u| u.get_version_num()).ok(),
                Some(4)
            );
        }
    }

    #[test]
    fn fresh_ids_are_unique() {
        assert_ne!(request_id_from(None), request_id_from(None));
    }
}
