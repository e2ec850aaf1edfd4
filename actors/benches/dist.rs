//! Distribution benchmarks (issue #12): with 10,000 callers waiting and 1,000 agent lines, the
//! cost of one dispatch decision, of one enqueue/dequeue (join + leave), of the board's next
//! timeout and of a claim from outside the queues, and the memory each waiting caller takes.
//!
//! Before criterion runs, a timing pass of its own prints p50/p99/max per operation (criterion
//! reports means and medians, the target is a p99). Memory is by size accounting: the bytes
//! a waiting caller's entry holds on the board (its `Waiting` in the queue with the heap of its
//! strings and candidates, and its entry in the call → queue map), plus, as a cross-check, the
//! process's resident set growth over the joins (`/proc/self/statm`). A counting global
//! allocator is not an option here: the workspace forbids `unsafe` code, bench targets
//! included.
// Timing a benchmark reads the clock; the cores never do.
#![allow(clippy::disallowed_methods)]

use criterion::{black_box, criterion_group, Criterion};
use std::time::{Duration, Instant};
use vpbx_actors::core::dist::board::{Board, CallKey, Request, Waiting};
use vpbx_actors::core::dist::candidates::phone_candidate;
use vpbx_actors::core::dist::{Candidate, LineKey};
use vpbx_store::model::{
    CompanyConfig, Employee, EmployeeId, Phone, ScenarioId, SipLine, SipLineId, Strategy,
};

const LINES: u64 = 1_000;
const QUEUES: u64 = 10;
const WAITING: u64 = 10_000;
const UNIX_0: u64 = 1_780_000_000_000;
/// Call keys of the talks that hold every line.
const TALKER: CallKey = 1 << 40;

fn employee(id: u64) -> Employee {
    Employee {
        id: EmployeeId(id),
        first_name: "Ivan".into(),
        last_name: format!("Agent{id}"),
        email: None,
        extension: format!("{}", 1000 + id),
        calls_enabled: true,
        phones: vec![Phone::SipLine(SipLine {
            id: SipLineId(10_000 + id),
            login: format!("line{}", 1000 + id),
            password: String::new(),
            lines: 1,
            dial_timeout_s: 20,
            percent: 0,
            outbound_caller_id: None,
            outbound_allowed: true,
        })],
        schedule: None,
        rating: false,
        trainer: None,
        trainer_joins_every_call: false,
        transfers_join_queue: false,
        percent_distribution: false,
    }
}

fn line(id: u64) -> LineKey {
    LineKey {
        employee: EmployeeId(id),
        phone: 0,
    }
}

/// Everything a benchmark needs: the board with every line talking and `WAITING` callers in
/// `QUEUES` queues of `LINES / QUEUES` lines each, and virtual time.
struct Bench {
    t0: Instant,
    now_ms: u64,
    board: Board,
    requests: Vec<Request>,
    /// The talk holding each line.
    holder: Vec<CallKey>,
    next_call: CallKey,
    /// The line of each queue freed next.
    turn: Vec<u64>,
    /// A line of no queue (for a claim from outside).
    spare: LineKey,
}

impl Bench {
    fn now(&self) -> Instant {
        self.t0 + Duration::from_millis(self.now_ms)
    }

    fn new() -> Bench {
        let cfg = CompanyConfig {
            employees: (0..=LINES).map(employee).collect(),
            ..CompanyConfig::default()
        };
        let t0 = Instant::now();
        let mut board = Board::new();
        board.configure(t0, &cfg, &|_| true);
        let per = LINES / QUEUES;
        let requests: Vec<Request> = (0..QUEUES)
            .map(|q| {
                let candidates: Vec<Candidate> = (q * per..(q + 1) * per)
                    .map(|id| {
                        let e = &cfg.employees[usize::try_from(id).expect("small")];
                        phone_candidate(e, 0, &e.phones[0])
                    })
                    .collect();
                Request {
                    scenario: Some(ScenarioId(1)),
                    anchor: format!("1/queue{q}"),
                    candidates,
                    strategy: Strategy::LongestIdle,
                    cap: None,
                    widening: false,
                    queue: Some(format!("queue{q}")),
                }
            })
            .collect();
        // Every line talks.
        let mut holder = Vec::new();
        for id in 0..LINES {
            let call = TALKER + id;
            board
                .claim(t0, UNIX_0, call, line(id), "1/talk", None)
                .expect("a free line");
            board.answered(call, line(id));
            holder.push(call);
        }
        let mut b = Bench {
            t0,
            now_ms: 0,
            board,
            requests,
            holder,
            next_call: 1,
            turn: vec![0; usize::try_from(QUEUES).expect("small")],
            spare: line(LINES),
        };
        for k in 0..WAITING {
            b.join((k % QUEUES) as usize);
        }
        assert!(b.board.dispatch(b.now(), UNIX_0).is_empty());
        b
    }

