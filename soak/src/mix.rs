//! The contact-center traffic of `vpbx-soak soak`, as pure data: the company the switch runs,
//! the callers of each kind and how many of them, and the judgement of the records the switch
//! kept. No I/O here: [`crate::soak`] runs the processes and feeds the results in.

use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// The virtual number every soak caller dials.
pub(crate) const NUMBER: &str = "74957000800";
/// Extension (and SIP line login) of the employee transferring agents hand callers to.
pub(crate) const SECOND_LINE: u32 = 399;
/// Agents whose phone transfers every call it answers (the last ones of the agent group).
pub(crate) const TRANSFERRING_AGENTS: u32 = 2;
/// The employees behind menu key 3, one line each: the abandoning callers come faster than two
/// lines take them, so most of those callers wait in the desk's queue (and abandon there, or
/// ask for a callback).
pub(crate) const DESK: [u32; 2] = [390, 391];

/// One kind of caller: its share of the calls, its SIPp scenario and its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Kind {
    pub(crate) name: &'static str,
    /// Percent of all calls.
    pub(crate) share_pct: u32,
    /// The SIPp scenario under `soak/sipp/`.
    pub(crate) scenario: &'static str,
    /// The menu key, and the key pressed 0.2 s later (`-`: none).
    pub(crate) digit: &'static str,
    pub(crate) digit2: &'static str,
    /// The caller's number is this prefix and SIPp's call number.
    pub(crate) caller_prefix: &'static str,
}

/// The mix (decision D70): most callers go through the greeting and the menu to the agents'
/// queue (some of those are transferred by their agent), some leave a voicemail, some wait at
/// the busy desk and give up, a few ask the desk for a callback, and a fifth are blacklisted.
/// At 20 calls/s: 12 to the agents, 2 voicemails, 1.6 abandons and 0.2 callbacks at the desk
/// (2 lines: the callbacks' 2 s talks take 0.4 of them, the abandons, up to 1.5 s each, offer
/// 2.4), 4.2 blacklisted.
pub(crate) const MIX: [Kind; 5] = [
    Kind {
        name: "queue",
        share_pct: 60,
        scenario: "soak_caller.xml",
        digit: "1",
        digit2: "-",
        caller_prefix: "7915100",
    },
    Kind {
        name: "voicemail",
        share_pct: 10,
        scenario: "soak_caller.xml",
        digit: "2",
        digit2: "-",
        caller_prefix: "7915200",
    },
    Kind {
        name: "abandon",
        share_pct: 8,
        scenario: "soak_caller_abandon.xml",
        digit: "3",
        digit2: "-",
        caller_prefix: "7915300",
    },
    Kind {
        name: "callback",
        share_pct: 1,
        scenario: "soak_caller.xml",
        digit: "3",
        digit2: "9",
        caller_prefix: "7915400",
    },
    Kind {
        name: "blocked",
        share_pct: 21,
        scenario: "soak_caller_blocked.xml",
        digit: "-",
        digit2: "-",
        caller_prefix: "7999000",
    },
];

/// How one kind's SIPp places its calls: `rate_per_10s` calls every 10 s (SIPp `-r`, `-rp
/// 10000`) and `calls` in all (`-m`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Pace {
    pub(crate) rate_per_10s: u64,
    pub(crate) calls: u64,
}

/// Each kind's pace for `rate` calls per second in all over `seconds`: at least one call per
/// 10 s and one call per kind, so every path runs even in a short, slow soak.
pub(crate) fn pace(kind: &Kind, rate: f64, seconds: f64) -> Pace {
    let per_s = rate * f64::from(kind.share_pct) / 100.0;
    let rate_per_10s = ((per_s * 10.0).round() as u64).max(1);
    let calls = ((rate_per_10s as f64 / 10.0) * seconds).round().max(1.0) as u64;
    Pace {
        rate_per_10s,
        calls,
    }
}

/// An agent's SIP line: login, password.
pub(crate) fn line(login: u32) -> (String, String) {
    (login.to_string(), format!("soak-{login}-pw"))
}

