//! The company model: every entity an admin configures and every call reads.
//!
//! These are plain data. Validation of their business rules (extension format, referential
//! integrity) lives next to them in this crate; call logic that interprets them (routing,
//! scenarios) lives in `vpbx-actors::core`.
//!
//! A [`CompanyConfig`] is one consistent snapshot of the whole configuration. Calls keep the
//! snapshot they were routed with; new calls see the newest one.

use serde::{Deserialize, Serialize};

mod cdr;
mod contacts;
mod directory;
mod dist;
mod dist_state;
mod ids;
mod number_list;
mod numbers;
mod scenario;
mod schedule;
mod settings;
mod talk;
mod time;
mod trunk;

pub(crate) use cdr::migrate_v1 as cdr_migrate_v1;
pub use cdr::{
    CallEvent, CallResult, Cdr, Event, HangupSide, LegCause, RingOutcome, Side, TransferKind,
};
pub use contacts::{Contact, ContactGroup, Segment, Tag};
pub use directory::{Employee, FileKind, FileMeta, Group, Phone, PhoneType, SipLine};
pub use dist::{QueueSettings, Strategy};
pub use dist_state::{DistSample, QueueCallback};
pub use ids::{
    ContactGroupId, ContactId, EmployeeId, FileId, GroupId, NumberListId, OpName, RuleId,
    ScenarioId, ScheduleId, SegmentId, SipLineId, TagId, TalkOptionId, TrunkId,
};
pub use number_list::{ListKind, NumberList};
pub use numbers::{CallerFilter, NumberKind, Rule, VirtualNumber};
pub use scenario::{
    ops, Action, Echo, Escalation, Forward, ForwardTarget, HangUp, InfoMessage, InsertScenario,
    ListBranch, Menu, Op, Operation, Pause, PersonalManager, Phrase, Pin, Prompt, Ref, RefAt,
    RegionBranch, RepeatBranch, Ring, RingMode, Scenario, ScheduleBranch, SegmentBranch,
    SegmentExit, VoiceAssistant, Voicemail, Webhook,
};
pub use schedule::{DayType, Interval, ProductionCalendar, Schedule, ScheduleKind};
pub use settings::{BoxSettings, CompanySettings};
pub use talk::{SaveTarget, TalkAction, TalkOption};
pub use time::{days_in_month, Date, TimeOfDay, Weekday};
pub use trunk::{pick_outbound, DidMapping, IpNet, NumberFormat, Trunk, TrunkAuth, TrunkTransport};

/// The whole configuration of the box: one consistent snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompanyConfig {
    /// Company name shown in the panel.
    pub company: String,
    /// IANA time zone used for every schedule evaluation, e.g. `Europe/Moscow`.
    pub time_zone: String,
    /// Employees.
    pub employees: Vec<Employee>,
    /// Groups of employees.
    pub groups: Vec<Group>,
    /// Sound files known to the file base (system messages and uploaded prompts).
    pub files: Vec<FileMeta>,
    /// Virtual numbers with their ordered rules.
    pub numbers: Vec<VirtualNumber>,
    /// Scenarios.
    pub scenarios: Vec<Scenario>,
    /// Directory constraints (extension length, mobile-line mode).
    pub settings: BoxSettings,
    /// Address book.
    pub contacts: Vec<Contact>,
    /// Contact groups.
    pub contact_groups: Vec<ContactGroup>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Segments: saved filters over contacts (read by segment branches).
    pub segments: Vec<Segment>,
    /// Number lists (one of them may be the blacklist).
    pub number_lists: Vec<NumberList>,
    /// Activity schedules.
    pub schedules: Vec<Schedule>,
    /// Production calendars, one per year.
    pub calendars: Vec<ProductionCalendar>,
    /// Talk options (DTMF key → action).
    pub talk_options: Vec<TalkOption>,
    /// SIP trunks to carriers.
    pub trunks: Vec<Trunk>,
}

impl CompanyConfig {
    /// The virtual number with these digits.
    pub fn number(&self, digits: &str) -> Option<&VirtualNumber> {
        self.numbers.iter().find(|n| n.number == digits)
    }

    /// The scenario with this id.
    pub fn scenario(&self, id: ScenarioId) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.id == id)
    }

    /// The file with this id.
    pub fn file(&self, id: FileId) -> Option<&FileMeta> {
        self.files.iter().find(|f| f.id == id)
    }

    /// The employee with this id.
    pub fn employee(&self, id: EmployeeId) -> Option<&Employee> {
        self.employees.iter().find(|e| e.id == id)
    }

    /// The group with this id.
    pub fn group(&self, id: GroupId) -> Option<&Group> {
        self.groups.iter().find(|g| g.id == id)
    }

    /// The schedule with this id.
    pub fn schedule(&self, id: ScheduleId) -> Option<&Schedule> {
        self.schedules.iter().find(|s| s.id == id)
    }

    /// The production calendar of `year`.
    pub fn calendar(&self, year: i32) -> Option<&ProductionCalendar> {
        self.calendars.iter().find(|c| c.year == year)
    }

    /// The number list with this id.
    pub fn number_list(&self, id: NumberListId) -> Option<&NumberList> {
        self.number_lists.iter().find(|l| l.id == id)
    }

    /// The segment with this id.
    pub fn segment(&self, id: SegmentId) -> Option<&Segment> {
        self.segments.iter().find(|s| s.id == id)
    }

    /// The trunk with this id.
    pub fn trunk(&self, id: TrunkId) -> Option<&Trunk> {
        self.trunks.iter().find(|t| t.id == id)
    }

    /// The trunk that delivers `did`, with its mapping (a leading `+` in `did` is ignored).
    /// Found whether the trunk is enabled or not: the caller decides what a disabled trunk
    /// means. DIDs are unique across trunks (validation), so there is at most one.
    pub fn trunk_for_did(&self, did: &str) -> Option<(&Trunk, &DidMapping)> {
        let did = did.strip_prefix('+').unwrap_or(did);
        self.trunks
            .iter()
            .find_map(|t| t.dids.iter().find(|m| m.did == did).map(|m| (t, m)))
    }

    /// The first enabled IP-authenticated trunk whose addresses contain `source`.
    pub fn trunk_for_source(&self, source: std::net::IpAddr) -> Option<&Trunk> {
        self.trunks
            .iter()
            .find(|t| t.enabled && t.trusts_source(source))
    }

    /// The blacklist, if one is configured.
    pub fn blacklist(&self) -> Option<&NumberList> {
        self.number_lists.iter().find(|l| l.blacklist)
    }

    /// Contacts that have `number` among their phones (digits compared after dropping a
    /// leading `+`).
    pub fn contacts_with_phone<'a>(&'a self, number: &'a str) -> impl Iterator<Item = &'a Contact> {
        let n = number.trim_start_matches('+');
        self.contacts
            .iter()
            .filter(move |c| c.phones.iter().any(|p| p.trim_start_matches('+') == n))
    }

    /// The settings record (company, time zone, box settings).
    pub fn company_settings(&self) -> CompanySettings {
        CompanySettings {
            company: self.company.clone(),
            time_zone: self.time_zone.clone(),
            settings: self.settings.clone(),
        }
    }

    /// The SIP line with this login, with the employee that owns it.
    pub fn sip_line_by_login(&self, login: &str) -> Option<(&Employee, &SipLine)> {
        self.employees.iter().find_map(|e| {
            e.phones.iter().find_map(|p| match p {
                Phone::SipLine(l) if l.login == login => Some((e, l)),
                _ => None,
            })
        })
    }
}

fn yes() -> bool {
    true
}
