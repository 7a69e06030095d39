//! A component for the runner's own tests: `GET .../trap` traps (a Rust panic is a wasm
//! trap), anything else answers 200. It is never part of the app.

/// The Spin entry point; export glue only in the wasm build.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod entry {
    use spin_sdk::http::{Request, Response};

    #[spin_sdk::http_component]
    fn handle(request: Request) -> Response {
        if request.path().ends_with("/trap") {
            panic!("probe asked to trap");
        }
        Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(r#"{"success":true}"#)
            .build()
    }
}
