//! Typed repositories over the configuration trees.
//!
//! Layout: one sled tree per entity kind (`employees`, `groups`, `contacts`, `contact_groups`,
//! `tags`, `segments`, `number_lists`, `schedules`, `calendars`, `numbers`, `scenarios`, `files`,
//! `talk_options`, `trunks`, `settings`). Keys are big-endian ids (`u64`; calendars by year; virtual
//! numbers by their digits, which are unique and are how the API addresses them; settings is the
//! single key `company`). Values are JSON bodies in the version [`envelope`]
//! ([`envelope::ENTITY_VERSION`]). These trees are the source of truth; the whole document
//! ([`CompanyConfig`]) is assembled by [`Store::snapshot`] in key order.
//!
//! Every write — a repository's create/update/delete, [`Store::reorder_rules`],
//! [`Store::equalize_group_percents`], [`Store::replace_all`] — runs the same path:
//! 1. take the store's write lock (writes are serialized; the process is the only writer);
//! 2. assemble the snapshot and apply the change to it in memory;
//! 3. validate the result with [`validate_config`]; errors that the stored configuration did
//!    not already have reject the write (`Rejection::Invalid`), so a legacy document saved
//!    without validation never blocks unrelated edits;
//! 4. write the difference (changed and removed records of every tree) in ONE sled transaction;
//! 5. flush, then acknowledge.
//!
//! Writes cost O(size of the configuration), which is what an admin panel needs; calls never
//! write here.

use crate::integrity::{users_of, EntityRef, UsedBy};
use crate::model::*;
use crate::validate::{validate_config, ValidationError, MAX_ID};
use crate::{envelope, Store, StoreError};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::marker::PhantomData;

/// Why a valid request to change the configuration was refused (an expected outcome, not a
/// store fault). The API maps: `Invalid` → 422, `NotFound` → 404, `Exists` → 409, `InUse` → 409.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The change would break validation rules.
    #[error("invalid: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<ValidationError>),
    /// No such entity.
    #[error("{kind} {id} does not exist")]
    NotFound {
        /// Kind (`employee`).
        kind: &'static str,
        /// Id, printable.
        id: String,
    },
    /// An entity with this id already exists.
    #[error("{kind} {id} already exists")]
    Exists {
        /// Kind.
        kind: &'static str,
        /// Id, printable.
        id: String,
    },
    /// The entity is used elsewhere and cannot be deleted.
    #[error("{kind} {id} is used by: {}", .users.iter().map(|u| u.to_string()).collect::<Vec<_>>().join("; "))]
    InUse {
        /// Kind.
        kind: &'static str,
        /// Id, printable.
        id: String,
        /// Every user.
        users: Vec<UsedBy>,
    },
}

/// Result of a configuration write: the outer error is a store fault, the inner one a refusal.
pub type WriteResult<T> = Result<Result<T, Rejection>, StoreError>;

/// Offset/limit pagination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Items to skip.
    pub offset: usize,
    /// Items to return at most.
    pub limit: usize,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            offset: 0,
            limit: 100,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Paged<T> {
    /// The items of the page, in key order.
    pub items: Vec<T>,
    /// How many items match in all.
    pub total: usize,
}

/// A kind of configuration entity stored in its own tree.
pub trait Entity: Clone + PartialEq + Serialize + DeserializeOwned + 'static {
    /// Tree name.
    const TREE: &'static str;
    /// Kind name used in errors (`employee`).
    const KIND: &'static str;
    /// The id.
    type Id: Clone + Eq + Ord + std::fmt::Display;
    /// This entity's id.
    fn id(&self) -> Self::Id;
    /// Replaces the id (used when creating with id 0).
    fn set_id(&mut self, id: Self::Id);
    /// Storage key of an id.
    fn key(id: &Self::Id) -> Vec<u8>;
    /// The numeric value of a generated id, if ids of this kind are generated.
    fn numeric(id: &Self::Id) -> Option<u64>;
    /// An id from its numeric value, if ids of this kind are generated.
    fn from_numeric(n: u64) -> Option<Self::Id>;
    /// Name used by the text filter.
    fn label(&self) -> String;
    /// The entities of this kind in a document.
    fn all(cfg: &CompanyConfig) -> &Vec<Self>;
    /// Mutable access to them.
    fn all_mut(cfg: &mut CompanyConfig) -> &mut Vec<Self>;
    /// How others refer to it, for [`users_of`] (`None`: nothing refers to this kind).
    fn entity_ref(id: &Self::Id) -> Option<EntityRef>;
    /// Fills in what the box generates when the entity is created or replaced, against `cfg`,
    /// the configuration it is written into (an employee's SIP-line ids and credentials,
    /// [`crate::credentials::fill_sip_lines`]). Most kinds have nothing to fill.
    fn complete(&mut self, _cfg: &CompanyConfig) {}
}

