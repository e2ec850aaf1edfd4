//! Activity schedules and production calendars (SPEC §1.5). Plain data; evaluation is in
//! `vpbx-actors::core::routing::schedule`.
//!
//! A [`Schedule`] has one [`ScheduleKind`] that yields the intervals of a given day, an optional
//! activity period, and the "use the production calendar" flag. With the flag set and a
//! [`ProductionCalendar`] for the year, a holiday has no intervals (whatever the kind), a
//! transferred working day counts as a working day (weekly kinds use the intervals of the first
//! weekday Mon–Fri that has any), and a shortened day ends one hour earlier. Without a calendar
//! Mon–Fri are working days and Sat–Sun the weekend.

use super::time::{Date, TimeOfDay, Weekday};
use super::ScheduleId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A half-open interval of a day, `[start, end)`. `end` may be `24:00`; an interval never crosses
/// midnight (a night shift is two intervals on consecutive days).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interval {
    /// First minute inside.
    pub start: TimeOfDay,
    /// First minute outside.
    pub end: TimeOfDay,
}

impl Interval {
    /// `start`–`end`.
    pub fn new(start: TimeOfDay, end: TimeOfDay) -> Interval {
        Interval { start, end }
    }
    /// Whether `t` is inside.
    pub fn contains(&self, t: TimeOfDay) -> bool {
        self.start <= t && t < self.end
    }
}

impl std::fmt::Display for Interval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}–{}", self.start, self.end)
    }
}

/// How a schedule picks the intervals of a day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScheduleKind {
    /// Always active (within the activity period and apart from calendar holidays).
    Always,
    /// Intervals per weekday; a weekday with no entry is a day off. Breaks are gaps between
    /// intervals (`09:00–13:00`, `14:00–18:00`).
    Weekly {
        /// Weekday → intervals.
        #[serde(default)]
        week: BTreeMap<Weekday, Vec<Interval>>,
    },
    /// Intervals by day type: working days, weekends, holidays (holidays come only from the
    /// production calendar).
    DayTypes {
        /// Intervals on working days.
        #[serde(default)]
        working: Vec<Interval>,
        /// Intervals on weekend days.
        #[serde(default)]
        weekend: Vec<Interval>,
        /// Intervals on holidays.
        #[serde(default)]
        holiday: Vec<Interval>,
    },
    /// Chosen days of the month.
    DaysOfMonth {
        /// Days, 1–31 (a day the month does not have never matches).
        days: Vec<u8>,
        /// Intervals on those days.
        intervals: Vec<Interval>,
    },
    /// `on` working days then `off` days off, repeating from `start` (a working day 1).
    Cycle {
        /// Working days per cycle (≥ 1).
        on: u16,
        /// Days off per cycle (≥ 1).
        off: u16,
        /// First working day of the first cycle.
        start: Date,
        /// Intervals on working days of the cycle.
        intervals: Vec<Interval>,
    },
}

/// An activity schedule (attached to employees, groups, rules and callback rules).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Id.
    pub id: ScheduleId,
    /// Name shown to the admin.
    pub name: String,
    /// How days get their intervals.
    pub days: ScheduleKind,
    /// First active day (inclusive), if any.
    #[serde(default)]
    pub period_start: Option<Date>,
    /// Last active day (inclusive), if any.
    #[serde(default)]
    pub period_end: Option<Date>,
    /// Use the production calendar for day types (holidays, transferred working days).
    #[serde(default)]
    pub use_production_calendar: bool,
}

/// The production calendar of one year: the data that overrides the default Mon–Fri split.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductionCalendar {
    /// The year (also the id).
    pub year: i32,
    /// Non-working holidays (a holiday on a Monday is still a day off).
    #[serde(default)]
    pub holidays: Vec<Date>,
    /// Working days moved onto a weekend (a Saturday that is worked).
    #[serde(default)]
    pub working_days: Vec<Date>,
    /// Shortened pre-holiday working days (the day ends one hour earlier).
    #[serde(default)]
    pub shortened_days: Vec<Date>,
}

/// Type of a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayType {
    /// A working day.
    Working,
    /// A weekend day.
    Weekend,
    /// A holiday.
    Holiday,
}
