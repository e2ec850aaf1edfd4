//! Queue callbacks (SPEC §4.3): a waiting caller who presses the callback key hangs up and keeps
//! their place. The place passes to a callback key of its own ([`Board::rekey`]) and is
//! persisted; when it reaches the head of its queue and an employee is free, the board claims a
//! line for it like for any head, and the distributor asks the call supervisor to place the call
//! back ([`Origin`]). The caller answers, the call rejoins the place (same key) and the line
//! claimed for it rings. So a callback never goes ahead of callers who waited before it (it is
//! served only as the head), never holds more than the line claimed for it while the caller's
//! phone rings (never more callbacks at once than free employees), and never rings one caller
//! twice (one callback per number; a placed callback is not placed again while its call lives).
//!
//! A callback whose call is not answered is dropped (its call record says so): retry rules
//! belong to the missed-call callbacks of SPEC §6.1 (`docs/decisions.md` D60).
//!
//! [`Board::rekey`]: crate::core::dist::board::Board::rekey

use super::{DistActor, QueueNews};
use crate::call::origin::{CallbackPlace, Origin};
use crate::call::{CallId, CallSetup};
use crate::call_supervisor::StartCall;
use crate::core::call::CallbackReceipt;
use crate::core::dialplan::dial_target;
use crate::core::dist::board::CallKey;
use crate::core::dist::candidates::candidates;
use crate::core::dist::Candidate;
use crate::leg::Leg;
use actix::prelude::*;
use std::sync::Arc;
use std::time::Duration;
use vpbx_store::model::{Action, Event, OpName, QueueCallback, ScenarioId};

/// A callback waiting in a queue (or being placed).
pub(super) struct Callback {
    pub(super) record: QueueCallback,
    /// Its call was placed and lives.
    pub(super) calling: bool,
    /// Lines claimed for it before its call rejoined the queue: offered on the rejoin.
    pub(super) offer: Option<(Vec<Candidate>, u32)>,
}

/// A waiting caller asks to be called back.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<CallbackReceipt, String>")]
pub struct RequestCallback {
    /// The waiting call.
    pub call: CallKey,
    /// The number to call back.
    pub caller: String,
    /// The virtual number the caller dialled (presented on the callback).
    pub numb: String,
    /// The scenario of the call.
    pub scenario: ScenarioId,
    /// The forward operation the caller waits in.
    pub op: String,
}

/// The callbacks waiting, for the API.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Vec<QueueCallback>")]
pub struct ListCallbacks;

impl DistActor {
    /// Reads the persisted callbacks back into their queues, in their places (start and
    /// restart; a callback whose call still lives is taken over by that call's holdings).
    pub(super) fn restore_callbacks(&mut self) {
        let Some(store) = &self.store else { return };
        let stored = match store.queue_callbacks() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "queue callbacks not read");
                return;
            }
        };
        let cfg = self.snapshots.current();
        let now = self.clock.now();
        let unix_ms = self.clock.unix_ms();
        for record in stored {
            let request = record.scenario.and_then(|id| {
                let scenario = cfg.scenario(id)?;
                let op = scenario.operations.get(&OpName(record.op.clone()))?;
                let Action::Forward(fwd) = &op.action else {
                    return None;
                };
                let request = candidates(&cfg, fwd, None).request(&cfg, id, &record.op, fwd);
                request.queue.is_some().then_some(request)
            });
            let Some(request) = request else {
                tracing::warn!(
                    callback = record.id,
                    op = %record.op,
                    "queue callback dropped: its forward operation no longer queues"
                );
                self.forget_record(record.id);
                continue;
            };
            self.link.seen_seq(record.joined_seq);
            let key = self.link.next_key();
            self.board.join(
                now,
                unix_ms,
                key,
                record.caller.clone(),
                request,
                Some(record.joined_seq),
            );
            self.callbacks.insert(
                key,
                Callback {
                    record,
                    calling: false,
                    offer: None,
                },
            );
        }
    }

    /// A live call rejoined at `seq` after a restart: a callback restored from the store in
    /// that place is that call's (it was placed before the restart).
    pub(super) fn adopt_callback(&mut self, call: CallKey, seq: u64) {
        let Some(old) = self
            .callbacks
            .iter()
            .find(|(_, c)| c.record.joined_seq == seq)
            .map(|(k, _)| *k)
        else {
            return;
        };
        if old == call {
            return;
        }
        if let Some(mut cb) = self.callbacks.remove(&old) {
            self.board.leave(old);
            cb.calling = true;
            self.callbacks.insert(call, cb);
        }
    }

    /// An offer to `call`: a callback not placed yet is placed now (keeping one claimed line);
    /// answers whether the offer was taken care of here.
    pub(super) fn offer_callback(
        &mut self,
        call: CallKey,
        round: &[Candidate],
        timeout_s: u32,
    ) -> bool {
        let Some(cb) = self.callbacks.get_mut(&call) else {
            return false;
        };
        if cb.calling {
            if self.news.contains_key(&call) {
                return false;
            }
            // Placed, not rejoined yet: offered when it rejoins.
            cb.offer = Some((round.to_vec(), timeout_s));
            return true;
        }
        let now = self.clock.now();
        let unix_ms = self.clock.unix_ms();
        // One employee is kept for the caller while their phone rings.
        let (keep, rest) = round.split_at(round.len().min(1));
        for c in rest {
            if let Some(line) = c.line {
                self.board
                    .release(now, unix_ms, call, line, None, Duration::ZERO, None);
            }
        }
        cb.calling = true;
        cb.offer = Some((keep.to_vec(), timeout_s));
        let record = cb.record.clone();
        if let Err(why) = self.place(call, &record) {
            tracing::warn!(callback = record.id, %why, "queue callback dropped");
            self.gone(call);
        }
        true
    }

    /// Asks the call supervisor to place the callback `call`.
    fn place(&mut self, call: CallKey, record: &QueueCallback) -> Result<(), String> {
        let cfg = self.snapshots.current();
        let waiting = self
            .board
            .waiting_of(call)
            .ok_or("it no longer waits")?
            .clone();
        let scenario = record
            .scenario
            .and_then(|id| cfg.scenario(id))
            .ok_or("its scenario is gone")?
            .clone();
        let target = dial_target(&cfg, &record.caller)
            .ok_or_else(|| format!("{} cannot be dialled", record.caller))?;
        let calls = self
            .registry
            .as_ref()
            .and_then(|r| r.children())
            .ok_or("no call supervisor")?
            .calls;
        let first = Event::CallbackStarted {
            queue: record.set.clone(),
            requested_unix_ms: record.requested_unix_ms,
        };
        calls.do_send(StartCall(CallSetup {
            call_id: CallId::fresh(),
            leg: Leg::unplaced(record.caller.clone(), record.numb.clone()),
            routed: None,
            scenario: Arc::new(scenario),
            snapshot: cfg,
            outbound_caller_id: None,
            caller_line: None,
            origin: Some(Origin {
                target,
                caller_id: record.numb.clone(),
                caller_name: None,
                callback: Some(CallbackPlace {
                    key: call,
                    seq: waiting.seq,
                    request: (*waiting.request).clone(),
                    op: record.op.clone(),
                }),
                first,
            }),
        }));
        Ok(())
    }

    /// The callback call `call` rejoined its place: the line claimed for it rings.
    pub(super) fn rejoined(&mut self, call: CallKey) {
        let Some((round, timeout_s)) = self.callbacks.get_mut(&call).and_then(|c| c.offer.take())
        else {
            return;
        };
        let delivered = self
            .news
            .get(&call)
            .is_some_and(|r| r.try_send(QueueNews::Offer { round, timeout_s }).is_ok());
        if !delivered {
            self.gone(call);
        }
    }

    /// `call` no longer waits (answered, gone): a callback it was is done.
    pub(super) fn callback_done(&mut self, call: CallKey) {
        if let Some(cb) = self.callbacks.remove(&call) {
            self.forget_record(cb.record.id);
        }
    }

    fn forget_record(&self, id: u64) {
        if let Some(store) = &self.store {
            if let Err(e) = store.delete_queue_callback(id) {
                tracing::warn!(error = %e, callback = id, "queue callback not removed from the store");
            }
        }
    }
}