macro_rules! numeric_entity {
    ($t:ty, $id:ident, $tree:literal, $kind:literal, $field:ident, $label:expr, $eref:expr
     $(, complete = $complete:path)?) => {
        impl Entity for $t {
            const TREE: &'static str = $tree;
            const KIND: &'static str = $kind;
            type Id = $id;
            fn id(&self) -> $id {
                self.id
            }
            fn set_id(&mut self, id: $id) {
                self.id = id;
            }
            fn key(id: &$id) -> Vec<u8> {
                id.0.to_be_bytes().to_vec()
            }
            fn numeric(id: &$id) -> Option<u64> {
                Some(id.0)
            }
            fn from_numeric(n: u64) -> Option<$id> {
                Some($id(n))
            }
            fn label(&self) -> String {
                let f: fn(&$t) -> String = $label;
                f(self)
            }
            fn all(cfg: &CompanyConfig) -> &Vec<Self> {
                &cfg.$field
            }
            fn all_mut(cfg: &mut CompanyConfig) -> &mut Vec<Self> {
                &mut cfg.$field
            }
            fn entity_ref(id: &$id) -> Option<EntityRef> {
                let f: fn($id) -> Option<EntityRef> = $eref;
                f(*id)
            }
            $(
                fn complete(&mut self, cfg: &CompanyConfig) {
                    $complete(cfg, self)
                }
            )?
        }
    };
}

numeric_entity!(
    Employee,
    EmployeeId,
    "employees",
    "employee",
    employees,
    |e| format!("{} {} {}", e.last_name, e.first_name, e.extension),
    |id| Some(EntityRef::Employee(id)),
    complete = crate::credentials::fill_sip_lines
);
numeric_entity!(
    Group,
    GroupId,
    "groups",
    "group",
    groups,
    |g| g.name.clone(),
    |id| Some(EntityRef::Group(id))
);
numeric_entity!(
    Contact,
    ContactId,
    "contacts",
    "contact",
    contacts,
    |c| format!("{} {} {}", c.last_name, c.first_name, c.phones.join(" ")),
    |id| Some(EntityRef::Contact(id))
);
numeric_entity!(
    ContactGroup,
    ContactGroupId,
    "contact_groups",
    "contact group",
    contact_groups,
    |g| g.name.clone(),
    |id| Some(EntityRef::ContactGroup(id))
);
numeric_entity!(Tag, TagId, "tags", "tag", tags, |t| t.name.clone(), |id| {
    Some(EntityRef::Tag(id))
});
numeric_entity!(
    Segment,
    SegmentId,
    "segments",
    "segment",
    segments,
    |s| s.name.clone(),
    |id| Some(EntityRef::Segment(id))
);
numeric_entity!(
    NumberList,
    NumberListId,
    "number_lists",
    "number list",
    number_lists,
    |l| l.name.clone(),
    |id| Some(EntityRef::NumberList(id))
);
numeric_entity!(
    Schedule,
    ScheduleId,
    "schedules",
    "schedule",
    schedules,
    |s| s.name.clone(),
    |id| Some(EntityRef::Schedule(id))
);
numeric_entity!(
    Scenario,
    ScenarioId,
    "scenarios",
    "scenario",
    scenarios,
    |s| s.name.clone(),
    |id| Some(EntityRef::Scenario(id))
);
numeric_entity!(
    FileMeta,
    FileId,
    "files",
    "file",
    files,
    |f| f.name.clone(),
    |id| Some(EntityRef::File(id))
);
numeric_entity!(
    TalkOption,
    TalkOptionId,
    "talk_options",
    "talk option",
    talk_options,
    |t| t.keys.clone(),
    |_| None
);
numeric_entity!(
    Trunk,
    TrunkId,
    "trunks",
    "trunk",
    trunks,
    |t| format!("{} {}", t.name, t.host),
    |_| None
);

