//! Counts of what the app asked of its host: instances, SQLite opens and statements,
//! key-value calls, variable reads and outbound requests. These are the quantities that
//! decide what a request costs under Spin (each is a host call there, each SQLite open a new
//! connection and schema load), so the benchmark and the tests read them to see what a change
//! did without a profiler.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Running totals since the app started.
#[derive(Debug, Default)]
pub struct HostCalls {
    instances: AtomicU64,
    sqlite_opens: AtomicU64,
    sqlite_statements: AtomicU64,
    key_value_opens: AtomicU64,
    key_value_calls: AtomicU64,
    variable_reads: AtomicU64,
    outbound_requests: AtomicU64,
}

/// A reading of [`HostCalls`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostCallCounts {
    pub instances: u64,
    pub sqlite_opens: u64,
    pub sqlite_statements: u64,
    pub key_value_opens: u64,
    pub key_value_calls: u64,
    pub variable_reads: u64,
    pub outbound_requests: u64,
}

/// One kind of host call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostCall {
    Instance,
    SqliteOpen,
    SqliteStatement,
    KeyValueOpen,
    KeyValueCall,
    VariableRead,
    OutboundRequest,
}

impl HostCalls {
    pub fn count(&self, call: HostCall) {
        let counter = match call {
            HostCall::Instance => &self.instances,
            HostCall::SqliteOpen => &self.sqlite_opens,
            HostCall::SqliteStatement => &self.sqlite_statements,
            HostCall::KeyValueOpen => &self.key_value_opens,
            HostCall::KeyValueCall => &self.key_value_calls,
            HostCall::VariableRead => &self.variable_reads,
            HostCall::OutboundRequest => &self.outbound_requests,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn read(&self) -> HostCallCounts {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        HostCallCounts {
            instances: load(&self.instances),
            sqlite_opens: load(&self.sqlite_opens),
            sqlite_statements: load(&self.sqlite_statements),
            key_value_opens: load(&self.key_value_opens),
            key_value_calls: load(&self.key_value_calls),
            variable_reads: load(&self.variable_reads),
            outbound_requests: load(&self.outbound_requests),
        }
    }
}

impl HostCallCounts {
    /// This reading and `other` together (several apps' counts).
    #[must_use]
    pub fn plus(&self, other: &HostCallCounts) -> HostCallCounts {
        HostCallCounts {
            instances: self.instances + other.instances,
            sqlite_opens: self.sqlite_opens + other.sqlite_opens,
            sqlite_statements: self.sqlite_statements + other.sqlite_statements,
            key_value_opens: self.key_value_opens + other.key_value_opens,
            key_value_calls: self.key_value_calls + other.key_value_calls,
            variable_reads: self.variable_reads + other.variable_reads,
            outbound_requests: self.outbound_requests + other.outbound_requests,
        }
    }

    /// What happened between `earlier` and this reading.
    pub fn since(&self, earlier: &HostCallCounts) -> HostCallCounts {
        HostCallCounts {
            instances: self.instances.saturating_sub(earlier.instances),
            sqlite_opens: self.sqlite_opens.saturating_sub(earlier.sqlite_opens),
            sqlite_statements: self
                .sqlite_statements
                .saturating_sub(earlier.sqlite_statements),
            key_value_opens: self.key_value_opens.saturating_sub(earlier.key_value_opens),
            key_value_calls: self.key_value_calls.saturating_sub(earlier.key_value_calls),
            variable_reads: self.variable_reads.saturating_sub(earlier.variable_reads),
            outbound_requests: self
                .outbound_requests
                .saturating_sub(earlier.outbound_requests),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_kind_apart_and_differences_are_per_interval() {
        let calls = HostCalls::default();
        calls.count(HostCall::SqliteOpen);
        let before = calls.read();
        calls.count(HostCall::SqliteStatement);
        calls.count(HostCall::SqliteStatement);
        calls.count(HostCall::Instance);

        let interval = calls.read().since(&before);

        assert_eq!(interval.sqlite_opens, 0);
        assert_eq!(interval.sqlite_statements, 2);
        assert_eq!(interval.instances, 1);
        assert_eq!(calls.read().sqlite_opens, 1);
    }
}
