//! Application variables: values from `SPIN_VARIABLE_*`, `--variable`, or defaults, and the
//! per-component templates (`"{{ name }}"`) that expose them.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result, bail};

use crate::manifest::{Manifest, VariableDecl};

/// Values given to the app from outside, highest precedence first when merged.
#[derive(Debug, Default, Clone)]
pub struct ProvidedValues {
    /// From `--variable name=value` (wins over the environment).
    pub explicit: HashMap<String, String>,
    /// From `SPIN_VARIABLE_<NAME>` environment variables.
    pub environment: HashMap<String, String>,
}

impl ProvidedValues {
    /// Reads `SPIN_VARIABLE_*` from this process's environment.
    pub fn from_process_env() -> Self {
        let environment = std::env::vars()
            .filter_map(|(key, value)| {
                key.strip_prefix("SPIN_VARIABLE_")
                    .map(|name| (name.to_ascii_lowercase(), value))
            })
            .collect();
        Self {
            explicit: HashMap::new(),
            environment,
        }
    }

    /// The value given for `name`, the flag's before the environment's.
    pub fn lookup(&self, name: &str) -> Option<&String> {
        self.explicit
            .get(name)
            .or_else(|| self.environment.get(name))
    }
}

/// Resolves every application variable, failing on the first required one without a value.
pub fn resolve_application(
    declared: &BTreeMap<String, VariableDecl>,
    provided: &ProvidedValues,
) -> Result<HashMap<String, String>> {
    let mut values = HashMap::new();
    for (name, decl) in declared {
        let value = match (provided.lookup(name), &decl.default) {
            (Some(value), _) => value.clone(),
            (None, Some(default)) => default.clone(),
            (None, None) => bail!(
                "required variable `{name}` has no value: set SPIN_VARIABLE_{} or pass --variable {name}=...",
                name.to_ascii_uppercase()
            ),
        };
        values.insert(name.clone(), value);
    }
    Ok(values)
}

/// Refuses start-up when a variable declared `secret = true` holds a value no deployment
/// should sign with (see the `secrets` crate): too short, too uniform, an example file's
/// placeholder, or equal to another secret. The error names the variable. An optional secret
/// left empty is simply unset.
pub fn check_secrets(
    declared: &BTreeMap<String, VariableDecl>,
    values: &HashMap<String, String>,
) -> Result<()> {
    let secrets = declared
        .iter()
        .filter(|(_, decl)| decl.secret)
        .filter_map(|(name, decl)| {
            let value = values.get(name).map(String::as_str).unwrap_or_default();
            (decl.required || !value.is_empty()).then_some((name.as_str(), value))
        });
    secrets::check_distinct(secrets).map_err(|(name, problem)| {
        anyhow::anyhow!(
            "secret variable `{name}` cannot be used: {problem} (set SPIN_VARIABLE_{} to the output of `openssl rand -hex 32`)",
            name.to_ascii_uppercase()
        )
    })
}

/// Expands a component variable template against the application's values.
pub fn expand_template(template: &str, app_values: &HashMap<String, String>) -> Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .with_context(|| format!("unterminated `{{{{` in `{template}`"))?;
        let name = after[..end].trim();
        let value = app_values
            .get(name)
            .with_context(|| format!("template `{template}` names undefined variable `{name}`"))?;
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The resolved variables of every component, keyed by component id then variable name.
pub fn resolve_components(
    manifest: &Manifest,
    app_values: &HashMap<String, String>,
) -> Result<HashMap<String, HashMap<String, String>>> {
    manifest
        .component
        .iter()
        .map(|(id, component)| {
            let values = component
                .variables
                .iter()
                .map(|(name, template)| {
                    expand_template(template, app_values)
                        .map(|value| (name.clone(), value))
                        .with_context(|| format!("component `{id}` variable `{name}`"))
                })
                .collect::<Result<HashMap<_, _>>>()?;
            Ok((id.clone(), values))
        })
        .collect()
}

