//! Schedule branch (SPEC §3 op 8): `in` when the call's wall-clock time, as it enters the
//! operation, is inside the schedule, else `out`. The evaluation is routing's (the company's
//! time zone, the production calendar of that year); nothing is answered or played.
//!
//! A schedule missing from the call's configuration (validation refuses one, so only old data)
//! takes `out`.

use super::{Command, Ctx};
use crate::core::routing::{box_local_time, is_active};
use chrono::Datelike;
use vpbx_store::model::{Event, OpName, ScheduleBranch};

pub(super) fn enter(
    ctx: &mut Ctx,
    name: &OpName,
    op: &ScheduleBranch,
    out: &mut Vec<Command>,
) -> String {
    let cfg = &ctx.config;
    let local = box_local_time(cfg, ctx.unix_ms);
    let tz = if cfg.time_zone.is_empty() {
        "UTC"
    } else {
        cfg.time_zone.as_str()
    };
    let at = format!("{} {tz}", local.format("%a %Y-%m-%d %H:%M"));
    let (exit, why) = match cfg.schedule(op.schedule) {
        None => (
            "out",
            format!("schedule {} does not exist ({at})", op.schedule),
        ),
        Some(sch) => {
            let a = is_active(sch, cfg.calendar(local.year()), local);
            let (exit, word) = if a.active {
                ("in", "inside")
            } else {
                ("out", "outside")
            };
            (
                exit,
                format!("schedule '{}': {word} ({at}; {})", sch.name, a.reason),
            )
        }
    };
    out.push(Command::Event(Event::Note(format!("{name}: {why}"))));
    exit.into()
}

#[cfg(test)]
mod tests {
    use crate::core::scenario::testkit::*;
    use vpbx_store::model::{CompanyConfig, Schedule, ScheduleId};

    /// Mon–Fri 09:00–18:00 in `tz`.
    fn cfg(tz: &str) -> Arc<CompanyConfig> {
        let day = "[{start: \"09:00\", end: \"18:00\"}]";
        let office: Schedule = serde_yaml::from_str(&format!(
            "id: 1\nname: Office hours\ndays:\n  kind: weekly\n  week:\n    \
             mon: {day}\n    tue: {day}\n    wed: {day}\n    thu: {day}\n    fri: {day}\n"
        ))
        .unwrap();
        Arc::new(CompanyConfig {
            time_zone: tz.into(),
            schedules: vec![office],
            ..Default::default()
        })
    }

    fn branch() -> Arc<Scenario> {
        scenario(vec![
            (
                "hours",
                Operation {
                    action: Action::ScheduleBranch(ScheduleBranch {
                        schedule: ScheduleId(1),
                    }),
                    exits: BTreeMap::from([
                        ("in".to_string(), OpName("open".into())),
                        ("out".to_string(), OpName("closed".into())),
                    ]),
                },
            ),
            ("open", op(Action::Pause(Pause { ms: 10 }), None)),
            ("closed", op(Action::HangUp(HangUp {}), None)),
        ])
    }

    /// The exit taken at `unix_ms`, and the note.
    fn decide(tz: &str, unix_ms: u64) -> (String, String) {
        let mut run = ScenarioRun::new(branch(), 10).with_call(cfg(tz), "79160000000");
        let out = run.start_at(unix_ms);
        let exit = out
            .iter()
            .find_map(|c| match c {
                Command::Event(Event::ExitTaken { exit, .. }) => Some(exit.clone()),
                _ => None,
            })
            .unwrap();
        let note = out
            .iter()
            .find_map(|c| match c {
                Command::Event(Event::Note(n)) => Some(n.clone()),
                _ => None,
            })
            .unwrap();
        (exit, note)
    }

    // 2026-12-07 is a Monday; 07:30 UTC is 10:30 in Moscow (UTC+3).
    const MON_0730_UTC: u64 = 1_796_628_600_000;