    /// A new caller joins queue `q` at its end.
    fn join(&mut self, q: usize) -> CallKey {
        let call = self.next_call;
        self.next_call += 1;
        let now = self.now();
        self.board
            .join(
                now,
                UNIX_0 + self.now_ms,
                call,
                format!("+7495{call:07}"),
                self.requests[q].clone(),
                None,
            )
            .expect("a place");
        call
    }

    /// The talk on the next line of queue `q` ends (no wrap-up): that line is free.
    fn free_a_line(&mut self, q: usize) -> LineKey {
        let per = LINES / QUEUES;
        let id = q as u64 * per + self.turn[q] % per;
        self.turn[q] += 1;
        let l = line(id);
        let now = self.now();
        let call = self.holder[usize::try_from(id).expect("small")];
        self.board.release(
            now,
            UNIX_0 + self.now_ms,
            call,
            l,
            Some(60_000),
            Duration::ZERO,
            None,
        );
        l
    }

    /// The head offered `l` answers and leaves its queue; a new caller joins at the end, so
    /// the board stays at `WAITING` callers with every line talking.
    fn answer_and_refill(&mut self, q: usize, call: CallKey, l: LineKey) {
        self.board.answered(call, l);
        self.board.leave(call);
        self.holder[usize::try_from(l.employee.0).expect("small")] = call;
        self.join(q);
    }

    /// One dispatch decision: a line of queue `q` frees, dispatch offers it to the head.
    fn dispatch_once(&mut self, q: usize) -> Duration {
        self.now_ms += 1_000;
        let l = self.free_a_line(q);
        let now = self.now();
        let s = Instant::now();
        let offers = black_box(self.board.dispatch(now, UNIX_0 + self.now_ms));
        let took = s.elapsed();
        assert_eq!(offers.len(), 1, "one line free, one offer");
        let call = offers[0].call;
        self.answer_and_refill(q, call, l);
        took
    }

    /// One enqueue and dequeue: a caller joins queue `q` at its end and leaves.
    fn join_leave_once(&mut self, q: usize) -> (Duration, Duration) {
        let s = Instant::now();
        let call = self.join(q);
        let joined = s.elapsed();
        let s = Instant::now();
        self.board.leave(black_box(call));
        (joined, s.elapsed())
    }

    /// A call from outside the queues claims a line nobody waits for, and lets it go.
    fn outside_claim_once(&mut self) -> Duration {
        let now = self.now();
        let s = Instant::now();
        let r = self
            .board
            .claim(now, UNIX_0, TALKER - 1, self.spare, "1/other", None);
        let took = s.elapsed();
        assert!(r.is_ok());
        self.board.release(
            now,
            UNIX_0,
            TALKER - 1,
            self.spare,
            None,
            Duration::ZERO,
            None,
        );
        took
    }

    fn poll_once(&mut self) -> Duration {
        let now = self.now();
        let s = Instant::now();
        black_box(self.board.poll_timeout(now));
        s.elapsed()
    }
}

fn percentiles(name: &str, mut d: Vec<Duration>) {
    d.sort();
    let at = |p: f64| d[((d.len() - 1) as f64 * p) as usize];
    eprintln!(
        "{name:<28} n={:<5} p50 {:>10.1?}  p99 {:>10.1?}  max {:>10.1?}",
        d.len(),
        at(0.50),
        at(0.99),
        at(1.0)
    );
}

