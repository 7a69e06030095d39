//! A component for the tests of hosting behaviour, never part of the app: `GET .../trap`
//! traps (a Rust panic is a wasm trap), a request with `?sleep_ms=N` answers only after N
//! milliseconds (a slow upstream behind service chaining), anything else answers 200 at once.

/// The Spin entry point; export glue only in the wasm build.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod entry {
    use spin_sdk::http::{Request, Response};
    use spin_sdk::wit::wasi::clocks0_2_0::monotonic_clock;

    #[spin_sdk::http_component]
    fn handle(request: Request) -> Response {
        if request.path().ends_with("/trap") {
            panic!("probe asked to trap");
        }
        if let Some(millis) = super::sleep_millis(request.query()) {
            monotonic_clock::subscribe_duration(millis.saturating_mul(1_000_000)).block();
        }
        Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(r#"{"success":true}"#)
            .build()
    }
}

/// The `sleep_ms` query parameter, if any.
pub fn sleep_millis(query: &str) -> Option<u64> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("sleep_ms="))
        .and_then(|value| value.parse().ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_sleep_parameter() {
        assert_eq!(super::sleep_millis("a=1&sleep_ms=250"), Some(250));
        assert_eq!(super::sleep_millis("sleep_ms=x"), None);
        assert_eq!(super::sleep_millis(""), None);
    }
}