/// The logins of the agent group: 301, 302, ... (`agents` of them; the last
/// [`TRANSFERRING_AGENTS`] transfer their calls).
pub(crate) fn agent_logins(agents: u32) -> Vec<u32> {
    (301..301 + agents).collect()
}

/// The company the soak runs (`agents` ≥ 3 employees in the agent group with `lines` lines each).
pub(crate) fn company(agents: u32, lines: u32, carrier: SocketAddr) -> String {
    let mut y = String::from(
        "# Written by vpbx-soak soak: the contact center the soak traffic runs through.\n\
         company: Soak Contact Center\n\
         time_zone: Europe/Moscow\n\
         employees:\n",
    );
    let mut employee = |id: u32, login: u32, name: &str, lines: u32| {
        let (login, password) = line(login);
        y.push_str(&format!(
            "  - id: {id}\n    first_name: {name}\n    last_name: L{login}\n    \
             email: l{login}@soak.invalid\n    extension: \"{login}\"\n    phones:\n      \
             - {{ kind: sip_line, id: {login}, login: \"{login}\", password: {password}, \
             lines: {lines}, dial_timeout_s: 20 }}\n"
        ));
    };
    for (i, login) in agent_logins(agents).into_iter().enumerate() {
        employee(i as u32 + 1, login, "Agent", lines);
    }
    for (i, login) in DESK.into_iter().enumerate() {
        employee(90 + i as u32, login, "Desk", 1);
    }
    employee(99, SECOND_LINE, "Second", 100);
    let members: Vec<String> = (1..=agents).map(|i| i.to_string()).collect();
    y.push_str(&format!(
        r#"groups:
  - id: 1
    name: Agents
    extension: "200"
    members: [{members}]
    simultaneous_lines: 1
files:
  - id: 1
    name: Greeting
    path: prompts/greeting.wav
    kind: system
number_lists:
  - {{ id: 1, name: Blacklist, kind: black, blacklist: true, entries: ["7999*"] }}
scenarios:
  - id: 1
    name: Soak front desk
    start: menu
    operations:
      menu:
        action: {{ kind: menu, prompt: {{ kind: file, id: 1 }}, timeout_s: 10 }}
        exits: {{ "1": agents, "2": voicemail, "3": desk, timeout: bye, invalid: bye }}
      agents:
        action:
          kind: forward
          targets: [ {{ kind: group, id: 1 }} ]
          strategy: {{ kind: longest_idle }}
          queue: {{ announce: false, callback_key: "9" }}
          wrap_up_s: 0
          max_wait_s: 60
        exits: {{ answered: bye, no_answer: bye, busy: bye }}
      voicemail:
        action: {{ kind: voicemail, max_s: 3, silence_s: 0 }}
        exits: {{ next: bye }}
      desk:
        action:
          kind: forward
          targets: [ {{ kind: employee, id: 90 }}, {{ kind: employee, id: 91 }} ]
          strategy: {{ kind: longest_idle }}
          queue: {{ announce: false, callback_key: "9" }}
          wrap_up_s: 0
          max_wait_s: 60
        exits: {{ answered: bye, no_answer: bye, busy: bye }}
      bye:
        action: {{ kind: hang_up }}
numbers:
  - number: "{NUMBER}"
    rules:
      - {{ id: 1, name: All callers, callers: {{ kind: all }}, scenario: 1 }}
trunks:
  - id: 1
    name: Carrier
    host: {host}
    port: {port}
    auth: {{ kind: ip, addresses: [ "{host}" ] }}
"#,
        members = members.join(", "),
        host = carrier.ip(),
        port = carrier.port(),
    ));
    y
}

/// The injection file of `soak_register.xml` for these logins.
pub(crate) fn register_csv(logins: &[u32]) -> String {
    let mut s = String::from("SEQUENTIAL\n");
    for l in logins {
        let (login, password) = line(*l);
        s.push_str(&format!(
            "{login};[authentication username={login} password={password}];\n"
        ));
    }
    s
}

