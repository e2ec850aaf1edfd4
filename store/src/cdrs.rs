//! Reading the call records: one page of the CDRs that match a query, newest first, with the
//! total that match and a cursor for the next page.
//!
//! CDRs are keyed by end time (ms, big-endian) then call id, so a time range is a key range and
//! "newest first" is a reverse scan. The other filters read each record in the range.

use crate::model::{CallResult, Cdr, EmployeeId, Event};
use crate::{envelope, Store, StoreError, TREE_CDR};

/// A caller's number as the index keys it: digits only (a leading `+` and any punctuation
/// dropped), so `+7 916 …` and `7916…` are one caller.
fn caller_digits(number: &str) -> Vec<u8> {
    number.bytes().filter(u8::is_ascii_digit).collect()
}

/// The index key of `cdr`: caller digits, 0, end time (ms, big-endian), call id.
pub(crate) fn caller_key(cdr: &Cdr) -> Vec<u8> {
    let mut key = caller_digits(&cdr.numa);
    key.push(0);
    key.extend_from_slice(&cdr.end_unix_ms.to_be_bytes());
    key.extend_from_slice(cdr.call_id.as_bytes());
    key
}

impl Store {
    /// How many calls from `caller` ended at or after `since_unix_ms` (at most `cap` are
    /// counted): the repeat-call branch's question. A caller with no digits has none.
    pub fn calls_from_since(
        &self,
        caller: &str,
        since_unix_ms: u64,
        cap: usize,
    ) -> Result<usize, StoreError> {
        let digits = caller_digits(caller);
        if digits.is_empty() {
            return Ok(0);
        }
        let mut lo = digits.clone();
        lo.push(0);
        lo.extend_from_slice(&since_unix_ms.to_be_bytes());
        let mut hi = digits;
        hi.push(1);
        let engine = self.engine()?;
        let mut n = 0;
        for item in engine.cdr_by_caller.range(lo..hi).take(cap) {
            item?;
            n += 1;
        }
        Ok(n)
    }

    /// Builds the caller index from the records when it is empty (a store written before the
    /// index existed); answers how many records were indexed.
    pub fn index_callers(&self) -> Result<usize, StoreError> {
        let engine = self.engine()?;
        if !engine.cdr_by_caller.is_empty() || engine.cdr.is_empty() {
            return Ok(0);
        }
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for item in engine.cdr.iter() {
            let (k, v) = item?;
            let cdr = envelope::decode::<Cdr>(&v).map_err(|reason| StoreError::Decode {
                tree: TREE_CDR,
                key: String::from_utf8_lossy(&k).into_owned(),
                reason,
            })?;
            batch.insert(caller_key(&cdr), &[]);
            n += 1;
        }
        let applied = engine.cdr_by_caller.apply_batch(batch);
        self.noted(applied.map_err(StoreError::from))?;
        self.flush()?;
        Ok(n)
    }
}
use serde::Serialize;

/// Which call records, and which page of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CdrQuery {
    /// Calls that ended at or after this time (ms since the epoch).
    pub from_unix_ms: Option<u64>,
    /// Calls that ended before this time.
    pub to_unix_ms: Option<u64>,
    /// The caller's number contains these digits.
    pub caller: Option<String>,
    /// The dialled number is exactly this.
    pub number: Option<String>,
    /// An employee's phone rang or talked in the call.
    pub employee: Option<EmployeeId>,
    /// What happened to the call.
    pub result: Option<CallResult>,
    /// Records to skip (after the cursor, if any).
    pub offset: usize,
    /// Records to return at most.
    pub limit: usize,
    /// Continue after this cursor (from a previous page's `next`).
    pub cursor: Option<String>,
}

/// One page of call records.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CdrPage {
    /// Newest first.
    pub items: Vec<Cdr>,
    /// How many records match the query (all pages; the cursor does not change it).
    pub total: usize,
    /// The cursor of the next page, when there is one.
    pub next: Option<String>,
}

/// Why a cursor is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cursor {0:?} is not one this switch handed out")]
pub struct BadCursor(pub String);