/// Calendars are keyed by year (sign-flipped so negative years would still sort first).
fn year_key(year: i32) -> Vec<u8> {
    (year as u32 ^ 0x8000_0000).to_be_bytes().to_vec()
}

impl Entity for ProductionCalendar {
    const TREE: &'static str = "calendars";
    const KIND: &'static str = "production calendar";
    type Id = i32;
    fn id(&self) -> i32 {
        self.year
    }
    fn set_id(&mut self, id: i32) {
        self.year = id;
    }
    fn key(id: &i32) -> Vec<u8> {
        year_key(*id)
    }
    fn numeric(_: &i32) -> Option<u64> {
        None
    }
    fn from_numeric(_: u64) -> Option<i32> {
        None
    }
    fn label(&self) -> String {
        self.year.to_string()
    }
    fn all(cfg: &CompanyConfig) -> &Vec<Self> {
        &cfg.calendars
    }
    fn all_mut(cfg: &mut CompanyConfig) -> &mut Vec<Self> {
        &mut cfg.calendars
    }
    fn entity_ref(_: &i32) -> Option<EntityRef> {
        None
    }
}

impl Entity for VirtualNumber {
    const TREE: &'static str = "numbers";
    const KIND: &'static str = "virtual number";
    type Id = String;
    fn id(&self) -> String {
        self.number.clone()
    }
    fn set_id(&mut self, id: String) {
        self.number = id;
    }
    fn key(id: &String) -> Vec<u8> {
        id.as_bytes().to_vec()
    }
    fn numeric(_: &String) -> Option<u64> {
        None
    }
    fn from_numeric(_: u64) -> Option<String> {
        None
    }
    fn label(&self) -> String {
        self.number.clone()
    }
    fn all(cfg: &CompanyConfig) -> &Vec<Self> {
        &cfg.numbers
    }
    fn all_mut(cfg: &mut CompanyConfig) -> &mut Vec<Self> {
        &mut cfg.numbers
    }
    fn entity_ref(id: &String) -> Option<EntityRef> {
        Some(EntityRef::Number(id.clone()))
    }
    /// Rules posted without an id get one (the docs promise it).
    fn complete(&mut self, cfg: &CompanyConfig) {
        let mut used: Vec<u64> = cfg
            .numbers
            .iter()
            .filter(|n| n.number != self.number)
            .flat_map(|n| n.rules.iter().map(|r| r.id.0))
            .chain(self.rules.iter().map(|r| r.id.0))
            .filter(|id| *id != 0)
            .collect();
        for rule in self.rules.iter_mut().filter(|r| r.id.0 == 0) {
            rule.id = RuleId(fresh_id(used.iter().copied()));
            used.push(rule.id.0);
        }
    }
}

pub(crate) const TREE_SETTINGS: &str = "settings";
pub(crate) const KEY_SETTINGS: &[u8] = b"company";

/// Every configuration tree, in the order they are written.
pub(crate) const CONFIG_TREES: [&str; 15] = [
    TREE_SETTINGS,
    <Employee as Entity>::TREE,
    <Group as Entity>::TREE,
    <Contact as Entity>::TREE,
    <ContactGroup as Entity>::TREE,
    <Tag as Entity>::TREE,
    <Segment as Entity>::TREE,
    <NumberList as Entity>::TREE,
    <Schedule as Entity>::TREE,
    <ProductionCalendar as Entity>::TREE,
    <VirtualNumber as Entity>::TREE,
    <Scenario as Entity>::TREE,
    <FileMeta as Entity>::TREE,
    <TalkOption as Entity>::TREE,
    <Trunk as Entity>::TREE,
];

