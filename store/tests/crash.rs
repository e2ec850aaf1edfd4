//! Crash test: a child process makes acknowledged configuration writes and is killed with
//! SIGKILL at a random point; the parent reopens the store and checks that every acknowledged
//! write is there, that no record is torn (every record of every tree decodes) and that
//! multi-tree writes are all-or-nothing. Five rounds on the same directory, so each round also
//! starts from a store recovered after a crash.
//!
//! The child is this test binary re-invoked with `--exact child` and `VPBX_CRASH_CHILD=<dir>`.
//! It prints `ACK <seq>` only after the write returned (which flushes before returning).
#![allow(clippy::unwrap_used)]

use rand::Rng;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;
use vpbx_store::model::*;
use vpbx_store::{validate_config, Store};

const CHILD_ENV: &str = "VPBX_CRASH_CHILD";
const START_ENV: &str = "VPBX_CRASH_START";
const WRITES: u64 = 1_000;

/// One write of the child, by sequence number: three kinds in turn.
/// - `0`: create tag `seq` (one tree);
/// - `1`: create contact group `seq` and contact `seq` in it (two trees, one transaction);
/// - `2`: overwrite the settings record with company `seq <seq>` (same key every time).
fn write(store: &Store, seq: u64) {
    match seq % 3 {
        0 => {
            store
                .tags()
                .create(Tag {
                    id: TagId(seq),
                    name: format!("tag {seq}"),
                })
                .unwrap()
                .unwrap();
        }
        1 => {
            store
                .modify(|cfg| {
                    cfg.contact_groups.push(ContactGroup {
                        id: ContactGroupId(seq),
                        name: format!("group {seq}"),
                    });
                    cfg.contacts.push(Contact {
                        id: ContactId(seq),
                        last_name: format!("contact {seq}"),
                        first_name: String::new(),
                        email: None,
                        phones: vec![],
                        organisation: None,
                        groups: vec![ContactGroupId(seq)],
                        manager: None,
                        tags: vec![],
                    });
                    Ok(())
                })
                .unwrap()
                .unwrap();
        }
        _ => {
            let mut s = store.settings().unwrap();
            s.company = format!("seq {seq}");
            store.set_settings(s).unwrap().unwrap();
        }
    }
}

#[test]
fn child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return; // an ordinary test run: nothing to do
    };
    let start: u64 = std::env::var(START_ENV).unwrap().parse().unwrap();
    let store = Store::open(std::path::Path::new(&dir)).unwrap();
    let mut out = std::io::stdout().lock();
    for seq in start..start + WRITES {
        write(&store, seq);
        writeln!(out, "ACK {seq}").unwrap();
        out.flush().unwrap();
    }
}

fn verify(dir: &std::path::Path, acked: &[u64]) {
    let store = Store::open(dir).unwrap();
    // Every record of every configuration tree decodes (snapshot reads them all) ...
    let cfg = store.snapshot().unwrap();
    // ... and the whole is consistent: every contact's group exists (the pair was one
    // transaction), no duplicate or dangling anything.
    assert_eq!(validate_config(&cfg), vec![]);
    let tags: BTreeSet<u64> = cfg.tags.iter().map(|t| t.id.0).collect();
    let groups: BTreeSet<u64> = cfg.contact_groups.iter().map(|g| g.id.0).collect();
    let contacts: BTreeSet<u64> = cfg.contacts.iter().map(|c| c.id.0).collect();
    assert_eq!(
        groups, contacts,
        "a contact group without its contact or vice versa"
    );
    for &seq in acked {
        match seq % 3 {
            0 => assert!(tags.contains(&seq), "acknowledged tag {seq} lost"),
            1 => assert!(contacts.contains(&seq), "acknowledged contact {seq} lost"),
            _ => {}
        }
    }
    if let Some(&last) = acked.iter().filter(|s| *s % 3 == 2).max() {
        let now: u64 = cfg
            .company
            .strip_prefix("seq ")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        assert!(now >= last, "settings went back from seq {last} to {now}");
    }
    // Single gets decode too.
    for &t in &tags {
        assert!(store.tags().get(&TagId(t)).unwrap().is_some());
    }
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::thread_rng();
    let mut all_acked = Vec::new();
    for round in 0..5u64 {
        let start = (round + 1) * 100_000;
        let delay_ms = rng.gen_range(150..2_500);
        let mut child = Command::new(&exe)
            .args(["--exact", "child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .env(START_ENV, start.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        // SIGKILL (std's Child::kill on Unix); an error only means the child already exited.
        let _ = child.kill();
        let _ = child.wait().unwrap();
        let mut text = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        // Only complete lines count: the kill may cut the last one.
        let complete = match text.rfind('\n') {
            Some(i) => &text[..=i],
            None => "",
        };
        let acked: Vec<u64> = complete
            .lines()
            .filter_map(|l| l.strip_prefix("ACK "))
            .map(|n| n.parse().unwrap())
            .collect();
        eprintln!(
            "round {round}: killed after {delay_ms} ms, {} acknowledged writes",
            acked.len()
        );
        all_acked.extend(acked);
        verify(dir.path(), &all_acked);
    }
    assert!(
        !all_acked.is_empty(),
        "no child acknowledged any write: the test proved nothing"
    );
}
