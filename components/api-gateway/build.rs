//! Converts the repository's `openapi.yaml` to JSON at build time, so the gateway serves the
//! document without a YAML parser in the component.

fn main() {
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi.yaml");
    println!("cargo:rerun-if-changed={}", source.display());
    let yaml = std::fs::read_to_string(&source)
        .unwrap_or_else(|e| panic!("read {}: {e}", source.display()));
    let document: serde_json::Value = serde_yaml::from_str(&yaml)
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", source.display()));
    let out =
        std::path::Path::new(&std::env::var("OUT_DIR").unwrap_or_else(|e| panic!("OUT_DIR: {e}")))
            .join("openapi.json");
    std::fs::write(&out, document.to_string())
        .unwrap_or_else(|e| panic!("write {}: {e}", out.display()));
}