impl CdrQuery {
    fn matches(&self, cdr: &Cdr) -> bool {
        self.caller
            .as_ref()
            .is_none_or(|c| cdr.numa.contains(c.as_str()))
            && self.number.as_ref().is_none_or(|n| cdr.numb == *n)
            && self.result.is_none_or(|r| cdr.result == r)
            && self.employee.is_none_or(|id| involves(cdr, id))
    }
}

fn involves(cdr: &Cdr, id: EmployeeId) -> bool {
    cdr.events.iter().any(|e| match &e.what {
        Event::RingStarted { employee, .. } | Event::Talk { employee, .. } => *employee == Some(id),
        _ => false,
    })
}

fn hex(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() < 16 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Store {
    /// The call records matching `q`, newest first, one page.
    pub fn query_cdrs(&self, q: &CdrQuery) -> Result<Result<CdrPage, BadCursor>, StoreError> {
        let cursor = match &q.cursor {
            None => None,
            Some(c) => match unhex(c) {
                Some(k) => Some(k),
                None => return Ok(Err(BadCursor(c.clone()))),
            },
        };
        let lo = q.from_unix_ms.unwrap_or(0).to_be_bytes().to_vec();
        let hi = q.to_unix_ms.map(|t| t.to_be_bytes().to_vec());
        let tree = self.engine()?.cdr.clone();
        let range = match &hi {
            Some(hi) => tree.range(lo.as_slice()..hi.as_slice()),
            None => tree.range(lo.as_slice()..),
        };
        let mut items = Vec::new();
        let (mut total, mut skipped) = (0, 0);
        let mut last_key = None;
        let mut more = false;
        for item in range.rev() {
            let (k, v) = item?;
            let cdr = envelope::decode::<Cdr>(&v).map_err(|reason| StoreError::Decode {
                tree: TREE_CDR,
                key: hex(&k),
                reason,
            })?;
            if !q.matches(&cdr) {
                continue;
            }
            total += 1;
            if cursor.as_ref().is_some_and(|c| k.as_ref() >= c.as_slice()) {
                continue;
            }
            if skipped < q.offset {
                skipped += 1;
                continue;
            }
            if items.len() < q.limit {
                items.push(cdr);
                last_key = Some(k.to_vec());
            } else {
                more = true;
            }
        }
        Ok(Ok(CdrPage {
            items,
            total,
            next: if more {
                last_key.as_deref().map(hex)
            } else {
                None
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CallEvent, HangupSide};

    fn cdr(id: &str, end: u64, numa: &str, result: CallResult, employee: Option<u64>) -> Cdr {
        Cdr {
            call_id: id.into(),
            sip_call_id: format!("sip-{id}"),
            numa: numa.into(),
            numb: if end.is_multiple_of(2) {
                "74950000000"
            } else {
                "74950000001"
            }
            .into(),
            start_unix_ms: end - 10,
            answer_unix_ms: None,
            end_unix_ms: end,
            result,
            hangup: HangupSide::Caller,
            reason: String::new(),
            events: employee
                .map(|e| CallEvent {
                    at_unix_ms: end - 5,
                    what: Event::Talk {
                        with: "x".into(),
                        employee: Some(EmployeeId(e)),
                    },
                })
                .into_iter()
                .collect(),
        }
    }

    fn ids(p: &CdrPage) -> Vec<&str> {
        p.items.iter().map(|c| c.call_id.as_str()).collect()
    }

    #[test]
    fn filters_pages_and_cursors() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let all: Vec<Cdr> = (1u64..=10)
            .map(|i| {
                let result = if i.is_multiple_of(3) {
                    CallResult::Abandoned
                } else {
                    CallResult::Answered
                };
                cdr(
                    &format!("c{i}"),
                    1000 + i,
                    &format!("7916000000{}", i % 2),
                    result,
                    i.is_multiple_of(4).then_some(7),
                )
            })
            .collect();
        store.put_cdrs(&all).unwrap();
        let q = |f: &dyn Fn(&mut CdrQuery)| {
            let mut q = CdrQuery {
                limit: 100,
                ..Default::default()
            };
            f(&mut q);
            store.query_cdrs(&q).unwrap().unwrap()
        };
        let p = q(&|_| {});
        assert_eq!((p.total, p.items.len()), (10, 10));
        assert_eq!(p.items[0].call_id, "c10", "newest first");
        let p = q(&|q| {
            q.from_unix_ms = Some(1003);
            q.to_unix_ms = Some(1006);
        });
        assert_eq!(ids(&p), ["c5", "c4", "c3"]);
        assert_eq!(
            ids(&q(&|q| q.result = Some(CallResult::Abandoned))),
            ["c9", "c6", "c3"]
        );
        assert_eq!(ids(&q(&|q| q.employee = Some(EmployeeId(7)))), ["c8", "c4"]);
        assert_eq!(q(&|q| q.caller = Some("0001".into())).total, 5);
        assert_eq!(q(&|q| q.number = Some("74950000000".into())).total, 5);
        // Pages: offset, and a cursor that stays right while new calls arrive.
        let p1 = q(&|q| q.limit = 4);
        assert_eq!(ids(&p1), ["c10", "c9", "c8", "c7"]);
        let next = p1.next.clone().unwrap();
        store
            .put_cdr(&cdr("c11", 1011, "79160000001", CallResult::Answered, None))
            .unwrap();
        let p2 = q(&|q| {
            q.limit = 4;
            q.cursor = Some(next.clone());
        });
        assert_eq!(ids(&p2), ["c6", "c5", "c4", "c3"]);
        assert_eq!(p2.total, 11);
        let p3 = q(&|q| {
            q.limit = 4;
            q.cursor = p2.next.clone();
        });
        assert_eq!(ids(&p3), ["c2", "c1"]);
        assert_eq!(p3.next, None);
        assert_eq!(
            ids(&q(&|q| {
                q.limit = 2;
                q.offset = 3;
            })),
            ["c8", "c7"]
        );
        let bad = CdrQuery {
            cursor: Some("zz".into()),
            limit: 1,
            ..Default::default()
        };
        assert!(store.query_cdrs(&bad).unwrap().is_err());
    }
}

#[cfg(test)]
mod caller_index_tests {
    use super::*;
    use crate::model::HangupSide;

    fn cdr(id: &str, numa: &str, end: u64) -> Cdr {
        Cdr {
            call_id: id.into(),
            sip_call_id: id.into(),
            numa: numa.into(),
            numb: "74951234567".into(),
            start_unix_ms: end - 1000,
            answer_unix_ms: None,
            end_unix_ms: end,
            result: CallResult::NotAnswered,
            hangup: HangupSide::Caller,
            reason: String::new(),
            events: Vec::new(),
        }
    }

    #[test]
    fn calls_from_a_caller_are_counted_since_a_time_whatever_the_plus() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.put_cdrs(&[
            cdr("a", "79161234567", 10_000),
            cdr("b", "+79161234567", 20_000),
            cdr("c", "791612345670", 30_000),
            cdr("d", "79001112233", 40_000),
        ])
        .unwrap();
        assert_eq!(s.calls_from_since("79161234567", 0, 10).unwrap(), 2);
        assert_eq!(s.calls_from_since("+79161234567", 15_000, 10).unwrap(), 1);
        assert_eq!(s.calls_from_since("79161234567", 20_001, 10).unwrap(), 0);
        assert_eq!(s.calls_from_since("79161234567", 0, 1).unwrap(), 1);
        assert_eq!(s.calls_from_since("anonymous", 0, 10).unwrap(), 0);
        drop(s);
        // An index lost (a store from before it) is rebuilt when the store opens.
        let s = Store::open(dir.path()).unwrap();
        s.engine().unwrap().cdr_by_caller.clear().unwrap();
        assert_eq!(s.index_callers().unwrap(), 4);
        assert_eq!(s.calls_from_since("79161234567", 0, 10).unwrap(), 2);
    }
}
