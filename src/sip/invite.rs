//! Admission of a new INVITE: one pure decision over plain data.
//!
//! The router reads an [`InviteView`] from the request (numbers, Call-ID, SDP body, session-timer
//! headers, what the registrar's digest check said) and asks [`admit`] with the configuration
//! snapshot and the wall time. The answer is either [`Admitted`] — everything a call actor needs
//! to start — or a [`Refusal`], which [`Refusal::reply`] maps to the one final response the
//! router sends (code, `Warning` reason, extra headers). No SIP-stack type crosses this module,
//! so every branch is unit-tested here (quinn's `Endpoint::handle` shape).
//!
//! Order of the checks (each one's answer is the wire behaviour the tests pin down):
//! 1. the switch is shutting down: 503; it is overloaded (too many calls in setup, D73): 503 with
//!    `Retry-After`;
//! 2. the SDP offer: none 488, no common codec 488, malformed 400;
//! 3. a DID the carrier delivers becomes its virtual number (Request-URI, else To);
//! 4. a virtual number is routed by its rules (blacklist 403, no rule 480, broken rule 500);
//!    anything else is a phone's own call: the line must have authenticated (407 challenge, 403
//!    bad credentials), then the dial plan and the line's outbound policy decide (404, 403);
//! 5. the switch has not started its actors yet: 503;
//! 6. session timers (RFC 4028): an interval below our minimum is 422 with `Min-SE`.
//!
//! Refusals in step 4 after the lookup are calls: they carry what the call record needs
//! ([`Refusal::Call`]), and the router hands them to the call supervisor.

use super::timer::{self, SessionTimer};
use vpbx_actors::core::routing::phone::{self, PhoneRefused};
use vpbx_actors::core::routing::{
    route, routes_by_rules, NotRouted, Refused, RouteRequest, Routed,
};
use vpbx_media::{Negotiated, SdpError};
use vpbx_store::model::{CompanyConfig, Scenario};

/// What the registrar's digest check said about the phone that sent the INVITE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneAuth {
    /// Authenticated as the SIP line with this login.
    Line(String),
    /// No (or a stale) credential: challenge with these `Proxy-Authenticate` values.
    Challenge(Vec<String>),
    /// Bad credentials, or an unknown user (the same answer, so lines cannot be enumerated).
    Refused,
    /// Not verified: the account is waiting out failed attempts or blocked (this says which).
    Throttled(String),
}

/// An INVITE as plain data, with what the edge knows at its arrival.
#[derive(Debug, Clone, Default)]
pub struct InviteView {
    /// User part of the Request-URI (the dialled number).
    pub request_user: String,
    /// User part of the To URI.
    pub to_user: String,
    /// User part of the From URI (the caller number).
    pub from_user: String,
    /// The Call-ID.
    pub sip_call_id: String,
    /// The body (the SDP offer).
    pub body: String,
    /// `Session-Expires` value, if any.
    pub session_expires: Option<String>,
    /// Whether the INVITE says `Supported: timer`.
    pub supports_timer: bool,
    /// The digest check of the phone, asked only when [`needs_phone_auth`] says so.
    pub phone: Option<PhoneAuth>,
    /// The switch takes new calls (it is not shutting down).
    pub accepting: bool,
    /// The calls in setup are at their bound ([`super::overload`]): shed this one.
    pub overloaded: bool,
    /// The actor tree is up.
    pub started: bool,
    /// Our smallest session interval (RFC 4028 `Min-SE`), seconds.
    pub min_se: u32,
}

/// An admitted INVITE: what the call actor starts with.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// Caller number the call carries (a phone's calls carry its extension).
    pub numa: String,
    /// The number called (a delivered DID is its virtual number).
    pub numb: String,
    /// The codec and address negotiated from the offer.
    pub offer: Negotiated,
    /// The routing decision.
    pub routed: Routed,
    /// The scenario to run.
    pub scenario: Scenario,
    /// The number presented to external numbers on a phone's outbound call.
    pub outbound_caller_id: Option<String>,
    /// The line that placed the call, when a phone of the box did.
    pub caller_line: Option<vpbx_actors::core::routing::phone::CallerLine>,
    /// The negotiated session timer.
    pub session_timer: Option<SessionTimer>,
}