impl envelope::Migrate for CompanySettings {
    const CURRENT: u16 = envelope::ENTITY_VERSION;
}

/// Decodes an entity record (entities share [`envelope::ENTITY_VERSION`]).
pub(crate) fn decode_entity<T: DeserializeOwned>(
    tree: &'static str,
    key: &[u8],
    bytes: &[u8],
) -> Result<T, StoreError> {
    let fail = |reason: String| StoreError::Decode {
        tree,
        key: printable_key(key),
        reason,
    };
    let (version, body) = envelope::open(bytes).map_err(fail)?;
    if version != envelope::ENTITY_VERSION {
        return Err(fail(format!(
            "record has schema version {version}, this binary reads {}",
            envelope::ENTITY_VERSION
        )));
    }
    body.decode().map_err(fail)
}

pub(crate) fn printable_key(key: &[u8]) -> String {
    if key.iter().all(|b| b.is_ascii_graphic()) {
        String::from_utf8_lossy(key).into_owned()
    } else {
        key.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Encoded records of one tree.
pub(crate) type TreeImage = BTreeMap<Vec<u8>, Vec<u8>>;

fn image_of<T: Entity>(cfg: &CompanyConfig) -> Result<(&'static str, TreeImage), StoreError> {
    let mut m = TreeImage::new();
    for e in T::all(cfg) {
        m.insert(
            T::key(&e.id()),
            envelope::encode_json(envelope::ENTITY_VERSION, e)?,
        );
    }
    Ok((T::TREE, m))
}

/// The record image of every configuration tree for `cfg`.
pub(crate) fn images(cfg: &CompanyConfig) -> Result<Vec<(&'static str, TreeImage)>, StoreError> {
    let mut settings = TreeImage::new();
    settings.insert(
        KEY_SETTINGS.to_vec(),
        envelope::encode_json(envelope::ENTITY_VERSION, &cfg.company_settings())?,
    );
    Ok(vec![
        (TREE_SETTINGS, settings),
        image_of::<Employee>(cfg)?,
        image_of::<Group>(cfg)?,
        image_of::<Contact>(cfg)?,
        image_of::<ContactGroup>(cfg)?,
        image_of::<Tag>(cfg)?,
        image_of::<Segment>(cfg)?,
        image_of::<NumberList>(cfg)?,
        image_of::<Schedule>(cfg)?,
        image_of::<ProductionCalendar>(cfg)?,
        image_of::<VirtualNumber>(cfg)?,
        image_of::<Scenario>(cfg)?,
        image_of::<FileMeta>(cfg)?,
        image_of::<TalkOption>(cfg)?,
        image_of::<Trunk>(cfg)?,
    ])
}

/// Spreads 100 % evenly over `n` parts; the first parts take the remainder (3 → 34, 33, 33).
pub fn equal_percents(n: usize) -> Vec<u8> {
    if n == 0 {
        return Vec::new();
    }
    let base = 100 / n;
    let extra = 100 % n;
    (0..n)
        .map(|i| u8::try_from(base + usize::from(i < extra)).unwrap_or(100))
        .collect()
}

/// Rejects with the validation errors that `after` has and `before` did not.
fn new_errors(before: &CompanyConfig, after: &CompanyConfig) -> Result<(), Rejection> {
    let old: BTreeSet<(String, &'static str)> = validate_config(before)
        .into_iter()
        .map(|e| (e.field, e.rule))
        .collect();
    let fresh: Vec<ValidationError> = validate_config(after)
        .into_iter()
        .filter(|e| !old.contains(&(e.field.clone(), e.rule)))
        .collect();
    if fresh.is_empty() {
        Ok(())
    } else {
        Err(Rejection::Invalid(fresh))
    }
}

impl Store {
    /// Applies `change` to the current configuration, validates the result, and writes the
    /// difference in one transaction; durable when it returns `Ok(Ok(_))`.
    pub fn modify<R>(
        &self,
        change: impl FnOnce(&mut CompanyConfig) -> Result<R, Rejection>,
    ) -> WriteResult<R> {
        let _guard = self.write_lock();
        let before = self.snapshot_unlocked()?;
        let mut after = before.clone();
        let out = match change(&mut after) {
            Ok(r) => r,
            Err(rej) => return Ok(Err(rej)),
        };
        if let Err(rej) = new_errors(&before, &after) {
            return Ok(Err(rej));
        }
        self.write_images(&images(&after)?)?;
        Ok(Ok(out))
    }

    /// [`Store::modify`] for a request that writes one entity: `scope` finds, in the changed
    /// document, the entity's path (`employees[2]`) and what the request calls it (`""`: the
    /// body itself), and validation errors are named from there
    /// ([`ValidationError::localize`]), so an admin posting an employee reads `extension`,
    /// not `employees[2].extension`, and a clash is reported on the posted field.
    pub fn modify_scoped<R>(
        &self,
        change: impl FnOnce(&mut CompanyConfig) -> Result<R, Rejection>,
        scope: impl FnOnce(&CompanyConfig, &R) -> Option<(String, String)>,
    ) -> WriteResult<R> {
        let _guard = self.write_lock();
        let before = self.snapshot_unlocked()?;
        let mut after = before.clone();
        let out = match change(&mut after) {
            Ok(r) => r,
            Err(rej) => return Ok(Err(rej)),
        };
        if let Err(rej) = new_errors(&before, &after) {
            return Ok(Err(match (rej, scope(&after, &out)) {
                (Rejection::Invalid(errors), Some((prefix, root))) => {
                    Rejection::Invalid(ValidationError::localize(errors, &prefix, &root))
                }
                (rej, _) => rej,
            }));
        }
        self.write_images(&images(&after)?)?;
        Ok(Ok(out))
    }

    /// The typed repository of `T`.
    pub fn repo<T: Entity>(&self) -> Repo<'_, T> {
        Repo {
            store: self,
            _t: PhantomData,
        }
    }

    /// Employees.
    pub fn employees(&self) -> Repo<'_, Employee> {
        self.repo()
    }
    /// Groups.
    pub fn groups(&self) -> Repo<'_, Group> {
        self.repo()
    }
    /// Contacts.
    pub fn contacts(&self) -> Repo<'_, Contact> {
        self.repo()
    }
    /// Contact groups.
    pub fn contact_groups(&self) -> Repo<'_, ContactGroup> {
        self.repo()
    }
    /// Tags.
    pub fn tags(&self) -> Repo<'_, Tag> {
        self.repo()
    }
    /// Segments (saved filters over contacts).
    pub fn segments(&self) -> Repo<'_, Segment> {
        self.repo()
    }
    /// Number lists.
    pub fn number_lists(&self) -> Repo<'_, NumberList> {
        self.repo()
    }
    /// Schedules.
    pub fn schedules(&self) -> Repo<'_, Schedule> {
        self.repo()
    }
    /// Production calendars (id = year).
    pub fn calendars(&self) -> Repo<'_, ProductionCalendar> {
        self.repo()
    }
    /// Virtual numbers with their ordered rules (id = the digits).
    pub fn numbers(&self) -> Repo<'_, VirtualNumber> {
        self.repo()
    }
    /// Scenarios.
    pub fn scenarios(&self) -> Repo<'_, Scenario> {
        self.repo()
    }
    /// Files of the file base.
    pub fn files(&self) -> Repo<'_, FileMeta> {
        self.repo()
    }
    /// Talk options.
    pub fn talk_options(&self) -> Repo<'_, TalkOption> {
        self.repo()
    }
    /// SIP trunks to carriers.
    pub fn trunks(&self) -> Repo<'_, Trunk> {
        self.repo()
    }

    /// The settings record (defaults on a fresh store).
    pub fn settings(&self) -> Result<CompanySettings, StoreError> {
        match self.tree(TREE_SETTINGS)?.get(KEY_SETTINGS)? {
            None => Ok(CompanySettings::default()),
            Some(b) => decode_entity(TREE_SETTINGS, KEY_SETTINGS, &b),
        }
    }

    /// Replaces the settings record (validated against the whole directory: changing the
    /// extension length is refused while extensions break it).
    pub fn set_settings(&self, s: CompanySettings) -> WriteResult<()> {
        self.modify(|cfg| {
            cfg.company = s.company;
            cfg.time_zone = s.time_zone;
            cfg.settings = s.settings;
            Ok(())
        })
    }

    /// Reorders the rules of `number`: `order` must name every rule exactly once.
    pub fn reorder_rules(&self, number: &str, order: &[RuleId]) -> WriteResult<()> {
        self.modify(|cfg| {
            let n = cfg
                .numbers
                .iter_mut()
                .find(|n| n.number == number)
                .ok_or_else(|| Rejection::NotFound {
                    kind: "virtual number",
                    id: number.to_owned(),
                })?;
            let mut have: Vec<RuleId> = n.rules.iter().map(|r| r.id).collect();
            let mut want = order.to_vec();
            have.sort();
            want.sort();
            if have != want {
                return Err(Rejection::Invalid(vec![ValidationError::new(
                    "order",
                    "rules.permutation",
                    format!("the new order must name each rule of {number} exactly once"),
                )]));
            }
            let mut old = std::mem::take(&mut n.rules);
            for id in order {
                if let Some(pos) = old.iter().position(|r| r.id == *id) {
                    n.rules.push(old.remove(pos));
                }
            }
            Ok(())
        })
    }

    /// Adds `rule` to `number` at `position` (end when `None` or past the end), or replaces
    /// the rule with the same id in place. A rule id of 0 gets the next free rule id.
    pub fn put_rule(
        &self,
        number: &str,
        mut rule: Rule,
        position: Option<usize>,
    ) -> WriteResult<Rule> {
        self.modify(|cfg| {
            if rule.id.0 == 0 {
                rule.id = next_rule_id(cfg);
            }
            let n = cfg
                .numbers
                .iter_mut()
                .find(|n| n.number == number)
                .ok_or_else(|| Rejection::NotFound {
                    kind: "virtual number",
                    id: number.to_owned(),
                })?;
            if let Some(slot) = n.rules.iter_mut().find(|r| r.id == rule.id) {
                *slot = rule.clone();
            } else {
                let at = position.unwrap_or(n.rules.len()).min(n.rules.len());
                n.rules.insert(at, rule.clone());
            }
            Ok(rule)
        })
    }

    /// Removes a rule from `number`.
    pub fn delete_rule(&self, number: &str, rule: RuleId) -> WriteResult<()> {
        self.modify(|cfg| {
            let n = cfg
                .numbers
                .iter_mut()
                .find(|n| n.number == number)
                .ok_or_else(|| Rejection::NotFound {
                    kind: "virtual number",
                    id: number.to_owned(),
                })?;
            let before = n.rules.len();
            n.rules.retain(|r| r.id != rule);
            if n.rules.len() == before {
                return Err(Rejection::NotFound {
                    kind: "rule",
                    id: rule.to_string(),
                });
            }
            Ok(())
        })
    }

    /// "Equalize percents" of a group: spreads 100 % evenly over its members (in member
    /// order, the first members take the remainder). Returns the new percents.
    pub fn equalize_group_percents(&self, group: GroupId) -> WriteResult<BTreeMap<EmployeeId, u8>> {
        self.modify(|cfg| {
            let g = cfg
                .groups
                .iter_mut()
                .find(|g| g.id == group)
                .ok_or_else(|| Rejection::NotFound {
                    kind: "group",
                    id: group.to_string(),
                })?;
            g.percents = g
                .members
                .iter()
                .copied()
                .zip(equal_percents(g.members.len()))
                .collect();
            Ok(g.percents.clone())
        })
    }

    /// "Equalize percents" over an employee's phones (in phone order).
    pub fn equalize_phone_percents(&self, employee: EmployeeId) -> WriteResult<Vec<u8>> {
        self.modify(|cfg| {
            let e = cfg
                .employees
                .iter_mut()
                .find(|e| e.id == employee)
                .ok_or_else(|| Rejection::NotFound {
                    kind: "employee",
                    id: employee.to_string(),
                })?;
            let p = equal_percents(e.phones.len());
            for (ph, pct) in e.phones.iter_mut().zip(&p) {
                ph.set_percent(*pct);
            }
            Ok(p)
        })
    }

    /// The next free rule id (rules are unique across all numbers).
    pub fn next_rule_id(&self) -> Result<RuleId, StoreError> {
        Ok(next_rule_id(&self.snapshot()?))
    }

    /// The next free SIP line id.
    pub fn next_sip_line_id(&self) -> Result<SipLineId, StoreError> {
        Ok(next_sip_line_id(&self.snapshot()?))
    }
}

