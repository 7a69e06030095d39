//! `fermyon:spin/variables@2.0.0`: the component's own variables, resolved when the app loads.

use std::collections::HashMap;
use std::sync::Arc;

use super::InterfaceView;
use super::bindings::fermyon::spin::variables;
use crate::stats::{HostCall, HostCalls};

/// One instance's view of its component's variables.
pub(crate) struct VariablesState {
    pub(crate) values: Arc<HashMap<String, String>>,
    pub(crate) calls: Arc<HostCalls>,
}

impl variables::Host for InterfaceView<'_, VariablesState> {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, variables::Error>> {
        self.state.calls.count(HostCall::VariableRead);
        if crate::manifest::check_variable_name(&name).is_err() {
            return Ok(Err(variables::Error::InvalidName(name)));
        }
        Ok(self
            .state
            .values
            .get(&name)
            .cloned()
            .ok_or(variables::Error::Undefined(name)))
    }
}