/// Heap and inline bytes of one waiting caller's entry on the board; its request (shared by the
/// callers of one operation) is counted once, for the first caller that holds it.
fn waiting_bytes(w: &Waiting, queue_key: &str, seen: &mut Vec<*const Request>) -> usize {
    let r = &w.request;
    let mut n = std::mem::size_of::<Waiting>();
    n += w.caller.capacity();
    // Its entry in the board's call → queue map: the key, the queue's name, one control byte.
    n += std::mem::size_of::<(CallKey, String)>() + queue_key.len() + 1;
    let p = std::sync::Arc::as_ptr(r);
    if seen.contains(&p) {
        return n;
    }
    seen.push(p);
    n += r.anchor.capacity();
    n += r.queue.as_ref().map_or(0, String::capacity);
    n += r.candidates.capacity() * std::mem::size_of::<Candidate>();
    for c in &r.candidates {
        n += c.label.capacity();
        n += match &c.target {
            vpbx_actors::core::leg::DialTarget::Line { login, .. } => login.capacity(),
            vpbx_actors::core::leg::DialTarget::Uri(s)
            | vpbx_actors::core::leg::DialTarget::External(s) => s.capacity(),
        };
    }
    n
}

fn resident_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn memory() {
    let before = resident_bytes();
    let b = Bench::new();
    let after = resident_bytes();
    let mut total = 0usize;
    let mut callers = 0usize;
    let mut seen = Vec::new();
    for (key, q) in b.board.queues() {
        for w in q.waiting() {
            total += waiting_bytes(w, key, &mut seen);
            callers += 1;
        }
    }
    let cands = (LINES / QUEUES) as usize;
    eprintln!(
        "memory per waiting caller (size accounting, {cands} candidates each): {} B \
         (Candidate is {} B inline; {callers} callers, {:.1} MB)",
        total / callers.max(1),
        std::mem::size_of::<Candidate>(),
        total as f64 / 1e6
    );
    if let (Some(a), Some(z)) = (before, after) {
        eprintln!(
            "resident set growth building the board (1,001 lines, {WAITING} callers): {:.1} MB, \
             {} B per waiting caller",
            z.saturating_sub(a) as f64 / 1e6,
            z.saturating_sub(a) / WAITING as usize
        );
    }
}

/// The timing pass: p50/p99/max of each operation over many runs.
fn timings() {
    let mut b = Bench::new();
    let qn = QUEUES as usize;
    let dispatch: Vec<Duration> = (0..2_000).map(|k| b.dispatch_once(k % qn)).collect();
    percentiles("dispatch (one decision)", dispatch);
    let (mut join, mut leave, mut both) = (Vec::new(), Vec::new(), Vec::new());
    for k in 0..2_000 {
        let (j, l) = b.join_leave_once(k % qn);
        join.push(j);
        leave.push(l);
        both.push(j + l);
    }
    percentiles("join (at the end)", join);
    percentiles("leave (the last)", leave);
    percentiles("join + leave", both);
    percentiles(
        "poll_timeout",
        (0..200).map(|_| b.poll_once()).collect::<Vec<_>>(),
    );
    percentiles(
        "claim from outside a queue",
        (0..200).map(|_| b.outside_claim_once()).collect::<Vec<_>>(),
    );
}

fn benches(c: &mut Criterion) {
    let mut b = Bench::new();
    let qn = QUEUES as usize;
    let mut g = c.benchmark_group("dist 10k waiting, 1k lines");
    g.measurement_time(Duration::from_secs(3)).sample_size(50);
    let mut k = 0usize;
    g.bench_function("dispatch", |bench| {
        bench.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    k += 1;
                    b.dispatch_once(k % qn)
                })
                .sum()
        })
    });
    g.bench_function("join + leave", |bench| {
        bench.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    k += 1;
                    let (j, l) = b.join_leave_once(k % qn);
                    j + l
                })
                .sum()
        })
    });
    g.bench_function("poll_timeout", |bench| {
        bench.iter_custom(|iters| (0..iters).map(|_| b.poll_once()).sum())
    });
    g.bench_function("claim from outside a queue", |bench| {
        bench.iter_custom(|iters| (0..iters).map(|_| b.outside_claim_once()).sum())
    });
    g.finish();
}

criterion_group!(dist, benches);

fn main() {
    memory();
    timings();
    dist();
    Criterion::default().configure_from_args().final_summary();
}