/// The id a new entity gets, given the ids in use: one past the largest in range, or, once
/// [`MAX_ID`] is taken, the smallest free one. Never overflows; when every id in range is
/// taken it answers `MAX_ID + 1`, which validation refuses (`id.range`).
pub fn fresh_id(used: impl IntoIterator<Item = u64>) -> u64 {
    let used: BTreeSet<u64> = used.into_iter().filter(|id| *id <= MAX_ID).collect();
    match used.last() {
        None => 1,
        Some(&max) if max < MAX_ID => max + 1,
        Some(_) => (1..=MAX_ID)
            .zip(used.iter().copied().chain(std::iter::once(MAX_ID + 1)))
            .find(|(want, have)| want != have)
            .map_or(MAX_ID + 1, |(want, _)| want),
    }
}

/// The next free rule id in `cfg`.
pub fn next_rule_id(cfg: &CompanyConfig) -> RuleId {
    RuleId(fresh_id(
        cfg.numbers
            .iter()
            .flat_map(|n| n.rules.iter().map(|r| r.id.0)),
    ))
}

/// The next free SIP line id in `cfg`.
pub fn next_sip_line_id(cfg: &CompanyConfig) -> SipLineId {
    SipLineId(fresh_id(
        cfg.employees
            .iter()
            .flat_map(|e| e.phones.iter())
            .filter_map(|p| match p {
                Phone::SipLine(l) => Some(l.id.0),
                _ => None,
            }),
    ))
}