/// UDP sockets among `inodes` bound to a port in `lo..=hi`, from `/proc/net/udp` text.
pub(crate) fn udp_ports_in_range(
    proc_net_udp: &str,
    inodes: &std::collections::HashSet<u64>,
    lo: u16,
    hi: u16,
) -> usize {
    proc_net_udp
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let port = f
                .get(1)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            let inode = f.get(9).and_then(|i| i.parse::<u64>().ok());
            matches!((port, inode), (Some(p), Some(i)) if (lo..=hi).contains(&p) && inodes.contains(&i))
        })
        .count()
}

/// What the records of one kind's calls say.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct KindReport {
    /// Calls SIPp placed.
    pub(crate) placed: u64,
    /// Of them, calls with a record.
    pub(crate) recorded: u64,
    /// Record results (`answered`, `blocked`, ...) and how many.
    pub(crate) results: BTreeMap<String, u64>,
    /// Calls that went the kind's way (see [`went_its_way`]).
    pub(crate) on_path: u64,
    /// Calls that waited in a queue.
    pub(crate) queued: u64,
    /// Call numbers placed with no record (the first few).
    pub(crate) missing: Vec<u64>,
}

/// The SIPp call number from a soak Call-ID `soak-<kind>-<n>-<pid>@ip`.
pub(crate) fn call_number(sip_call_id: &str, kind: &str) -> Option<u64> {
    let rest = sip_call_id.strip_prefix("soak-")?.strip_prefix(kind)?;
    rest.strip_prefix('-')?.split('-').next()?.parse().ok()
}

pub(crate) fn has_event(cdr: &Value, what: &str) -> bool {
    cdr["events"]
        .as_array()
        .is_some_and(|ev| ev.iter().any(|e| e["what"].get(what).is_some()))
}

fn entered(cdr: &Value, op: &str) -> bool {
    cdr["events"].as_array().is_some_and(|ev| {
        ev.iter()
            .any(|e| e["what"]["operation_entered"]["op"].as_str() == Some(op))
    })
}

/// Did the call go the way its kind means? queue: talked to someone; voicemail: reached the
/// voicemail; abandon: reached the desk (who hung up depends on timing: not judged); callback:
/// asked for a callback (or was answered at once by the desk); blocked: refused as blacklisted.
pub(crate) fn went_its_way(kind: &str, cdr: &Value) -> bool {
    let result = cdr["result"].as_str().unwrap_or("");
    match kind {
        "queue" => has_event(cdr, "talk"),
        "voicemail" => entered(cdr, "voicemail"),
        "abandon" => entered(cdr, "desk"),
        "callback" => has_event(cdr, "callback_requested") || has_event(cdr, "talk"),
        "blocked" => result == "blocked",
        _ => false,
    }
}

