//! Voicemail e-mail, the pure part: what a notification says ([`notice`]) and the bounded retry
//! queue that decides when each message is tried, retried, given up or dropped ([`queue`]).
//! The mailer shell (`crate::mailer`) builds the MIME message, talks SMTP and feeds the
//! outcomes back with the time.

pub mod notice;
pub mod queue;

pub use notice::{Notice, NoticeOutcome};
pub use queue::{Attempt, MailId, MailQueue, Outcome, RetryPolicy, Verdict};