/// The repository of one entity kind. Reads go straight to its tree; writes go through
/// [`Store::modify`] (validated, one transaction, flushed).
pub struct Repo<'s, T: Entity> {
    store: &'s Store,
    _t: PhantomData<T>,
}

impl<T: Entity> Repo<'_, T> {
    fn tree(&self) -> Result<sled::Tree, StoreError> {
        self.store.tree(T::TREE)
    }

    fn not_found(id: &T::Id) -> Rejection {
        Rejection::NotFound {
            kind: T::KIND,
            id: id.to_string(),
        }
    }

    /// One entity.
    pub fn get(&self, id: &T::Id) -> Result<Option<T>, StoreError> {
        let key = T::key(id);
        match self.tree()?.get(&key)? {
            None => Ok(None),
            Some(b) => decode_entity(T::TREE, &key, &b).map(Some),
        }
    }

    /// Number of entities.
    pub fn count(&self) -> Result<usize, StoreError> {
        Ok(self.tree()?.len())
    }

    /// Entities matching `filter`, one page of them in key order, with the total that match.
    pub fn list(&self, page: Page, filter: impl Fn(&T) -> bool) -> Result<Paged<T>, StoreError> {
        let mut items = Vec::new();
        let mut total = 0;
        for item in self.tree()?.iter() {
            let (k, v) = item?;
            let e: T = decode_entity(T::TREE, &k, &v)?;
            if !filter(&e) {
                continue;
            }
            if total >= page.offset && items.len() < page.limit {
                items.push(e);
            }
            total += 1;
        }
        Ok(Paged { items, total })
    }

    /// Entities whose label (name; extension and phones for people) contains `text`,
    /// case-insensitively.
    pub fn search(&self, text: &str, page: Page) -> Result<Paged<T>, StoreError> {
        let q = text.to_lowercase();
        self.list(page, |e| e.label().to_lowercase().contains(&q))
    }

    /// The next id a new entity would get ([`fresh_id`]), for kinds with generated ids.
    pub fn next_id(&self) -> Result<Option<T::Id>, StoreError> {
        let mut used = Vec::new();
        for item in self.tree()?.iter() {
            let (k, v) = item?;
            let e: T = decode_entity(T::TREE, &k, &v)?;
            match T::numeric(&e.id()) {
                Some(n) => used.push(n),
                None => return Ok(None),
            }
        }
        Ok(T::from_numeric(fresh_id(used)))
    }

    /// Creates `entity`. A generated-id kind with id 0 gets the next id, then what the box
    /// generates is filled in ([`Entity::complete`]). Returns what was stored.
    pub fn create(&self, mut entity: T) -> WriteResult<T> {
        self.store.modify_scoped(
            |cfg| {
                if T::numeric(&entity.id()) == Some(0) {
                    let used = T::all(cfg).iter().filter_map(|e| T::numeric(&e.id()));
                    if let Some(id) = T::from_numeric(fresh_id(used)) {
                        entity.set_id(id);
                    }
                }
                let id = entity.id();
                if T::all(cfg).iter().any(|e| e.id() == id) {
                    return Err(Rejection::Exists {
                        kind: T::KIND,
                        id: id.to_string(),
                    });
                }
                entity.complete(cfg);
                let all = T::all_mut(cfg);
                let at = all.partition_point(|e| e.id() < id);
                all.insert(at, entity.clone());
                Ok(entity)
            },
            Self::scope,
        )
    }

    /// Where the written entity sits in `cfg`, for [`Store::modify_scoped`].
    fn scope(cfg: &CompanyConfig, written: &T) -> Option<(String, String)> {
        let id = written.id();
        T::all(cfg)
            .iter()
            .position(|e| e.id() == id)
            .map(|i| (format!("{}[{i}]", T::TREE), String::new()))
    }

    /// Replaces the entity with the same id.
    pub fn update(&self, mut entity: T) -> WriteResult<T> {
        self.store.modify_scoped(
            |cfg| {
                entity.complete(cfg);
                let id = entity.id();
                let slot = T::all_mut(cfg)
                    .iter_mut()
                    .find(|e| e.id() == id)
                    .ok_or_else(|| Self::not_found(&id))?;
                *slot = entity.clone();
                Ok(entity)
            },
            Self::scope,
        )
    }

    /// Deletes an entity; refused with the list of users while anything refers to it.
    pub fn delete(&self, id: &T::Id) -> WriteResult<T> {
        self.store.modify(|cfg| {
            let pos = T::all(cfg)
                .iter()
                .position(|e| e.id() == *id)
                .ok_or_else(|| Self::not_found(id))?;
            if let Some(r) = T::entity_ref(id) {
                let users = users_of(cfg, &r);
                if !users.is_empty() {
                    return Err(Rejection::InUse {
                        kind: T::KIND,
                        id: id.to_string(),
                        users,
                    });
                }
            }
            Ok(T::all_mut(cfg).remove(pos))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percents_spread_evenly() {
        assert_eq!(equal_percents(0), Vec::<u8>::new());
        assert_eq!(equal_percents(1), vec![100]);
        assert_eq!(equal_percents(3), vec![34, 33, 33]);
        assert_eq!(
            equal_percents(7).iter().map(|&p| u32::from(p)).sum::<u32>(),
            100
        );
        assert_eq!(
            equal_percents(200)
                .iter()
                .map(|&p| u32::from(p))
                .sum::<u32>(),
            100
        );
    }

    #[test]
    fn fresh_ids_never_overflow() {
        assert_eq!(fresh_id([]), 1);
        assert_eq!(fresh_id([1, 2, 7]), 8);
        // An id past the range (a legacy record) does not push new ids past it.
        assert_eq!(fresh_id([3, u64::MAX]), 4);
        // Once MAX_ID is taken, the smallest gap.
        assert_eq!(fresh_id([1, 2, 4, MAX_ID]), 3);
        assert_eq!(fresh_id([MAX_ID]), 1);
    }

    #[test]
    fn year_keys_sort_by_year() {
        assert!(year_key(2025) < year_key(2026));
        assert!(year_key(-1) < year_key(0));
    }
}
