//! Hang up: end the call.

use super::Ending;
use vpbx_store::model::{HangUp, OpName};

pub(super) fn enter(name: &OpName, _op: &HangUp) -> Ending {
    Ending::Finished(format!("{name}: hang up"))
}

#[cfg(test)]
mod tests {
    use crate::core::scenario::testkit::*;

    #[test]
    fn hang_up_ends_at_once_with_its_name() {
        let s = scenario(vec![("bye", op(Action::HangUp(HangUp {}), None))]);
        let mut run = ScenarioRun::new(s, 10);
        let out = run.start();
        assert!(matches!(
            out.last(),
            Some(Command::Hangup { reason: Ending::Finished(r) }) if r == "bye: hang up"
        ));
        assert!(run.is_done());
    }
}