    #[test]
    fn inside_and_outside_follow_the_company_time_zone() {
        let (exit, note) = decide("Europe/Moscow", MON_0730_UTC);
        assert_eq!(exit, "in");
        assert!(
            note.contains("Office hours': inside (Mon 2026-12-07 10:30 Europe/Moscow"),
            "{note}"
        );
        // The same instant in UTC is 07:30: before the office opens.
        let (exit, note) = decide("", MON_0730_UTC);
        assert_eq!(exit, "out");
        assert!(note.contains("outside (Mon 2026-12-07 07:30 UTC"), "{note}");
        // Time zone edge: 21:30 UTC on Sunday is already Monday 00:30 in Moscow — outside the
        // hours either way, but the day is Monday there.
        let (exit, note) = decide("Europe/Moscow", MON_0730_UTC - 10 * 3_600_000);
        assert_eq!(exit, "out");
        assert!(note.contains("Mon 2026-12-07 00:30"), "{note}");
        // 09:00 local is inside (half-open intervals), 18:00 is not.
        let moscow_0900 = MON_0730_UTC - 90 * 60_000;
        assert_eq!(decide("Europe/Moscow", moscow_0900).0, "in");
        assert_eq!(decide("Europe/Moscow", moscow_0900 - 1).0, "out");
        assert_eq!(
            decide("Europe/Moscow", moscow_0900 + 9 * 3_600_000).0,
            "out"
        );
    }

    #[test]
    fn decided_at_entering_plays_nothing_and_goes_on() {
        // A pause first: the branch decides at the time of the input that enters it.
        let s = scenario(vec![
            ("wait", op(Action::Pause(Pause { ms: 1000 }), Some("hours"))),
            (
                "hours",
                Operation {
                    action: Action::ScheduleBranch(ScheduleBranch {
                        schedule: ScheduleId(1),
                    }),
                    exits: BTreeMap::from([("in".to_string(), OpName("bye".into()))]),
                },
            ),
            ("bye", op(Action::HangUp(HangUp {}), None)),
        ]);
        let mut run = ScenarioRun::new(s, 10).with_call(cfg("Europe/Moscow"), "1");
        // Started at 08:59:59 Moscow (outside), entered at 10:30 (inside).
        run.start_at(MON_0730_UTC - 91 * 60_000);
        let out = run.handle_at(MON_0730_UTC, Input::PlayDone { id: 1 });
        assert!(out.contains(&Command::Event(Event::ExitTaken {
            op: "hours".into(),
            exit: "in".into()
        })));
        assert!(matches!(
            out.last(),
            Some(Command::Hangup { reason: Ending::Finished(r) }) if r == "bye: hang up"
        ));
        // Nothing for the caller's media between the pause and the hang-up.
        assert_eq!(
            without_traces(out).len(),
            1,
            "only the hang-up, no answer or prompt"
        );
        // The unset `out` exit ends the call; a missing schedule takes `out`.
        let s = scenario(vec![(
            "hours",
            op(
                Action::ScheduleBranch(ScheduleBranch {
                    schedule: ScheduleId(9),
                }),
                None,
            ),
        )]);
        let mut run = ScenarioRun::new(s, 10).with_call(cfg(""), "1");
        let out = run.start_at(MON_0730_UTC);
        assert!(out.contains(&Command::Event(Event::ExitTaken {
            op: "hours".into(),
            exit: "out".into()
        })));
        assert!(run.is_done());
    }

    #[test]
    fn a_loop_of_branches_ends_on_the_step_budget() {
        let s = scenario(vec![(
            "hours",
            Operation {
                action: Action::ScheduleBranch(ScheduleBranch {
                    schedule: ScheduleId(1),
                }),
                exits: BTreeMap::from([
                    ("in".to_string(), OpName("hours".into())),
                    ("out".to_string(), OpName("hours".into())),
                ]),
            },
        )]);
        let mut run = ScenarioRun::new(s, 1000).with_call(cfg(""), "1");
        let out = run.start_at(MON_0730_UTC);
        assert!(matches!(
            out.last(),
            Some(Command::Hangup { reason: Ending::Broken(r) }) if r.contains("scenario loop")
        ));
    }
}
