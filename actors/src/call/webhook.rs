//! The CRM webhook inside a call actor: the request runs as a future on the actor's context
//! (bounded by its timeout) and its result goes back to the core as a scenario input. The call
//! never waits on it: media, legs and timers go on meanwhile, and the core's guard timer takes
//! `no_answer` should the result never come.

use super::CallActor;
use crate::core::call::Input;
use crate::core::scenario::{Input as Scenario, WebhookResult};
use crate::core::webhook::WebhookRequest;
use crate::webhook::{send, Sent};
use actix::prelude::*;
use tracing::debug;

impl CallActor {
    pub(super) fn webhook(&mut self, id: u64, request: WebhookRequest, ctx: &mut Context<Self>) {
        let sent_at = self.deps.clock.now();
        debug!(post = request.body.is_some(), "webhook request");
        ctx.spawn(async move { send(request).await }.into_actor(self).map(
            move |sent, act, ctx| {
                let _g = act.span.clone().entered();
                let time_ms = u64::try_from(
                    act.deps
                        .clock
                        .now()
                        .saturating_duration_since(sent_at)
                        .as_millis(),
                )
                .unwrap_or(u64::MAX);
                let result = match sent {
                    Sent::Reply { status, body } => WebhookResult::Replied {
                        status,
                        body,
                        time_ms,
                    },
                    Sent::TimedOut => WebhookResult::TimedOut { time_ms },
                    Sent::Failed(why) => WebhookResult::Failed { why, time_ms },
                };
                debug!(time_ms, "webhook result");
                act.feed(Input::Scenario(Scenario::WebhookDone { id, result }), ctx);
            },
        ));
    }
}
