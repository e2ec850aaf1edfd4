//! Load-time validation of a scenario graph, separate from running it.

use vpbx_store::model::{CompanyConfig, Prompt, Scenario};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The scenario cannot run as written (missing start, exit to a missing operation).
    Error,
    /// Calls can be lost here (an exit with nowhere to go).
    Warning,
}

/// One problem found in a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How bad.
    pub severity: Severity,
    /// Where and what.
    pub message: String,
}

/// Checks a scenario against the configuration it lives in.
pub fn validate(cfg: &CompanyConfig, s: &Scenario) -> Vec<Finding> {
    let mut out = Vec::new();
    let err = |message: String| Finding {
        severity: Severity::Error,
        message,
    };
    if !s.operations.contains_key(&s.start) {
        out.push(err(format!("start operation '{}' does not exist", s.start)));
    }
    for (name, op) in &s.operations {
        for (exit, target) in &op.exits {
            if !op.action.exit_names().contains(&exit.as_str()) {
                out.push(err(format!("{name}: unknown exit '{exit}'")));
            }
            if !s.operations.contains_key(target) {
                out.push(err(format!(
                    "{name}: exit '{exit}' leads to missing operation '{target}'"
                )));
            }
        }
        for exit in op.action.exit_names() {
            if !op.exits.contains_key(*exit) {
                out.push(Finding {
                    severity: Severity::Warning,
                    message: format!("{name}: exit '{exit}' is not set, calls can be lost here"),
                });
            }
        }
        if let vpbx_store::model::Action::InfoMessage {
            prompt: Prompt::File { id },
        } = &op.action
        {
            if cfg.file(*id).is_none() {
                out.push(err(format!("{name}: file {id} does not exist")));
            }
        }
    }
    out
}
