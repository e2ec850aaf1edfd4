//! One file per scenario operation: its `enter` (the commands it starts with) and its `handle`
//! (how it reacts to an input: stay, take an exit, or enter another operation).

mod echo;
mod escalation;
mod forward;
mod hang_up;
mod info_message;
mod insert_scenario;
mod list_branch;
mod menu;
mod pause;
mod personal_manager;
mod pin;
mod region_branch;
mod repeat_branch;
mod ring;
mod schedule_branch;
mod segment_branch;
mod voice_assistant;
mod voicemail;
mod webhook;

use super::{Command, Ctx, Ending, Input};
use vpbx_store::model::{Action, Event, OpName, Operation};

/// What an operation keeps while it runs.
#[derive(Debug)]
pub(crate) enum OpState {
    /// Waits for the result with this id.
    Waiting(u64),
    /// A menu.
    Menu(menu::MenuState),
    /// A PIN operation.
    Pin(pin::PinState),
    /// A CRM webhook.
    Webhook(webhook::WebhookState),
    /// A voice assistant.
    Assistant(voice_assistant::AssistantState),
}

/// What an operation decided on an input.
#[derive(Debug, PartialEq)]
pub(crate) enum Step {
    /// Keep running.
    Stay,
    /// Take this exit.
    Exit(String),
    /// Enter this operation without an exit of ours (a menu replayed, `#` back).
    Enter(OpName),
    /// End the call now, whatever the exits say.
    End(Ending),
}

/// What entering an operation started.
#[derive(Debug)]
pub(crate) enum Entered {
    /// The operation runs and waits for inputs.
    Run(OpState),
    /// The operation decided at once (a branch): take this exit.
    Exit(String),
    /// Run this scenario here (`insert_scenario`).
    Insert(vpbx_store::model::ScenarioId),
}

/// Starts operation `name`; `Err` ends the call.
pub(crate) fn enter(
    ctx: &mut Ctx,
    name: &OpName,
    action: &Action,
    out: &mut Vec<Command>,
) -> Result<Entered, Ending> {
    Ok(Entered::Run(match action {
        Action::InfoMessage(a) => info_message::enter(ctx, a, out),
        Action::Menu(a) => menu::enter(ctx, name, a, out),
        Action::Ring(a) => ring::enter(ctx, a, out),
        Action::Pause(a) => pause::enter(ctx, a, out),
        Action::Echo(a) => echo::enter(ctx, a, out),
        Action::Voicemail(a) => voicemail::enter(ctx, a, out),
        Action::Forward(a) => forward::enter(ctx, a, out),
        Action::Pin(a) => pin::enter(ctx, a, out),
        Action::HangUp(a) => return Err(hang_up::enter(name, a)),
        Action::ScheduleBranch(a) => {
            return Ok(Entered::Exit(schedule_branch::enter(ctx, name, a, out)))
        }
        Action::ListBranch(a) => return Ok(Entered::Exit(list_branch::enter(ctx, name, a, out))),
        Action::RegionBranch(a) => {
            return Ok(Entered::Exit(region_branch::enter(ctx, name, a, out)))
        }
        Action::SegmentBranch(a) => {
            return Ok(Entered::Exit(segment_branch::enter(ctx, name, a, out)))
        }
        Action::InsertScenario(a) => return Ok(Entered::Insert(a.scenario)),
        Action::RepeatBranch(a) => repeat_branch::enter(ctx, a, out),
        Action::Escalation(a) => return Ok(Entered::Exit(escalation::enter(ctx, name, a, out))),
        Action::PersonalManager(a) => match personal_manager::enter(ctx, name, a, out) {
            personal_manager::Entered::Ring(st) => st,
            personal_manager::Entered::Failed => return Ok(Entered::Exit("forward_failed".into())),
        },
        Action::Webhook(a) => webhook::enter(ctx, name, a, out),
        Action::VoiceAssistant(a) => voice_assistant::enter(ctx, a, out),
    }))
}

/// Feeds `input` to the running operation `name`.
pub(crate) fn handle(
    ctx: &mut Ctx,
    name: &OpName,
    operation: &Operation,
    st: &mut OpState,
    input: Input,
    out: &mut Vec<Command>,
) -> Step {
    match (&operation.action, st) {
        (Action::Menu(m), OpState::Menu(ms)) => {
            menu::handle(ctx, name, m, &operation.exits, ms, input, out)
        }
        (Action::Pin(p), OpState::Pin(ps)) => pin::handle(ctx, name, p, ps, input, out),
        (Action::Webhook(w), OpState::Webhook(ws)) => webhook::handle(ctx, name, w, ws, input, out),
        (Action::VoiceAssistant(v), OpState::Assistant(vs)) => {
            voice_assistant::handle(ctx, name, v, vs, input, out)
        }
        (Action::InfoMessage(_), OpState::Waiting(id)) => {
            info_message::handle(name, *id, input, out)
        }
        (Action::Ring(_), OpState::Waiting(id)) => ring::handle(name, *id, input, out),
        (Action::Pause(_), OpState::Waiting(id)) => pause::handle(name, *id, input, out),
        (Action::Echo(_), OpState::Waiting(id)) => echo::handle(name, *id, input, out),
        (Action::Voicemail(_), OpState::Waiting(id)) => voicemail::handle(name, *id, input, out),
        (Action::Forward(f), OpState::Waiting(id)) => {
            forward::handle(ctx, name, f, *id, input, out)
        }
        (Action::RepeatBranch(r), OpState::Waiting(id)) => {
            repeat_branch::handle(name, r, *id, input, out)
        }
        (Action::PersonalManager(_), OpState::Waiting(id)) => {
            personal_manager::handle(ctx, *id, input)
        }
        _ => Step::Stay,
    }
}

/// Operations that wait for one result and go on at `next`: the result with `id` (whatever its
/// kind) is the exit; a prompt that cannot be played is skipped, as a PBX would do, and logged
/// in the call detail — the caller is never lost because a file is missing.
fn next_on(name: &OpName, id: u64, input: Input, out: &mut Vec<Command>) -> Step {
    match input {
        Input::PlayDone { id: i }
        | Input::EchoDone { id: i }
        | Input::TimerFired { id: i }
        | Input::VoicemailDone { id: i }
            if i == id =>
        {
            Step::Exit("next".into())
        }
        Input::PlayFailed { id: i, why } if i == id => {
            out.push(Command::Event(Event::PromptFailed {
                why: format!("{name}: {why}, skipped"),
            }));
            Step::Exit("next".into())
        }
        _ => Step::Stay,
    }
}
