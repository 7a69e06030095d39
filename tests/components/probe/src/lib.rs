//! A component for the tests of hosting behaviour, never part of the app: `GET .../trap`
//! traps (a Rust panic is a wasm trap), `.../spin` computes forever, `.../echo` answers with the request's headers (what a
//! service behind the gateway receives), a request with `?sleep_ms=N` answers only after N
//! milliseconds (a slow upstream behind service chaining), as does every request when the
//! component variable `sleep_ms` is set; anything else answers 200 at once.

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
        if request.path().ends_with("/spin") {
            let mut turns = 0u64;
            loop {
                turns = std::hint::black_box(turns.wrapping_add(1));
            }
        }
        if request.path().ends_with("/echo") {
            let headers: Vec<(String, String)> = request
                .headers()
                .map(|(name, value)| {
                    (
                        name.to_string(),
                        value.as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            return Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(super::headers_json(&headers))
                .build();
        }
        let configured = spin_sdk::variables::get("sleep_ms")
            .ok()
            .and_then(|value| value.parse::<u64>().ok());
        if let Some(millis) = super::sleep_millis(request.query()).or(configured) {
            monotonic_clock::subscribe_duration(millis.saturating_mul(1_000_000)).block();
        }
        Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(r#"{"success":true}"#)
            .build()
    }
}

/// Headers as a JSON object of lower-case names to arrays of values.
pub fn headers_json(headers: &[(String, String)]) -> String {
    let mut object = std::collections::BTreeMap::<String, Vec<String>>::new();
    for (name, value) in headers {
        object
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push(value.clone());
    }
    let fields: Vec<String> = object
        .iter()
        .map(|(name, values)| {
            let values: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
            format!("{name:?}:[{}]", values.join(","))
        })
        .collect();
    format!("{{{}}}", fields.join(","))
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

    #[test]
    fn headers_become_a_json_object_of_value_lists() {
        let json = super::headers_json(&[
            ("X-A".into(), "1".into()),
            ("x-a".into(), "2".into()),
            ("b".into(), "q\"".into()),
        ]);
        assert_eq!(json, r#"{"b":["q\""],"x-a":["1","2"]}"#);
    }
}
