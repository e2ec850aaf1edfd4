//! Activity schedules and production calendars.

use super::values::intervals_violations;
use super::Sink;
use crate::model::*;

pub(super) fn day_intervals(s: &mut Sink, path: &str, intervals: &[Interval]) {
    for (i, x) in intervals_violations(intervals) {
        s.push(format!("{path}[{i}]"), x.rule, x.message);
    }
}

pub(super) fn schedules(cfg: &CompanyConfig, s: &mut Sink) {
    s.unique(
        "id.unique",
        "schedule id",
        cfg.schedules
            .iter()
            .enumerate()
            .map(|(i, x)| (x.id, format!("schedules[{i}].id"))),
    );
    for (i, sch) in cfg.schedules.iter().enumerate() {
        let p = format!("schedules[{i}]");
        s.required(format!("{p}.name"), &sch.name, "schedule name");
        if let (Some(a), Some(b)) = (sch.period_start, sch.period_end) {
            if a > b {
                s.push(
                    format!("{p}.period_end"),
                    "period.order",
                    format!("activity period ends ({b}) before it starts ({a})"),
                );
            }
        }
        let d = format!("{p}.days");
        match &sch.days {
            ScheduleKind::Always => {}
            ScheduleKind::Weekly { week } => {
                for (day, ivs) in week {
                    day_intervals(s, &format!("{d}.week.{}", day.short().to_lowercase()), ivs);
                }
            }
            ScheduleKind::DayTypes {
                working,
                weekend,
                holiday,
            } => {
                day_intervals(s, &format!("{d}.working"), working);
                day_intervals(s, &format!("{d}.weekend"), weekend);
                day_intervals(s, &format!("{d}.holiday"), holiday);
            }
            ScheduleKind::DaysOfMonth { days, intervals } => {
                for (j, n) in days.iter().enumerate() {
                    if !(1..=31).contains(n) {
                        s.push(
                            format!("{d}.days[{j}]"),
                            "days_of_month.range",
                            format!("day {n} is not 1–31"),
                        );
                    }
                }
                day_intervals(s, &format!("{d}.intervals"), intervals);
            }
            ScheduleKind::Cycle {
                on, off, intervals, ..
            } => {
                if *on == 0 {
                    s.push(
                        format!("{d}.on"),
                        "cycle.min_1",
                        "a cycle has at least 1 working day",
                    );
                }
                if *off == 0 {
                    s.push(
                        format!("{d}.off"),
                        "cycle.min_1",
                        "a cycle has at least 1 day off",
                    );
                }
                day_intervals(s, &format!("{d}.intervals"), intervals);
            }
        }
    }
}

pub(super) fn calendars(cfg: &CompanyConfig, s: &mut Sink) {
    s.unique(
        "calendar.year_unique",
        "calendar year",
        cfg.calendars
            .iter()
            .enumerate()
            .map(|(i, c)| (c.year, format!("calendars[{i}].year"))),
    );
    for (i, c) in cfg.calendars.iter().enumerate() {
        let p = format!("calendars[{i}]");
        // Dates exist in years 1–9999 only (`Date::new`): a calendar outside holds no date.
        if !(1..=9999).contains(&c.year) {
            s.push(
                format!("{p}.year"),
                "calendar.year",
                format!("year {} must be 1–9999", c.year),
            );
        }
        for (name, dates) in [
            ("holidays", &c.holidays),
            ("working_days", &c.working_days),
            ("shortened_days", &c.shortened_days),
        ] {
            for (j, d) in dates.iter().enumerate() {
                if d.year() != c.year {
                    s.push(
                        format!("{p}.{name}[{j}]"),
                        "calendar.date_year",
                        format!("{d} is not in {}", c.year),
                    );
                }
            }
        }
        for (j, d) in c.working_days.iter().enumerate() {
            if c.holidays.contains(d) {
                s.push(
                    format!("{p}.working_days[{j}]"),
                    "calendar.conflict",
                    format!("{d} is both a holiday and a working day"),
                );
            }
        }
    }
}
