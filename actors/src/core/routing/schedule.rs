//! Activity schedule evaluation (SPEC §1.5): pure functions of a schedule, an optional
//! production calendar and a civil local date-time. The time comes in as an argument; convert a
//! call's UTC instant with [`local_time`] in the box's time zone first.
//!
//! Semantics (documented on `vpbx_store::model::schedule` too):
//! - The activity period bounds (inclusive dates) apply before anything else.
//! - With "use the production calendar" and a calendar for the date's year: a holiday is a day
//!   off in every kind (day-type schedules use their `holiday` intervals); a transferred working
//!   day is a working day (weekly schedules use the intervals of the first weekday Mon–Fri that
//!   has any); a shortened day ends one hour earlier (the latest interval's end moves back 60
//!   minutes). Without a calendar Mon–Fri are working days and Sat–Sun the weekend.
//! - Intervals are half-open `[start, end)` in local civil time. On a daylight-saving
//!   switch the skipped hour never happens and the repeated hour is inside twice.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use vpbx_store::model::{
    Date, DayType, Interval, ProductionCalendar, Schedule, ScheduleKind, TimeOfDay, Weekday,
};

/// Whether a schedule is active, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Active {
    /// Active at that time.
    pub active: bool,
    /// Why, for call details and the routing tracer (`within Mon 09:00–13:00`,
    /// `holiday 2026-01-01 per production calendar`).
    pub reason: String,
}

impl Active {
    fn yes(reason: impl Into<String>) -> Active {
        Active {
            active: true,
            reason: reason.into(),
        }
    }
    fn no(reason: impl Into<String>) -> Active {
        Active {
            active: false,
            reason: reason.into(),
        }
    }
}

/// Converts a UTC instant (milliseconds since the Unix epoch) to the civil date-time in
/// `time_zone` (an IANA name; empty means UTC).
pub fn local_time(unix_ms: u64, time_zone: &str) -> Result<NaiveDateTime, String> {
    let ms = i64::try_from(unix_ms).map_err(|_| format!("instant {unix_ms} ms is out of range"))?;
    let utc = chrono::DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| format!("instant {unix_ms} ms is out of range"))?;
    if time_zone.is_empty() {
        return Ok(utc.naive_utc());
    }
    let tz: chrono_tz::Tz = time_zone
        .parse()
        .map_err(|_| format!("'{time_zone}' is not an IANA time zone"))?;
    Ok(utc.with_timezone(&tz).naive_local())
}

/// The store's civil date as a chrono date.
pub fn to_naive(d: Date) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(d.year(), u32::from(d.month()), u32::from(d.day()))
}

/// A chrono date as the store's civil date.
pub fn from_naive(d: NaiveDate) -> Option<Date> {
    Date::new(
        d.year(),
        u8::try_from(d.month()).ok()?,
        u8::try_from(d.day()).ok()?,
    )
}

fn weekday(d: NaiveDate) -> Weekday {
    Weekday::from_monday0(d.weekday().num_days_from_monday())
}

/// What the production calendar says about a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalendarDay {
    /// Working day, weekend or holiday.
    pub day_type: DayType,
    /// A weekend day worked instead of a holiday.
    pub transferred: bool,
    /// A shortened pre-holiday day.
    pub shortened: bool,
}

/// The type of `date` per `calendar` (ignored unless it is for the date's year), falling back
/// to Mon–Fri working, Sat–Sun weekend.
pub fn day_type(date: NaiveDate, calendar: Option<&ProductionCalendar>) -> CalendarDay {
    let default = if weekday(date).is_default_weekend() {
        DayType::Weekend
    } else {
        DayType::Working
    };
    let mut out = CalendarDay {
        day_type: default,
        transferred: false,
        shortened: false,
    };
    let (Some(cal), Some(d)) = (calendar, from_naive(date)) else {
        return out;
    };
    if cal.year != date.year() {
        return out;
    }
    if cal.holidays.contains(&d) {
        out.day_type = DayType::Holiday;
    } else if cal.working_days.contains(&d) {
        out.day_type = DayType::Working;
        out.transferred = default == DayType::Weekend;
    }
    out.shortened = out.day_type == DayType::Working && cal.shortened_days.contains(&d);
    out
}

