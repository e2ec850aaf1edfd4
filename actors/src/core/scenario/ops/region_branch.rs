//! Region branch (SPEC §3 op 10): the exit listing the region of the caller's number (its
//! federal subject first, then its country), else `other_regions`. The region comes from the
//! numbering plan the call started with ([`Registries`](crate::core::numbering::Registries)).
//! Nothing is answered or played; the call's events note the region found and where from.

use super::{Command, Ctx};
use vpbx_store::model::ops::OTHER_REGIONS;
use vpbx_store::model::{Event, OpName, RegionBranch};

pub(super) fn enter(
    ctx: &mut Ctx,
    name: &OpName,
    op: &RegionBranch,
    out: &mut Vec<Command>,
) -> String {
    let (exit, why) = match ctx.registries.region_of(&ctx.caller) {
        None => (
            OTHER_REGIONS.to_owned(),
            format!("caller {}: no region known for the number", ctx.caller),
        ),
        Some(region) => {
            let found = format!(
                "caller {} is in {} {} ({:?})",
                ctx.caller, region.code, region.name, region.source
            );
            match op.exit_of(&region.code, &region.country) {
                Some(exit) => (exit.to_owned(), found),
                None => (
                    OTHER_REGIONS.to_owned(),
                    format!("{found}, a region no exit lists"),
                ),
            }
        }
    };
    out.push(Command::Event(Event::Note(format!("{name}: {why}"))));
    exit
}

#[cfg(test)]
mod tests {
    use crate::core::numbering::Registries;
    use crate::core::scenario::testkit::*;
    use vpbx_numplan::RangeTable;
    use vpbx_store::model::RegionBranch;

    fn exit_for(caller: &str, registries: Registries) -> (String, String) {
        let branch: RegionBranch = serde_json::from_str(
            r#"{"regions": {"moscow": ["RU-MOW", "RU-MOS"], "russia": ["RU"], "uk": ["GB"]}}"#,
        )
        .unwrap();
        let s = scenario(vec![
            (
                "where",
                Operation {
                    action: Action::RegionBranch(branch),
                    exits: BTreeMap::from([
                        ("moscow".to_string(), OpName("m".into())),
                        ("other_regions".to_string(), OpName("o".into())),
                    ]),
                },
            ),
            ("m", op(Action::Pause(Pause { ms: 1 }), None)),
            ("o", op(Action::Pause(Pause { ms: 2 }), None)),
        ]);
        let mut run = ScenarioRun::new(s, 10)
            .with_call(Arc::new(Default::default()), caller)
            .with_registries(Arc::new(registries));
        let out = run.start();
        let (exit, note) = exit_and_note(&out);
        (exit, note)
    }

    #[test]
    fn the_subject_then_the_country_then_other_regions() {
        let none = Registries::default;
        let (exit, note) = exit_for("+74951234567", none());
        assert_eq!(exit, "moscow");
        assert!(note.contains("is in RU-MOW"), "{note}");
        assert_eq!(exit_for("84961234567", none()).0, "moscow");
        // A subject no exit lists: its country's exit (unset here: it ends the call).
        assert_eq!(exit_for("+78121234567", none()).0, "russia");
        assert_eq!(exit_for("+442079460000", none()).0, "uk");
        let (exit, note) = exit_for("+4930123456", none());
        assert_eq!(exit, "other_regions");
        assert!(note.contains("a region no exit lists"), "{note}");
        let (exit, note) = exit_for("anonymous", none());
        assert_eq!(exit, "other_regions");
        assert!(note.contains("no region known"), "{note}");
        // A mobile number: the country only, until the registry says where it is.
        assert_eq!(exit_for("+79161234567", none()).0, "russia");
        let def = RangeTable::import(
            "Код;От;До;Емкость;Оператор;Регион\n916;0000000;9999999;10000000;МТС;г. Москва\n",
        )
        .unwrap()
        .0;
        let (exit, note) = exit_for("+79161234567", Registries::new(vec![("DEF".into(), def)]));
        assert_eq!(exit, "moscow");
        assert!(note.contains("Registry"), "{note}");
    }
}