/// A component's `allowed_outbound_hosts` with `{{ templates }}` expanded from application
/// variables, as Spin does: an entry that expands to nothing (``, `http://`, `https://`) is
/// dropped, so an optional URL variable left empty allows nothing.
pub fn expand_allowed_hosts(
    entries: &[String],
    app_values: &HashMap<String, String>,
) -> Result<Vec<String>> {
    let mut expanded = Vec::with_capacity(entries.len());
    for entry in entries {
        let value = expand_template(entry, app_values)?;
        let value = value.trim();
        if !matches!(value, "" | "http://" | "https://") {
            expanded.push(value.to_string());
        }
    }
    Ok(expanded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decls() -> BTreeMap<String, VariableDecl> {
        BTreeMap::from([
            (
                "jwt_secret".to_string(),
                VariableDecl {
                    required: true,
                    secret: true,
                    ..Default::default()
                },
            ),
            (
                "log_level".to_string(),
                VariableDecl {
                    default: Some("info".into()),
                    ..Default::default()
                },
            ),
        ])
    }

    #[test]
    fn missing_required_variable_is_named_in_the_error() {
        let error = resolve_application(&decls(), &ProvidedValues::default())
            .expect_err("jwt_secret is required");
        assert!(error.to_string().contains("jwt_secret"), "{error}");
    }

    #[test]
    fn explicit_value_beats_environment_beats_default() {
        let mut provided = ProvidedValues::default();
        provided
            .environment
            .insert("jwt_secret".into(), "env".into());
        provided
            .environment
            .insert("log_level".into(), "debug".into());
        provided.explicit.insert("jwt_secret".into(), "flag".into());
        let values = resolve_application(&decls(), &provided).expect("all set");
        assert_eq!(values["jwt_secret"], "flag");
        assert_eq!(values["log_level"], "debug");
    }

    #[test]
    fn weak_or_shared_secrets_stop_start_up_naming_the_variable() {
        let mut declared = decls();
        declared.insert(
            "service_token_secret".into(),
            VariableDecl {
                required: true,
                secret: true,
                ..Default::default()
            },
        );
        declared.insert(
            "admin_bootstrap_token".into(),
            VariableDecl {
                default: Some(String::new()),
                secret: true,
                ..Default::default()
            },
        );
        let strong = "5e0c8a1f9b3d7e2a6c4f8b0d1e3a5c7f9b2d4e6a8c0f1b3d5e7a9c2f4b6d8e0a";
        let other = "a9c2f4b6d8e0a5e0c8a1f9b3d7e2a6c4f8b0d1e3a5c7f9b2d4e6a8c0f1b3d5e7";
        let values = |jwt: &str, service: &str, bootstrap: &str| {
            HashMap::from([
                ("jwt_secret".to_string(), jwt.to_string()),
                ("service_token_secret".to_string(), service.to_string()),
                ("admin_bootstrap_token".to_string(), bootstrap.to_string()),
                ("log_level".to_string(), "x".to_string()),
            ])
        };

        assert!(check_secrets(&declared, &values(strong, other, "")).is_ok());
        for (jwt, service, bootstrap, named) in [
            ("too-short", other, "", "jwt_secret"),
            (strong, strong, "", "service_token_secret"),
            (
                strong,
                "replace-with-openssl-rand-hex-32",
                "",
                "service_token_secret",
            ),
            (strong, other, "short", "admin_bootstrap_token"),
        ] {
            let error =
                check_secrets(&declared, &values(jwt, service, bootstrap)).expect_err("refused");
            assert!(error.to_string().contains(named), "{error}");
        }
    }

    #[test]
    fn templates_expand_and_reject_unknown_names() {
        let values = HashMap::from([("a".to_string(), "1".to_string())]);
        assert_eq!(
            expand_template("x-{{ a }}-{{a}}", &values).expect("known"),
            "x-1-1"
        );
        assert_eq!(expand_template("plain", &values).expect("literal"), "plain");
        assert!(expand_template("{{ b }}", &values).is_err());
        assert!(expand_template("{{ a", &values).is_err());
    }

    #[test]
    fn allowed_hosts_expand_templates_and_drop_empty_ones() {
        let values = HashMap::from([
            ("api".to_string(), "https://api.example.com".to_string()),
            ("hook".to_string(), String::new()),
        ]);
        let entries = [
            "{{ api }}".to_string(),
            "https://{{ hook }}".to_string(),
            "{{hook}}".to_string(),
            "http://fixed.example".to_string(),
        ];

        let expanded = expand_allowed_hosts(&entries, &values).expect("all defined");

        assert_eq!(
            expanded,
            ["https://api.example.com", "http://fixed.example"]
        );
        assert!(expand_allowed_hosts(&["{{ missing }}".to_string()], &values).is_err());
    }
}