fn list(intervals: &[Interval]) -> String {
    intervals
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn shorten(intervals: &mut [Interval]) {
    if let Some(last) = intervals.iter_mut().max_by_key(|i| i.end) {
        last.end = TimeOfDay(last.end.0.saturating_sub(60).max(last.start.0));
    }
}

/// Whether `schedule` is active at the civil local date-time `local`. `calendar` is the
/// production calendar of `local`'s year (used only when the schedule asks for it).
pub fn is_active(
    schedule: &Schedule,
    calendar: Option<&ProductionCalendar>,
    local: NaiveDateTime,
) -> Active {
    let today = local.date();
    let Some(date) = from_naive(today) else {
        return Active::no(format!("date {today} is out of range"));
    };
    let minutes = u16::try_from(local.hour() * 60 + local.minute()).unwrap_or(0);
    let now = TimeOfDay(minutes);
    if let Some(start) = schedule.period_start {
        if date < start {
            return Active::no(format!("before the activity period (starts {start})"));
        }
    }
    if let Some(end) = schedule.period_end {
        if date > end {
            return Active::no(format!("after the activity period (ended {end})"));
        }
    }
    let wd = weekday(today);
    let cal = if schedule.use_production_calendar {
        calendar.filter(|c| c.year == today.year())
    } else {
        None
    };
    let no_cal_note = if schedule.use_production_calendar && cal.is_none() {
        format!(" (no production calendar for {})", today.year())
    } else {
        String::new()
    };
    let day = day_type(today, cal);
    if day.day_type == DayType::Holiday && !matches!(schedule.days, ScheduleKind::DayTypes { .. }) {
        return Active::no(format!("holiday {date} per production calendar"));
    }

    // The day's intervals and a label for reasons.
    let (mut intervals, label): (Vec<Interval>, String) = match &schedule.days {
        ScheduleKind::Always => (
            vec![Interval::new(TimeOfDay::MIDNIGHT, TimeOfDay::END_OF_DAY)],
            wd.to_string(),
        ),
        ScheduleKind::Weekly { week } => {
            if day.transferred {
                let template = Weekday::ALL[..5]
                    .iter()
                    .find(|d| week.get(d).is_some_and(|v| !v.is_empty()));
                match template {
                    Some(t) => (
                        week.get(t).cloned().unwrap_or_default(),
                        format!("{wd} {date} (transferred working day, hours of {t})"),
                    ),
                    None => (Vec::new(), format!("{wd} {date} (transferred working day)")),
                }
            } else {
                (week.get(&wd).cloned().unwrap_or_default(), wd.to_string())
            }
        }
        ScheduleKind::DayTypes {
            working,
            weekend,
            holiday,
        } => match day.day_type {
            DayType::Working => (working.clone(), format!("{wd} (working day)")),
            DayType::Weekend => (weekend.clone(), format!("{wd} (weekend)")),
            DayType::Holiday => (
                holiday.clone(),
                format!("{wd} {date} (holiday per production calendar)"),
            ),
        },
        ScheduleKind::DaysOfMonth { days, intervals } => {
            if !days.iter().any(|&d| u32::from(d) == today.day()) {
                return Active::no(format!(
                    "day {} of the month is not a day of this schedule",
                    today.day()
                ));
            }
            (intervals.clone(), format!("{wd} {date}"))
        }
        ScheduleKind::Cycle {
            on,
            off,
            start,
            intervals,
        } => {
            let Some(start_nd) = to_naive(*start) else {
                return Active::no(format!("cycle start {start} is out of range"));
            };
            let diff = (today - start_nd).num_days();
            if diff < 0 {
                return Active::no(format!("before the {on}/{off} cycle starts on {start}"));
            }
            let period = i64::from(*on) + i64::from(*off);
            if period == 0 || *on == 0 {
                return Active::no(format!("the {on}/{off} cycle has no working days"));
            }
            let pos = diff % period;
            if pos >= i64::from(*on) {
                return Active::no(format!(
                    "day off {} of {off} in the {on}/{off} cycle started {start}",
                    pos - i64::from(*on) + 1
                ));
            }
            (
                intervals.clone(),
                format!(
                    "{wd} (working day {} of {on} in the {on}/{off} cycle)",
                    pos + 1
                ),
            )
        }
    };
    if day.shortened {
        shorten(&mut intervals);
    }
    let short_note = if day.shortened {
        " (shortened day per production calendar)"
    } else {
        ""
    };
    if intervals.is_empty() {
        return Active::no(format!(
            "{label} has no working hours{short_note}{no_cal_note}"
        ));
    }
    match intervals.iter().find(|i| i.contains(now)) {
        Some(i) => Active::yes(format!("within {label} {i}{short_note}{no_cal_note}")),
        None => Active::no(format!(
            "outside {label} {}{short_note}{no_cal_note}",
            list(&intervals)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use vpbx_store::model::ScheduleId;

    fn t(s: &str) -> TimeOfDay {
        s.parse().unwrap()
    }
    fn iv(a: &str, b: &str) -> Interval {
        Interval::new(t(a), t(b))
    }
    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }
    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }
    fn sched(days: ScheduleKind) -> Schedule {
        Schedule {
            id: ScheduleId(1),
            name: "s".into(),
            days,
            period_start: None,
            period_end: None,
            use_production_calendar: false,
        }
    }
    fn office() -> Schedule {
        let mut week = BTreeMap::new();
        for wd in &Weekday::ALL[..5] {
            week.insert(*wd, vec![iv("09:00", "13:00"), iv("14:00", "18:00")]);
        }
        week.insert(Weekday::Sat, vec![iv("10:00", "15:00")]);
        sched(ScheduleKind::Weekly { week })
    }
    fn cal2026() -> ProductionCalendar {
        ProductionCalendar {
            year: 2026,
            holidays: vec![d("2026-01-01"), d("2026-01-02"), d("2026-05-11")],
            working_days: vec![d("2026-05-16")],
            shortened_days: vec![d("2026-04-30")],
        }
    }

    #[test]
    fn weekly_intervals_with_a_lunch_break() {
        let s = office();
        // 2026-03-02 is a Monday.
        let a = is_active(&s, None, at("2026-03-02 09:00"));
        assert!(a.active, "{a:?}");
        assert_eq!(a.reason, "within Mon 09:00–13:00");
        let a = is_active(&s, None, at("2026-03-02 13:30"));
        assert!(!a.active);
        assert_eq!(a.reason, "outside Mon 09:00–13:00, 14:00–18:00");
        assert!(is_active(&s, None, at("2026-03-02 17:59")).active);
        assert!(!is_active(&s, None, at("2026-03-02 18:00")).active);
        assert!(is_active(&s, None, at("2026-03-07 14:59")).active); // Saturday
        let a = is_active(&s, None, at("2026-03-08 12:00")); // Sunday
        assert!(!a.active);
        assert_eq!(a.reason, "Sun has no working hours");
    }

    #[test]
    fn interval_to_midnight_includes_the_last_minute() {
        let mut week = BTreeMap::new();
        week.insert(Weekday::Fri, vec![iv("20:00", "24:00")]);
        let s = sched(ScheduleKind::Weekly { week });
        assert!(is_active(&s, None, at("2026-03-06 23:59")).active);
        assert!(!is_active(&s, None, at("2026-03-07 00:00")).active);
    }

    #[test]
    fn production_calendar_holidays_and_transferred_days() {
        let mut s = office();
        let cal = cal2026();
        // 2026-01-01 is a Thursday; without the calendar flag it is an ordinary working day.
        assert!(is_active(&s, Some(&cal), at("2026-01-01 10:00")).active);
        s.use_production_calendar = true;
        let a = is_active(&s, Some(&cal), at("2026-01-01 10:00"));
        assert!(!a.active);
        assert_eq!(a.reason, "holiday 2026-01-01 per production calendar");
        // 2026-05-11 is a Monday holiday.
        assert!(!is_active(&s, Some(&cal), at("2026-05-11 10:00")).active);
        // 2026-05-16 is a Saturday worked: weekday hours apply (not Saturday's 10–15).
        let a = is_active(&s, Some(&cal), at("2026-05-16 16:00"));
        assert!(a.active, "{a:?}");
        assert!(a.reason.contains("transferred working day"), "{}", a.reason);
        // Shortened day: ends at 17:00.
        assert!(is_active(&s, Some(&cal), at("2026-04-30 16:59")).active);
        let a = is_active(&s, Some(&cal), at("2026-04-30 17:00"));
        assert!(!a.active);
        assert!(a.reason.contains("shortened"), "{}", a.reason);
        // A calendar for another year is ignored, and the reason says so.
        let a = is_active(&s, Some(&cal), at("2027-01-01 10:00"));
        assert!(a.active);
        assert!(
            a.reason.contains("no production calendar for 2027"),
            "{}",
            a.reason
        );
    }

    #[test]
    fn day_types_use_the_calendar() {
        let mut s = sched(ScheduleKind::DayTypes {
            working: vec![iv("09:00", "18:00")],
            weekend: vec![],
            holiday: vec![iv("10:00", "12:00")],
        });
        s.use_production_calendar = true;
        let cal = cal2026();
        assert!(is_active(&s, Some(&cal), at("2026-01-01 11:00")).active);
        assert!(!is_active(&s, Some(&cal), at("2026-01-01 13:00")).active);
        assert!(is_active(&s, Some(&cal), at("2026-05-16 13:00")).active);
        assert!(!is_active(&s, Some(&cal), at("2026-05-17 13:00")).active);
        assert!(is_active(&s, None, at("2026-05-18 13:00")).active);
    }

    #[test]
    fn days_of_month() {
        let s = sched(ScheduleKind::DaysOfMonth {
            days: vec![1, 15, 31],
            intervals: vec![iv("00:00", "24:00")],
        });
        assert!(is_active(&s, None, at("2026-02-15 03:00")).active);
        assert!(is_active(&s, None, at("2026-03-31 23:00")).active);
        let a = is_active(&s, None, at("2026-02-16 03:00"));
        assert!(!a.active);
        assert!(a.reason.contains("day 16"), "{}", a.reason);
    }

    #[test]
    fn cycles_run_across_month_and_year_ends() {
        // 2 on / 2 off from 2025-12-30: on 30, 31; off Jan 1, 2; on Jan 3, 4; ...
        let s = sched(ScheduleKind::Cycle {
            on: 2,
            off: 2,
            start: d("2025-12-30"),
            intervals: vec![iv("08:00", "20:00")],
        });
        let on = |day: &str| is_active(&s, None, at(&format!("{day} 12:00"))).active;
        assert!(on("2025-12-30"));
        assert!(on("2025-12-31"));
        assert!(!on("2026-01-01"));
        assert!(!on("2026-01-02"));
        assert!(on("2026-01-03"));
        assert!(on("2026-01-04"));
        // Across the end of February: day 60 from the start (2026-02-28) is pos 0 → on.
        assert!(on("2026-02-28"));
        assert!(on("2026-03-01"));
        assert!(!on("2026-03-02"));
        assert!(!is_active(&s, None, at("2025-12-30 21:00")).active);
        let a = is_active(&s, None, at("2025-12-29 12:00"));
        assert!(!a.active);
        assert!(a.reason.contains("before"), "{}", a.reason);
        let a = is_active(&s, None, at("2026-01-02 12:00"));
        assert_eq!(
            a.reason,
            "day off 2 of 2 in the 2/2 cycle started 2025-12-30"
        );
        // Week on / week off.
        let w = sched(ScheduleKind::Cycle {
            on: 7,
            off: 7,
            start: d("2026-01-26"),
            intervals: vec![iv("00:00", "24:00")],
        });
        assert!(is_active(&w, None, at("2026-02-01 12:00")).active);
        assert!(!is_active(&w, None, at("2026-02-02 12:00")).active);
        assert!(is_active(&w, None, at("2026-02-09 12:00")).active);
    }

    #[test]
    fn activity_period_bounds_are_inclusive() {
        let mut s = sched(ScheduleKind::Always);
        s.period_start = Some(d("2026-02-01"));
        s.period_end = Some(d("2026-02-28"));
        assert!(!is_active(&s, None, at("2026-01-31 23:59")).active);
        assert!(is_active(&s, None, at("2026-02-01 00:00")).active);
        assert!(is_active(&s, None, at("2026-02-28 23:59")).active);
        let a = is_active(&s, None, at("2026-03-01 00:00"));
        assert_eq!(a.reason, "after the activity period (ended 2026-02-28)");
    }

    fn ms(s: &str) -> u64 {
        u64::try_from(at(s).and_utc().timestamp_millis()).unwrap()
    }

    #[test]
    fn local_time_uses_the_box_time_zone() {
        assert_eq!(
            local_time(ms("2026-03-02 06:00"), "Europe/Moscow").unwrap(),
            at("2026-03-02 09:00")
        );
        assert_eq!(
            local_time(ms("2026-03-02 06:00"), "").unwrap(),
            at("2026-03-02 06:00")
        );
        assert!(local_time(0, "Mars/Olympus").is_err());
        // An office in Moscow opens at 09:00 local = 06:00 UTC.
        let s = office();
        let open =
            |utc: &str| is_active(&s, None, local_time(ms(utc), "Europe/Moscow").unwrap()).active;
        assert!(!open("2026-03-02 05:59"));
        assert!(open("2026-03-02 06:00"));
    }

    #[test]
    fn berlin_daylight_saving_switches() {
        let s = office();
        let open =
            |utc: &str| is_active(&s, None, local_time(ms(utc), "Europe/Berlin").unwrap()).active;
        // Before the March switch (CET, UTC+1): 08:00 UTC is 09:00 local.
        assert_eq!(
            local_time(ms("2026-03-27 08:00"), "Europe/Berlin").unwrap(),
            at("2026-03-27 09:00")
        );
        assert!(open("2026-03-27 08:00"));
        assert!(!open("2026-03-27 07:59"));
        // The switch itself: 01:00 UTC on 2026-03-29 jumps from 02:00 to 03:00 local.
        assert_eq!(
            local_time(ms("2026-03-29 00:59"), "Europe/Berlin").unwrap(),
            at("2026-03-29 01:59")
        );
        assert_eq!(
            local_time(ms("2026-03-29 01:00"), "Europe/Berlin").unwrap(),
            at("2026-03-29 03:00")
        );
        // After it (CEST, UTC+2): 07:00 UTC is 09:00 local.
        assert!(open("2026-03-30 07:00"));
        assert!(!open("2026-03-30 06:59"));
        // October: back to CET on 2026-10-25 at 01:00 UTC (03:00 → 02:00 local).
        assert_eq!(
            local_time(ms("2026-10-25 00:30"), "Europe/Berlin").unwrap(),
            at("2026-10-25 02:30")
        );
        assert_eq!(
            local_time(ms("2026-10-25 01:30"), "Europe/Berlin").unwrap(),
            at("2026-10-25 02:30")
        );
        assert!(open("2026-10-23 07:00")); // Friday, CEST
        assert!(!open("2026-10-26 07:00")); // Monday, CET: 08:00 local
        assert!(open("2026-10-26 08:00"));
    }
}
