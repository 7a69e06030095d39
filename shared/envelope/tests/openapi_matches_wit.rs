//! One source of truth for the envelope: the schemas `openapi.yaml` gives for it must say what
//! `wit/envelope.wit` says, field by field (camelCase names, which are required, JSON types)
//! and code by code.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use wit_parser::{Resolve, Type, TypeDefKind};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn openapi_schemas() -> Value {
    let text = std::fs::read_to_string(root().join("openapi.yaml")).expect("openapi.yaml");
    let document: Value = serde_yaml::from_str(&text).expect("valid YAML");
    document["components"]["schemas"].clone()
}

/// `execution-time` -> `executionTime`.
fn camel(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c == '-' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The OpenAPI schema name of a WIT type: `error-info` -> `ErrorInfo`.
fn schema_name(wit: &str) -> String {
    let camel = camel(wit);
    let mut chars = camel.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// What the OpenAPI schema of a field of WIT type `ty` must hold: a JSON type, or a `$ref`
/// (`None` for `json`, which is any JSON value).
fn expected_schema(resolve: &Resolve, ty: &Type) -> Option<Value> {
    match ty {
        Type::Bool => Some(serde_json::json!({ "type": "boolean" })),
        Type::String => Some(serde_json::json!({ "type": "string" })),
        Type::U8
        | Type::U16
        | Type::U32
        | Type::U64
        | Type::S8
        | Type::S16
        | Type::S32
        | Type::S64 => Some(serde_json::json!({ "type": "integer" })),
        Type::Id(id) => {
            let def = &resolve.types[*id];
            match &def.kind {
                TypeDefKind::Option(inner) => expected_schema(resolve, inner),
                // `type json = string`: JSON text, embedded as any JSON value.
                TypeDefKind::Type(Type::String) if def.name.as_deref() == Some("json") => None,
                _ => Some(serde_json::json!({
                    "$ref": format!(
                        "#/components/schemas/{}",
                        schema_name(def.name.as_deref().unwrap_or_default())
                    )
                })),
            }
        }
        other => panic!("the envelope uses a WIT type this test does not map: {other:?}"),
    }
}

/// The strings of the JSON array `value` (`what` it is, for the failure).
fn strings<'a>(value: &'a Value, what: &str) -> Vec<&'a str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("{what} is not an array"))
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

fn is_option(resolve: &Resolve, ty: &Type) -> bool {
    matches!(ty, Type::Id(id) if matches!(resolve.types[*id].kind, TypeDefKind::Option(_)))
}

#[test]
fn the_openapi_envelope_schemas_say_what_the_wit_package_says() {
    let mut resolve = Resolve::default();
    resolve.push_dir(root().join("wit")).expect("wit/ parses");
    let schemas = openapi_schemas();
    let mut records = 0;

    for (_, def) in resolve.types.iter() {
        let Some(name) = def.name.as_deref() else {
            continue;
        };
        match &def.kind {
            TypeDefKind::Record(record) => {
                records += 1;
                let schema = &schemas[schema_name(name)];
                assert!(schema.is_object(), "no schema {}", schema_name(name));
                let properties = schema["properties"].as_object().expect("properties");
                let documented: BTreeSet<&str> = properties.keys().map(String::as_str).collect();
                let fields: BTreeSet<String> =
                    record.fields.iter().map(|f| camel(&f.name)).collect();
                assert_eq!(
                    documented,
                    fields.iter().map(String::as_str).collect(),
                    "fields of {name}"
                );
                let required: BTreeSet<&str> = strings(&schema["required"], "required")
                    .into_iter()
                    .collect();
                for field in &record.fields {
                    let key = camel(&field.name);
                    assert_eq!(
                        required.contains(key.as_str()),
                        !is_option(&resolve, &field.ty),
                        "{name}.{key}: required in openapi.yaml exactly when not an option in WIT"
                    );
                    if let Some(expected) = expected_schema(&resolve, &field.ty) {
                        for (keyword, value) in expected.as_object().expect("object") {
                            assert_eq!(
                                &properties[&key][keyword], value,
                                "{name}.{key}: {keyword}"
                            );
                        }
                    }
                }
            }
            TypeDefKind::Enum(cases) => {
                let schema = &schemas[schema_name(name)];
                let documented = strings(&schema["enum"], "enum values");
                let cases: Vec<String> = cases
                    .cases
                    .iter()
                    .map(|case| case.name.replace('-', "_").to_ascii_uppercase())
                    .collect();
                assert_eq!(documented, cases, "cases of {name}");
            }
            _ => {}
        }
    }
    assert_eq!(
        records, 4,
        "envelope, meta, error-info and pagination were all compared"
    );
}
