//! Structured logs: one JSON object per line on stdout (Spin keeps a component's stdout per
//! component), each with the service and, when there is one, the request it belongs to.
//! Never bodies, never credentials.

use serde_json::{Map, Value, json};

/// Log verbosity, from the `log_level` Spin variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

impl LogLevel {
    /// Unknown values fall back to `info`.
    pub fn parse(value: &str) -> Self {
        match value.trim().to_ascii_lowercase().as_str() {
            "error" => LogLevel::Error,
            "warn" | "warning" => LogLevel::Warn,
            "debug" | "trace" => LogLevel::Debug,
            _ => LogLevel::Info,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }
}

/// Writes the log lines of one service at one level, for one request.
#[derive(Debug, Clone)]
pub struct Logger {
    service: &'static str,
    level: LogLevel,
    request_id: Option<String>,
}

impl Logger {
    pub fn new(service: &'static str, level: LogLevel) -> Self {
        Self {
            service,
            level,
            request_id: None,
        }
    }

    /// This logger, tagging every line with `requestId` (work after a response keeps the id
    /// of the request it followed, so the two can be read together).
    #[must_use]
    pub fn for_request(mut self, request_id: &str) -> Self {
        self.request_id = Some(request_id.to_string());
        self
    }

    /// The log line for `fields` at `level`, or `None` when the level is filtered out.
    pub fn line(&self, level: LogLevel, message: &str, fields: Value) -> Option<String> {
        if level > self.level {
            return None;
        }
        let mut object = Map::new();
        object.insert("timestamp".into(), json!(crate::clock::now_rfc3339()));
        object.insert("level".into(), json!(level.as_str()));
        object.insert("service".into(), json!(self.service));
        if let Some(request_id) = &self.request_id {
            object.insert("requestId".into(), json!(request_id));
        }
        object.insert("message".into(), json!(message));
        if let Value::Object(extra) = fields {
            object.extend(extra);
        }
        Some(Value::Object(object).to_string())
    }

    pub fn log(&self, level: LogLevel, message: &str, fields: Value) {
        if let Some(line) = self.line(level, message, fields) {
            println!("{line}");
        }
    }

    pub fn error(&self, message: &str, fields: Value) {
        self.log(LogLevel::Error, message, fields);
    }

    pub fn warn(&self, message: &str, fields: Value) {
        self.log(LogLevel::Warn, message, fields);
    }

    pub fn info(&self, message: &str, fields: Value) {
        self.log(LogLevel::Info, message, fields);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_json_with_service_level_request_and_fields() {
        let logger = Logger::new("svc", LogLevel::Info).for_request("req-1");
        let line = logger
            .line(LogLevel::Info, "request", json!({"status": 200}))
            .expect("info is on");
        let parsed: Value = serde_json::from_str(&line).expect("json");
        assert_eq!(parsed["service"], "svc");
        assert_eq!(parsed["level"], "info");
        assert_eq!(parsed["requestId"], "req-1");
        assert_eq!(parsed["status"], 200);
    }

    #[test]
    fn levels_below_the_threshold_are_dropped() {
        let logger = Logger::new("svc", LogLevel::Warn);
        assert!(logger.line(LogLevel::Info, "x", json!({})).is_none());
        assert!(logger.line(LogLevel::Error, "x", json!({})).is_some());
        assert_eq!(LogLevel::parse("DEBUG"), LogLevel::Debug);
        assert_eq!(LogLevel::parse("nonsense"), LogLevel::Info);
    }
}