/// Why an INVITE is refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The switch is shutting down.
    ShuttingDown,
    /// Too many calls are in setup: come back later (D73).
    Overloaded,
    /// The INVITE has no SDP offer (late offer is not supported).
    NoOffer,
    /// The offer has neither PCMU nor PCMA.
    NoCommonCodec,
    /// The offer cannot be used.
    BadSdp(String),
    /// The phone must (re)authenticate.
    Challenge(Vec<String>),
    /// The phone's credentials are wrong, or its line is gone.
    BadCredentials,
    /// The line's credentials were not checked: too many failed attempts (the reason).
    AccountThrottled(String),
    /// A call the switch looked up and refuses; it is reported as a call.
    Call {
        /// Caller number (as sent, or the calling line's extension).
        numa: String,
        /// The number called.
        numb: String,
        /// Why.
        refused: Refused,
    },
    /// The actor tree is not up yet.
    Starting,
    /// The session interval asked for is below our minimum.
    SessionIntervalTooSmall {
        /// Our minimum, seconds.
        min_se: u32,
    },
    /// The INVITE has no Contact, so no dialog can be created (RFC 3261 §8.1.1.8: it must
    /// carry one). Checked after routing, so a Contact-less RFC 2543 request to nowhere still
    /// gets its routing answer.
    NoContact,
    /// The dialog could not be created (after admission).
    NoDialog,
}

/// An extra header of a refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyHeader {
    /// `Proxy-Authenticate` with this value.
    ProxyAuthenticate(String),
    /// `Min-SE` with this many seconds.
    MinSe(u32),
    /// `Retry-After` with this many seconds.
    RetryAfter(u32),
}

/// The final response for a refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub code: u16,
    /// Text of the `Warning: 399 vpbx "…"` header, if any.
    pub warning: Option<String>,
    /// Extra headers.
    pub headers: Vec<ReplyHeader>,
}

impl Refusal {
    /// The one mapping from a refusal to its final response.
    pub fn reply(&self) -> Reply {
        let (code, warning, headers) = match self {
            Refusal::ShuttingDown => (503, Some("switch shutting down".into()), vec![]),
            Refusal::Overloaded => (
                503,
                Some("overloaded: too many calls in setup".into()),
                vec![ReplyHeader::RetryAfter(super::overload::RETRY_AFTER_S)],
            ),
            Refusal::NoOffer => (
                488,
                Some("an SDP offer is required in the INVITE".into()),
                vec![],
            ),
            Refusal::NoCommonCodec => (
                488,
                Some("no common codec: PCMU or PCMA required".into()),
                vec![],
            ),
            Refusal::BadSdp(e) => (400, Some(format!("bad SDP: {e}")), vec![]),
            Refusal::Challenge(values) => (
                407,
                None,
                values
                    .iter()
                    .map(|v| ReplyHeader::ProxyAuthenticate(v.clone()))
                    .collect(),
            ),
            Refusal::BadCredentials => (403, Some("bad credentials".into()), vec![]),
            Refusal::AccountThrottled(why) => (403, Some(why.clone()), vec![]),
            Refusal::Call { refused, .. } => {
                let code = match refused {
                    Refused::Number(NotRouted::UnknownNumber) => 404,
                    Refused::Number(NotRouted::Blacklisted { .. }) => {
                        return Reply {
                            code: 403,
                            warning: Some("call blocked".into()),
                            headers: vec![],
                        }
                    }
                    Refused::Number(NotRouted::NoRuleMatched { .. }) => 480,
                    Refused::Number(NotRouted::MissingScenario { .. }) => 500,
                    Refused::Phone(PhoneRefused::UnknownExtension) => 404,
                    Refused::Phone(PhoneRefused::OutboundNotAllowed | PhoneRefused::NoTrunk) => 403,
                    Refused::Phone(PhoneRefused::PickupUnsupported) => 501,
                };
                (code, Some(refused.to_string()), vec![])
            }
            Refusal::Starting => (503, Some("switch starting".into()), vec![]),
            Refusal::SessionIntervalTooSmall { min_se } => (
                422,
                Some("session interval too small".into()),
                vec![ReplyHeader::MinSe(*min_se)],
            ),
            Refusal::NoContact => (400, Some("missing Contact header".into()), vec![]),
            Refusal::NoDialog => (500, Some("cannot create dialog".into()), vec![]),
        };
        Reply {
            code,
            warning,
            headers,
        }
    }
}