impl Handler<RequestCallback> for DistActor {
    type Result = Result<CallbackReceipt, String>;
    fn handle(&mut self, msg: RequestCallback, ctx: &mut Context<Self>) -> Self::Result {
        if self.restoring.is_some() {
            return Err("the distributor is restarting".into());
        }
        let unix_ms = self.clock.unix_ms();
        let place = self
            .board
            .place_of(unix_ms, msg.call)
            .ok_or("the call does not wait in a queue")?;
        if self.board.is_offered(msg.call) {
            return Err("phones ring for the caller now".into());
        }
        let position = u32::try_from(place.position).unwrap_or(u32::MAX);
        let earlier = self
            .callbacks
            .iter()
            .find(|(_, c)| c.record.caller == msg.caller)
            .map(|(k, _)| *k);
        if let Some(k) = earlier {
            // One callback per caller: the earlier one keeps its place.
            let position = self
                .board
                .place_of(unix_ms, k)
                .map_or(position, |p| u32::try_from(p.position).unwrap_or(u32::MAX));
            self.board.leave(msg.call);
            self.news.remove(&msg.call);
            self.pump(ctx);
            return Ok(CallbackReceipt {
                queue: place.queue,
                position,
                already: true,
            });
        }
        let waited = self
            .board
            .waiting_of(msg.call)
            .map(|w| self.clock.now().saturating_duration_since(w.joined))
            .unwrap_or_default();
        let id = match &self.store {
            Some(store) => store.new_queue_callback_id().map_err(|e| e.to_string())?,
            None => self.link.next_key(),
        };
        let record = QueueCallback {
            id,
            set: place.queue.clone(),
            caller: msg.caller,
            numb: msg.numb,
            scenario: Some(msg.scenario),
            op: msg.op,
            joined_seq: place.seq,
            joined_unix_ms: unix_ms
                .saturating_sub(u64::try_from(waited.as_millis()).unwrap_or(u64::MAX)),
            requested_unix_ms: unix_ms,
        };
        if let Some(store) = &self.store {
            store
                .put_queue_callback(&record)
                .map_err(|e| format!("callback not stored: {e}"))?;
        }
        let key = self.link.next_key();
        self.board.rekey(msg.call, key);
        self.news.remove(&msg.call);
        tracing::info!(callback = id, queue = %place.queue, position, "queue callback requested");
        self.callbacks.insert(
            key,
            Callback {
                record,
                calling: false,
                offer: None,
            },
        );
        self.pump(ctx);
        Ok(CallbackReceipt {
            queue: place.queue,
            position,
            already: false,
        })
    }
}

impl Handler<ListCallbacks> for DistActor {
    type Result = MessageResult<ListCallbacks>;
    fn handle(&mut self, _: ListCallbacks, _: &mut Context<Self>) -> Self::Result {
        let mut out: Vec<QueueCallback> =
            self.callbacks.values().map(|c| c.record.clone()).collect();
        out.sort_by_key(|c| (c.joined_seq, c.id));
        MessageResult(out)
    }
}