/// Matches the switch's records to the calls each kind placed (`placed[kind]` calls, numbered
/// 1..=n by SIPp); records of other calls (the switch's callbacks) are counted apart.
pub(crate) fn judge(
    placed: &BTreeMap<&'static str, u64>,
    cdrs: &[Value],
) -> (BTreeMap<&'static str, KindReport>, Vec<Value>) {
    let mut reports: BTreeMap<&'static str, KindReport> = BTreeMap::new();
    let mut seen: BTreeMap<&'static str, std::collections::BTreeSet<u64>> = BTreeMap::new();
    let mut others = Vec::new();
    for cdr in cdrs {
        let id = cdr["sip_call_id"].as_str().unwrap_or("");
        let found = placed
            .keys()
            .find_map(|k| call_number(id, k).map(|n| (*k, n)));
        let Some((kind, n)) = found else {
            others.push(cdr.clone());
            continue;
        };
        if !seen.entry(kind).or_default().insert(n) {
            continue;
        }
        let r = reports.entry(kind).or_default();
        r.recorded += 1;
        *r.results
            .entry(cdr["result"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
        if went_its_way(kind, cdr) {
            r.on_path += 1;
        }
        if has_event(cdr, "queue_joined") {
            r.queued += 1;
        }
    }
    for (kind, n) in placed {
        let r = reports.entry(kind).or_default();
        r.placed = *n;
        let s = seen.entry(kind).or_default();
        r.missing = (1..=*n).filter(|i| !s.contains(i)).take(10).collect();
    }
    (reports, others)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_mix_adds_up_and_every_kind_runs() {
        assert_eq!(MIX.iter().map(|k| k.share_pct).sum::<u32>(), 100);
        // 20 calls/s for 2 minutes.
        let p: Vec<Pace> = MIX.iter().map(|k| pace(k, 20.0, 120.0)).collect();
        assert_eq!(
            p[0],
            Pace {
                rate_per_10s: 120,
                calls: 1440
            }
        );
        assert_eq!(
            p[3],
            Pace {
                rate_per_10s: 2,
                calls: 24
            }
        );
        // A slow, short soak still places one call of each kind.
        assert!(MIX.iter().all(|k| pace(k, 0.1, 5.0).calls == 1));
    }

    #[test]
    fn the_company_document() {
        let y = company(20, 2, "127.0.0.1:25170".parse().unwrap());
        assert!(y.contains("extension: \"301\"") && y.contains("extension: \"320\""));
        assert!(y.contains("password: soak-320-pw, lines: 2"));
        assert!(y.contains("extension: \"399\"") && y.contains("lines: 100"));
        assert!(y.contains("members: [1, 2, 3,") && y.contains(", 20]"));
        assert!(y.contains(r#"entries: ["7999*"]"#));
        assert!(y.contains("port: 25170") && y.contains(r#"addresses: [ "127.0.0.1" ]"#));
        assert!(y.contains(r#"- number: "74957000800""#));
        assert_eq!(
            register_csv(&[301, 302]),
            "SEQUENTIAL\n301;[authentication username=301 password=soak-301-pw];\n\
             302;[authentication username=302 password=soak-302-pw];\n"
        );
    }

    #[test]
    fn rtp_sockets_from_proc_net_udp() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
          1: 0100007F:A028 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 111 2 0 0\n\
          2: 0100007F:A029 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 222 2 0 0\n\
          3: 0100007F:13C4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 333 2 0 0\n";
        let mine: std::collections::HashSet<u64> = [111, 333].into();
        // 0xA028 = 41000, 0xA029 = 41001 (not ours), 0x13C4 = 5060 (out of range).
        assert_eq!(udp_ports_in_range(text, &mine, 41000, 44999), 1);
    }

    #[test]
    fn records_are_matched_to_the_calls_placed() {
        let placed: BTreeMap<&'static str, u64> = [("queue", 3), ("blocked", 2)].into();
        let talk = json!({"at_unix_ms": 1, "what": {"talk": {"with": "x", "employee": 1}}});
        let cdrs = vec![
            json!({"sip_call_id": "soak-queue-1-77@127.0.0.1", "result": "answered", "events": [talk]}),
            json!({"sip_call_id": "soak-queue-2-77@127.0.0.1", "result": "not_answered", "events": []}),
            json!({"sip_call_id": "soak-blocked-1-78@127.0.0.1", "result": "blocked", "events": []}),
            json!({"sip_call_id": "soak-blocked-2-78@127.0.0.1", "result": "blocked", "events": []}),
            json!({"sip_call_id": "callback-abc", "result": "answered", "events": []}),
        ];
        let (r, others) = judge(&placed, &cdrs);
        assert_eq!(others.len(), 1);
        let q = &r["queue"];
        assert_eq!((q.placed, q.recorded, q.on_path), (3, 2, 1));
        assert_eq!(q.missing, vec![3]);
        assert_eq!(q.results["not_answered"], 1);
        let b = &r["blocked"];
        assert_eq!((b.placed, b.recorded, b.on_path), (2, 2, 2));
        assert!(b.missing.is_empty());
        assert_eq!(call_number("soak-queue-12-5@h", "queue"), Some(12));
        assert_eq!(call_number("soak-queue-12-5@h", "blocked"), None);
    }
}