/// The number an INVITE is for: a DID a trunk delivers is its virtual number (looked up by
/// the Request-URI, else the To user); anything else as dialled.
pub fn called(view: &InviteView, cfg: &CompanyConfig) -> String {
    cfg.trunk_for_did(&view.request_user)
        .or_else(|| cfg.trunk_for_did(&view.to_user))
        .map(|(_, m)| m.number.clone())
        .unwrap_or_else(|| view.request_user.clone())
}

/// Whether [`admit`] will need the phone's digest check: the INVITE is a phone's own call
/// (anything but a call to a virtual number must authenticate as one of the lines) and passed
/// the checks before it. Credentials are checked no earlier than before, so a refused offer never
/// counts as an authentication failure (the registrar's bans).
pub fn needs_phone_auth(view: &InviteView, cfg: &CompanyConfig) -> bool {
    view.accepting
        && !view.overloaded
        && !routes_by_rules(cfg, &called(view, cfg))
        && offer(&view.body).is_ok()
}

/// Decides one INVITE against one configuration snapshot at `unix_ms` (wall time, for the
/// rules' schedules).
pub fn admit(view: &InviteView, cfg: &CompanyConfig, unix_ms: u64) -> Result<Admitted, Refusal> {
    if !view.accepting {
        return Err(Refusal::ShuttingDown);
    }
    if view.overloaded {
        return Err(Refusal::Overloaded);
    }
    let offer = offer(&view.body)?;
    let numb = called(view, cfg);
    let refuse = |numa: &str, refused: Refused| Refusal::Call {
        numa: numa.to_string(),
        numb: numb.clone(),
        refused,
    };
    let (numa, routed, scenario, outbound_caller_id, caller_line) = if routes_by_rules(cfg, &numb) {
        let numa = view.from_user.clone();
        let request = RouteRequest {
            numa: &numa,
            numb: &numb,
            unix_ms,
        };
        let routed = route(cfg, &request).map_err(|e| refuse(&numa, e.into()))?;
        // `route` checked that the rule's scenario exists in this same snapshot.
        let scenario = cfg.scenario(routed.scenario).cloned().ok_or_else(|| {
            let missing = NotRouted::MissingScenario {
                rule: routed.rule,
                scenario: routed.scenario,
            };
            refuse(&numa, missing.into())
        })?;
        (numa, routed, scenario, None, None)
    } else {
        let login = match &view.phone {
            Some(PhoneAuth::Line(login)) => login,
            Some(PhoneAuth::Challenge(values)) => return Err(Refusal::Challenge(values.clone())),
            Some(PhoneAuth::Refused) | None => return Err(Refusal::BadCredentials),
            Some(PhoneAuth::Throttled(why)) => return Err(Refusal::AccountThrottled(why.clone())),
        };
        let (employee, line) = cfg
            .sip_line_by_login(login)
            .ok_or(Refusal::BadCredentials)?;
        let r = phone::route_phone(cfg, employee, line, &numb)
            .map_err(|e| refuse(&employee.extension, e.into()))?;
        (
            r.numa,
            r.routed,
            r.scenario,
            r.outbound_caller_id,
            Some(r.caller_line),
        )
    };
    if !view.started {
        return Err(Refusal::Starting);
    }
    let session_timer = timer::negotiate(
        view.session_expires.as_deref(),
        view.supports_timer,
        view.min_se,
    )
    .map_err(|min_se| Refusal::SessionIntervalTooSmall { min_se })?;
    Ok(Admitted {
        numa,
        numb,
        offer,
        routed,
        scenario,
        outbound_caller_id,
        caller_line,
        session_timer,
    })
}

