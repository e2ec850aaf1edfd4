//! The statistics fairness needs (SPEC §4.2, §4.3): talk time and calls offered per employee
//! per scenario over a sliding 12-hour window, and the 30-day average talk time per agent line
//! (the expected wait of the queue announcement). Time is wall-clock milliseconds given by the
//! caller; the windows slide in slots (10 minutes for 12 hours, a day for 30 days), so memory
//! per key is fixed however many calls there are.

use super::LineKey;
use std::collections::HashMap;
use vpbx_store::model::{EmployeeId, ScenarioId};

/// A window of `N` slots of `slot_ms` each, summing `(amount, count)`.
#[derive(Debug, Clone)]
struct Window<const N: usize> {
    slot_ms: u64,
    /// Slot number (time / slot_ms) of each entry, and its sums.
    slots: [(u64, u64, u32); N],
}

impl<const N: usize> Window<N> {
    fn new(slot_ms: u64) -> Self {
        Window {
            slot_ms,
            slots: [(u64::MAX, 0, 0); N],
        }
    }

    fn add(&mut self, at_ms: u64, amount: u64, count: u32) {
        let slot = at_ms / self.slot_ms;
        let e = &mut self.slots[(slot % N as u64) as usize];
        if e.0 != slot {
            *e = (slot, 0, 0);
        }
        e.1 = e.1.saturating_add(amount);
        e.2 = e.2.saturating_add(count);
    }

    /// Sums over the slots within the window ending at `now_ms`.
    fn sum(&self, now_ms: u64) -> (u64, u32) {
        let newest = now_ms / self.slot_ms;
        let oldest = newest.saturating_sub(N as u64 - 1);
        self.slots
            .iter()
            .filter(|(s, _, _)| *s != u64::MAX && *s >= oldest && *s <= newest)
            .fold((0, 0), |(a, c), (_, x, n)| {
                (a.saturating_add(*x), c.saturating_add(*n))
            })
    }
}

const TEN_MINUTES_MS: u64 = 10 * 60 * 1000;
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// Per employee per scenario: 72 slots of 10 minutes = 12 hours.
#[derive(Debug, Clone)]
struct Recent {
    talk: Window<72>,
    offers: Window<72>,
}

/// The distribution statistics of the switch.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    recent: HashMap<(Option<ScenarioId>, EmployeeId), Recent>,
    talks: HashMap<LineKey, Window<30>>,
}

/// Where a sample happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Wall-clock milliseconds.
    pub at_ms: u64,
    /// The scenario the call ran.
    pub scenario: Option<ScenarioId>,
    /// The line.
    pub line: LineKey,
    /// A call was offered to the line (it rang).
    pub offered: bool,
    /// A talk on it ended, this long (0: no talk).
    pub talk_ms: u64,
}

impl Stats {
    /// Counts a sample.
    pub fn add(&mut self, s: Sample) {
        let r = self
            .recent
            .entry((s.scenario, s.line.employee))
            .or_insert_with(|| Recent {
                talk: Window::new(TEN_MINUTES_MS),
                offers: Window::new(TEN_MINUTES_MS),
            });
        if s.offered {
            r.offers.add(s.at_ms, 1, 1);
        }
        if s.talk_ms > 0 {
            r.talk.add(s.at_ms, s.talk_ms, 1);
            self.talks
                .entry(s.line)
                .or_insert_with(|| Window::new(DAY_MS))
                .add(s.at_ms, s.talk_ms, 1);
        }
    }

    /// The employee's talk time in the last 12 hours within `scenario`, milliseconds.
    pub fn talk_ms_12h(&self, scenario: Option<ScenarioId>, e: EmployeeId, now_ms: u64) -> u64 {
        self.recent
            .get(&(scenario, e))
            .map_or(0, |r| r.talk.sum(now_ms).0)
    }

    /// Calls offered to the employee in the last 12 hours within `scenario`.
    pub fn offers_12h(&self, scenario: Option<ScenarioId>, e: EmployeeId, now_ms: u64) -> u32 {
        self.recent
            .get(&(scenario, e))
            .map_or(0, |r| r.offers.sum(now_ms).1)
    }

    /// Average talk time on `lines` over the last 30 days, milliseconds (`None`: no talk).
    pub fn average_talk_ms(
        &self,
        lines: impl Iterator<Item = LineKey>,
        now_ms: u64,
    ) -> Option<u64> {
        let (total, n) = lines
            .filter_map(|l| self.talks.get(&l))
            .map(|w| w.sum(now_ms))
            .fold((0u64, 0u64), |(a, c), (x, k)| {
                (a.saturating_add(x), c + u64::from(k))
            });
        (n > 0).then(|| total / n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 60 * 60 * 1000;

    fn line(e: u64) -> LineKey {
        LineKey {
            employee: EmployeeId(e),
            phone: 0,
        }
    }

    fn talk(at_ms: u64, e: u64, ms: u64) -> Sample {
        Sample {
            at_ms,
            scenario: Some(ScenarioId(1)),
            line: line(e),
            offered: true,
            talk_ms: ms,
        }
    }

    #[test]
    fn the_12_hour_window_slides() {
        let mut s = Stats::default();
        let t0 = 1_000 * DAY_MS;
        s.add(talk(t0, 1, 60_000));
        s.add(talk(t0 + 6 * HOUR, 1, 30_000));
        let sc = Some(ScenarioId(1));
        assert_eq!(s.talk_ms_12h(sc, EmployeeId(1), t0 + 6 * HOUR), 90_000);
        assert_eq!(s.offers_12h(sc, EmployeeId(1), t0 + 6 * HOUR), 2);
        // Twelve hours after the first talk it has left the window; the second is still in.
        assert_eq!(s.talk_ms_12h(sc, EmployeeId(1), t0 + 12 * HOUR), 30_000);
        assert_eq!(s.talk_ms_12h(sc, EmployeeId(1), t0 + 19 * HOUR), 0);
        // Another scenario counts apart.
        assert_eq!(s.talk_ms_12h(None, EmployeeId(1), t0), 0);
    }

    #[test]
    fn the_30_day_average_is_per_line() {
        let mut s = Stats::default();
        let t0 = 1_000 * DAY_MS;
        s.add(talk(t0, 1, 60_000));
        s.add(talk(t0 + DAY_MS, 2, 120_000));
        assert_eq!(
            s.average_talk_ms([line(1), line(2)].into_iter(), t0 + DAY_MS),
            Some(90_000)
        );
        assert_eq!(s.average_talk_ms([line(3)].into_iter(), t0), None);
        assert_eq!(
            s.average_talk_ms([line(1)].into_iter(), t0 + 31 * DAY_MS),
            None
        );
    }
}