/// The offer: G.711 and an address are needed; no offer (late offer) is not supported.
fn offer(body: &str) -> Result<Negotiated, Refusal> {
    if body.trim().is_empty() {
        return Err(Refusal::NoOffer);
    }
    vpbx_media::SessionDescription::parse(body)
        .and_then(|sdp| vpbx_media::negotiate(&sdp))
        .map_err(|e| match e {
            SdpError::NoCommonCodec => Refusal::NoCommonCodec,
            e => Refusal::BadSdp(e.to_string()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vpbx_actors::core::routing::Skipped;
    use vpbx_store::model::{ForwardTarget, RuleId, ScenarioId};

    const DEMO: &str = include_str!("../../config/demo.yaml");
    /// 10:00 UTC on a Monday (2026-12-07).
    const NOW: u64 = 1_797_069_600_000;

    fn company(extra: &str) -> CompanyConfig {
        vpbx_store::parse_document(&format!("{DEMO}{extra}")).unwrap()
    }

    fn sdp(payloads: &str) -> String {
        format!(
            "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 40000 RTP/AVP {payloads}\r\n"
        )
    }

    fn invite(dialled: &str) -> InviteView {
        InviteView {
            request_user: dialled.into(),
            to_user: dialled.into(),
            from_user: "79161234567".into(),
            sip_call_id: "abc@192.0.2.10".into(),
            body: sdp("0 8"),
            accepting: true,
            started: true,
            min_se: timer::MIN_SE,
            ..Default::default()
        }
    }

    fn from_line(dialled: &str, login: &str) -> InviteView {
        InviteView {
            phone: Some(PhoneAuth::Line(login.into())),
            ..invite(dialled)
        }
    }

    fn refused(r: Result<Admitted, Refusal>) -> Refusal {
        r.expect_err("a refusal")
    }

    #[test]
    fn a_virtual_number_runs_the_scenario_of_its_rule() {
        let cfg = company("");
        let view = invite("74951234567");
        assert!(!needs_phone_auth(&view, &cfg));
        let a = admit(&view, &cfg, NOW).unwrap();
        assert_eq!(
            (a.numa.as_str(), a.numb.as_str()),
            ("79161234567", "74951234567")
        );
        assert_eq!(a.routed.rule, RuleId(1));
        assert_eq!(a.scenario.id, ScenarioId(1));
        assert_eq!(a.outbound_caller_id, None);
        assert_eq!(a.session_timer, None);
    }

    #[test]
    fn protocol_refusals_come_first_with_their_codes() {
        let cfg = company("");
        let shutting = InviteView {
            accepting: false,
            ..invite("74951234567")
        };
        assert_eq!(refused(admit(&shutting, &cfg, NOW)), Refusal::ShuttingDown);
        // Overload is decided before the offer, the routing and the phone's credentials (none
        // of that work is done for a call that is shed), and it says when to come back.
        let shed = InviteView {
            overloaded: true,
            body: String::new(),
            ..invite("74951234567")
        };
        assert!(!needs_phone_auth(&shed, &cfg));
        let r = refused(admit(&shed, &cfg, NOW)).reply();
        assert_eq!(r.code, 503);
        assert_eq!(r.headers, vec![ReplyHeader::RetryAfter(2)]);
        assert!(r.warning.unwrap().contains("overloaded"));
        let no_offer = InviteView {
            body: " \r\n".into(),
            ..invite("74951234567")
        };
        let r = refused(admit(&no_offer, &cfg, NOW)).reply();
        assert_eq!(r.code, 488);
        assert!(r.warning.unwrap().contains("SDP offer is required"));
        let g729 = InviteView {
            body: sdp("18"),
            ..invite("74951234567")
        };
        let r = refused(admit(&g729, &cfg, NOW)).reply();
        assert_eq!(r.code, 488);
        assert!(r.warning.unwrap().contains("PCMU or PCMA"));
        let garbage = InviteView {
            body: "hello".into(),
            ..invite("74951234567")
        };
        let r = refused(admit(&garbage, &cfg, NOW)).reply();
        assert_eq!(r.code, 400);
        assert!(r.warning.unwrap().starts_with("bad SDP: "));
    }

    #[test]
    fn a_blacklisted_caller_is_a_blocked_call() {
        let cfg = company(
            "number_lists:\n  - { id: 1, name: Blacklist, kind: black, blacklist: true, entries: [\"7916*\"] }\n",
        );
        let r = refused(admit(&invite("74951234567"), &cfg, NOW));
        let Refusal::Call {
            numa,
            numb,
            refused: why,
        } = &r
        else {
            panic!("{r:?}")
        };
        assert_eq!(
            (numa.as_str(), numb.as_str()),
            ("79161234567", "74951234567")
        );
        assert!(matches!(
            why,
            Refused::Number(NotRouted::Blacklisted { .. })
        ));
        let reply = r.reply();
        assert_eq!(
            (reply.code, reply.warning.as_deref()),
            (403, Some("call blocked"))
        );
    }

    #[test]
    fn no_rule_matched_is_480_with_every_rule_skipped() {
        let mut cfg = company("");
        cfg.numbers[0].rules[0].callers = vpbx_store::model::CallerFilter::Numbers {
            masks: vec!["7495*".into()],
        };
        let r = refused(admit(&invite("74951234567"), &cfg, NOW));
        assert_eq!(
            r,
            Refusal::Call {
                numa: "79161234567".into(),
                numb: "74951234567".into(),
                refused: Refused::Number(NotRouted::NoRuleMatched {
                    skipped: vec![Skipped {
                        rule: RuleId(1),
                        name: "All callers, always".into(),
                        why: "caller is not in the rule's number list".into(),
                    }]
                }),
            }
        );
        let reply = r.reply();
        assert_eq!(reply.code, 480);
        assert!(reply.warning.unwrap().contains("All callers, always"));
    }

    #[test]
    fn a_delivered_did_is_its_virtual_number() {
        let cfg = company(
            "trunks:\n  - id: 1\n    name: Carrier\n    host: 192.0.2.1\n    auth: { kind: ip, addresses: [192.0.2.1] }\n    dids: [ { did: \"4951112233\", number: \"74950000001\" } ]\n",
        );
        // By the Request-URI, else by the To user.
        for view in [
            invite("4951112233"),
            InviteView {
                request_user: "s".into(),
                ..invite("4951112233")
            },
        ] {
            assert!(!needs_phone_auth(&view, &cfg));
            let a = admit(&view, &cfg, NOW).unwrap();
            assert_eq!(a.numb, "74950000001");
            assert_eq!(a.scenario.id, ScenarioId(2));
        }
    }

    #[test]
    fn a_phone_must_authenticate() {
        let cfg = company("");
        let view = invite("102");
        assert!(needs_phone_auth(&view, &cfg));
        // A refused offer is answered before any credential is looked at.
        let g729 = InviteView {
            body: sdp("18"),
            ..invite("102")
        };
        assert!(!needs_phone_auth(&g729, &cfg));
        assert_eq!(refused(admit(&g729, &cfg, NOW)), Refusal::NoCommonCodec);
        assert_eq!(refused(admit(&view, &cfg, NOW)), Refusal::BadCredentials);
        let challenged = InviteView {
            phone: Some(PhoneAuth::Challenge(vec!["Digest realm=\"vpbx\"".into()])),
            ..invite("102")
        };
        let r = refused(admit(&challenged, &cfg, NOW)).reply();
        assert_eq!(r.code, 407);
        assert_eq!(r.warning, None);
        assert_eq!(
            r.headers,
            vec![ReplyHeader::ProxyAuthenticate(
                "Digest realm=\"vpbx\"".into()
            )]
        );
        let wrong = InviteView {
            phone: Some(PhoneAuth::Refused),
            ..invite("102")
        };
        let r = refused(admit(&wrong, &cfg, NOW)).reply();
        assert_eq!(
            (r.code, r.warning.as_deref()),
            (403, Some("bad credentials"))
        );
        // A line deleted between the digest check and the snapshot.
        let gone = from_line("102", "999");
        assert_eq!(refused(admit(&gone, &cfg, NOW)), Refusal::BadCredentials);
    }

    #[test]
    fn a_phone_calls_an_extension_as_its_own_extension() {
        let cfg = company("");
        let a = admit(&from_line("102", "101"), &cfg, NOW).unwrap();
        assert_eq!((a.numa.as_str(), a.numb.as_str()), ("101", "102"));
        assert_eq!(a.routed.rule_name, "call from 101 to extension 102");
        assert_eq!(a.outbound_caller_id, None);
    }

    #[test]
    fn a_phones_refused_calls_are_calls_of_its_extension() {
        let cfg = company("");
        let r = refused(admit(&from_line("999", "101"), &cfg, NOW));
        assert_eq!(
            r,
            Refusal::Call {
                numa: "101".into(),
                numb: "999".into(),
                refused: Refused::Phone(PhoneRefused::UnknownExtension),
            }
        );
        let reply = r.reply();
        assert_eq!(
            (reply.code, reply.warning.as_deref()),
            (404, Some("unknown extension or number"))
        );
        // The demo has no trunk.
        let r = refused(admit(&from_line("79161234567", "101"), &cfg, NOW)).reply();
        assert_eq!(
            (r.code, r.warning.as_deref()),
            (403, Some("no trunk serves this number"))
        );
    }

    #[test]
    fn an_outbound_call_presents_the_lines_caller_id() {
        let cfg = company(
            "trunks:\n  - id: 1\n    name: Carrier\n    host: 192.0.2.1\n    auth: { kind: ip, addresses: [192.0.2.1] }\n",
        );
        let a = admit(&from_line("+79161234567", "101"), &cfg, NOW).unwrap();
        assert_eq!(a.outbound_caller_id.as_deref(), Some("74951234567"));
        let op = &a.scenario.operations[&a.scenario.start];
        let vpbx_store::model::Action::Forward(f) = &op.action else {
            panic!("{op:?}")
        };
        assert_eq!(
            f.targets,
            vec![ForwardTarget::External {
                number: "79161234567".into(),
                timeout_s: Some(phone::EXTERNAL_RING_S)
            }]
        );
        let mut incoming_only = cfg.clone();
        if let vpbx_store::model::Phone::SipLine(l) = &mut incoming_only.employees[0].phones[0] {
            l.outbound_allowed = false;
        }
        let r = refused(admit(&from_line("79161234567", "101"), &incoming_only, NOW)).reply();
        assert_eq!(
            (r.code, r.warning.as_deref()),
            (403, Some("outbound calls are not allowed for this line"))
        );
    }

    #[test]
    fn not_started_then_session_timers() {
        let cfg = company("");
        let starting = InviteView {
            started: false,
            ..invite("74951234567")
        };
        assert_eq!(refused(admit(&starting, &cfg, NOW)), Refusal::Starting);
        let short = InviteView {
            session_expires: Some("60".into()),
            supports_timer: true,
            ..invite("74951234567")
        };
        let r = refused(admit(&short, &cfg, NOW)).reply();
        assert_eq!(r.code, 422);
        assert_eq!(r.headers, vec![ReplyHeader::MinSe(timer::MIN_SE)]);
        let fine = InviteView {
            session_expires: Some("1800".into()),
            supports_timer: true,
            ..invite("74951234567")
        };
        let a = admit(&fine, &cfg, NOW).unwrap();
        assert_eq!(a.session_timer.map(|t| t.interval), Some(1800));
    }

    #[test]
    fn every_refusal_has_its_code() {
        let call = |refused: Refused| Refusal::Call {
            numa: "1".into(),
            numb: "2".into(),
            refused,
        };
        let table = [
            (Refusal::ShuttingDown, 503),
            (Refusal::Overloaded, 503),
            (Refusal::NoOffer, 488),
            (Refusal::NoCommonCodec, 488),
            (Refusal::BadSdp("x".into()), 400),
            (Refusal::Challenge(vec![]), 407),
            (Refusal::BadCredentials, 403),
            (Refusal::AccountThrottled("account blocked".into()), 403),
            (call(NotRouted::UnknownNumber.into()), 404),
            (
                call(
                    NotRouted::Blacklisted {
                        list: "l".into(),
                        entry: "e".into(),
                    }
                    .into(),
                ),
                403,
            ),
            (
                call(NotRouted::NoRuleMatched { skipped: vec![] }.into()),
                480,
            ),
            (
                call(
                    NotRouted::MissingScenario {
                        rule: RuleId(1),
                        scenario: ScenarioId(2),
                    }
                    .into(),
                ),
                500,
            ),
            (call(PhoneRefused::UnknownExtension.into()), 404),
            (call(PhoneRefused::OutboundNotAllowed.into()), 403),
            (call(PhoneRefused::NoTrunk.into()), 403),
            (call(PhoneRefused::PickupUnsupported.into()), 501),
            (Refusal::Starting, 503),
            (Refusal::SessionIntervalTooSmall { min_se: 90 }, 422),
            (Refusal::NoContact, 400),
            (Refusal::NoDialog, 500),
        ];
        for (refusal, code) in table {
            let reply = refusal.reply();
            assert_eq!(reply.code, code, "{refusal:?}");
            // Every refusal but the challenge says why.
            assert_eq!(
                reply.warning.is_some(),
                !matches!(refusal, Refusal::Challenge(_)),
                "{refusal:?}"
            );
        }
    }
}
