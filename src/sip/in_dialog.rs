//! What both kinds of leg do inside an established dialog — the inbound leg (`leg.rs`) and the
//! outbound one (`outleg.rs`) use the same helpers: the `Reason` of a BYE we send, DTMF in SIP
//! INFO, answering a re-INVITE or UPDATE, and the REFER/NOTIFY exchange of a transfer.

use super::refer::parse_refer_to;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::{Header, StatusCode};
use tokio::sync::mpsc::UnboundedSender;
use tracing::debug;
use vpbx_actors::leg::LegEvent;

/// `Reason` header value for a BYE we send (RFC 3326).
pub(super) fn reason_header(text: &str) -> String {
    let clean: String = text
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
        .take(120)
        .collect();
    format!("Q.850;cause=16;text=\"{clean}\"")
}

/// A DTMF digit and duration from an INFO request, if it carries one.
pub(super) fn sip_info_dtmf(req: &rsipstack::sip::Request) -> Option<(char, u32)> {
    let content_type = req
        .headers
        .iter()
        .find_map(|h| match h {
            Header::ContentType(c) => Some(c.value().to_string()),
            _ => None,
        })
        .unwrap_or_default();
    let body = String::from_utf8_lossy(&req.body);
    vpbx_media::parse_sip_info_dtmf(&content_type, &body)
}

/// Our media address and session id/version from an SDP answer we sent.
pub(super) fn local_addr_of(sdp: &str) -> Option<(std::net::SocketAddr, u64, u64)> {
    let desc = vpbx_media::SessionDescription::parse(sdp).ok()?;
    let m = desc.media.first()?;
    let ip = m.connection.or(desc.connection)?;
    Some((
        std::net::SocketAddr::new(ip, m.port),
        desc.origin_session_id,
        1,
    ))
}

/// A re-INVITE on an answered leg: follow the peer's new address/direction, answer with our
/// unchanged address and codec (new session version). An offerless re-INVITE gets our current
/// description as the offer. Returns the SDP we sent, if any (our current description).
pub(super) async fn reinvite(
    req: &rsipstack::sip::Request,
    handle: &rsipstack::dialog::dialog::TransactionHandle,
    events: &UnboundedSender<LegEvent>,
    local: &mut Option<(std::net::SocketAddr, u64, u64)>,
    extra: Vec<Header>,
) -> Option<String> {
    if req.method == rsipstack::sip::Method::Update && req.body.is_empty() {
        // A session refresh (RFC 4028) or another offerless UPDATE: nothing to negotiate.
        handle.respond(StatusCode::OK, Some(extra), None).await.ok();
        return None;
    }
    let Some((addr, session, version)) = local.as_mut() else {
        handle.reply(StatusCode::from(491)).await.ok();
        return None;
    };
    *version += 1;
    let body = String::from_utf8_lossy(&req.body).into_owned();
    let negotiated = if body.trim().is_empty() {
        None
    } else {
        match vpbx_media::SessionDescription::parse(&body).and_then(|d| vpbx_media::negotiate(&d)) {
            Ok(n) => Some(n),
            Err(_) => {
                handle.reply(StatusCode::from(488)).await.ok();
                return None;
            }
        }
    };
    let answer_for = match &negotiated {
        Some(n) => *n,
        None => {
            // Offerless: offer what we have, sendrecv, PCMU/PCMA both.
            let Ok(d) = vpbx_media::SessionDescription::parse(&format!(
                "v=0\r\no=- 0 0 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n",
                ip = addr.ip(),
                port = addr.port()
            ))
            .and_then(|d| vpbx_media::negotiate(&d)) else {
                handle.reply(StatusCode::from(500)).await.ok();
                return None;
            };
            d
        }
    };
    let sdp = vpbx_media::answer(addr.ip(), addr.port(), &answer_for, *session, *version);
    if let Some(n) = negotiated {
        let _ = events.send(LegEvent::RemoteMedia { offer: n });
    }
    let mut headers = vec![Header::ContentType("application/sdp".into())];
    headers.extend(extra);
    handle
        .respond(
            StatusCode::OK,
            Some(headers),
            Some(sdp.clone().into_bytes()),
        )
        .await
        .ok();
    Some(sdp)
}

/// Sends a NOTIFY for a REFER (RFC 3515 §2.4.4) and waits at most `wait` for its answer, so a
/// phone slow to answer never holds the leg up for long, and NOTIFYs go out in order.
pub(super) async fn notify_refer(
    dialog: &InviteDialog,
    code: u16,
    state: &str,
    wait: std::time::Duration,
) {
    match tokio::time::timeout(wait, dialog.notify_refer(StatusCode::from(code), state)).await {
        Ok(Err(e)) => debug!(error = %e, code, "NOTIFY failed"),
        Err(_) => debug!(code, "NOTIFY not answered in time"),
        Ok(Ok(_)) => {}
    }
}

/// The first NOTIFY of an accepted blind transfer: `100 Trying`, subscription active.
pub(super) const TRYING_WAIT: std::time::Duration = std::time::Duration::from_millis(300);
/// How long a final NOTIFY may wait for its answer.
pub(super) const FINAL_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Answers a REFER (202) and tells the call actor. `Some(attended)` when accepted.
pub(super) async fn on_refer(
    req: &rsipstack::sip::Request,
    handle: &rsipstack::dialog::dialog::TransactionHandle,
    events: &UnboundedSender<LegEvent>,
) -> Option<bool> {
    let refer_to = req.headers.iter().find_map(|h| match h {
        Header::ReferTo(r) => Some(r.value().to_string()),
        Header::Other(n, v) if n.eq_ignore_ascii_case("refer-to") || n == "r" => Some(v.clone()),
        _ => None,
    });
    match refer_to.as_deref().and_then(parse_refer_to) {
        Some((target, replaces)) => {
            handle.reply(StatusCode::from(202)).await.ok();
            let attended = replaces.is_some();
            let _ = events.send(LegEvent::Refer { target, replaces });
            Some(attended)
        }
        None => {
            handle.reply(StatusCode::BadRequest).await.ok();
            None
        }
    }
}

/// An OPTIONS inside a call (a keep-alive or a capability query): 200 with what we take.
pub(super) async fn in_dialog_options(handle: &rsipstack::dialog::dialog::TransactionHandle) {
    let headers = vec![
        Header::Allow(super::ALLOW.into()),
        Header::Accept("application/sdp".into()),
    ];
    handle
        .respond(StatusCode::OK, Some(headers), None)
        .await
        .ok();
}

/// Whether a phone's request or response lists `method` in its `Allow` header(s).
pub(super) fn allows<'a>(headers: impl IntoIterator<Item = &'a Header>, method: &str) -> bool {
    headers.into_iter().any(|h| {
        let v = match h {
            Header::Allow(a) => a.value().to_string(),
            Header::Other(n, v) if n.eq_ignore_ascii_case("allow") => v.clone(),
            _ => return false,
        };
        v.split(',').any(|m| m.trim().eq_ignore_ascii_case(method))
    })
}

/// `"display" <sip:number@host>` for a `P-Asserted-Identity` (RFC 3325), the display name and
/// number cleaned of anything that would break the header.
pub(super) fn identity_value(display: &str, number: &str, host: &str) -> String {
    let display: String = display
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
        .take(64)
        .collect();
    let number: String = number
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+-._*#".contains(*c))
        .take(64)
        .collect();
    let display = display.trim();
    if display.is_empty() {
        format!("<sip:{number}@{host}>")
    } else {
        format!("\"{display}\" <sip:{number}@{host}>")
    }
}

/// Tells the phone of an answered dialog who it talks to now (after a transfer), the way
/// RFC 4916 updates a connected identity: an UPDATE without a body when the phone allows UPDATE,
/// else a re-INVITE offering our current SDP unchanged; both carry `P-Asserted-Identity`. Runs on
/// its own task so the leg keeps serving its dialog while the phone answers.
pub(super) fn update_identity(
    dialog: &InviteDialog,
    use_update: bool,
    identity: String,
    sdp: Option<String>,
) {
    let dialog = dialog.clone();
    tokio::spawn(async move {
        let pai = Header::Other("P-Asserted-Identity".into(), identity);
        let result = match (use_update, sdp) {
            (true, _) => dialog.update(Some(vec![pai]), None).await,
            (false, Some(sdp)) => {
                let headers = vec![Header::ContentType("application/sdp".into()), pai];
                dialog
                    .reinvite_with_glare_retry(Some(headers), Some(sdp.into_bytes()), 2)
                    .await
            }
            (false, None) => return,
        };
        match result {
            Ok(Some(r)) => debug!(status = %r.status_code, "identity update answered"),
            Ok(None) => debug!("identity update not sent: dialog not confirmed"),
            Err(e) => debug!(error = %e, "identity update failed"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_values_are_clean_headers() {
        assert_eq!(
            identity_value("Boris Ivanov", "102", "10.0.0.1:5060"),
            "\"Boris Ivanov\" <sip:102@10.0.0.1:5060>"
        );
        assert_eq!(
            identity_value("", "+79161234567", "pbx"),
            "<sip:+79161234567@pbx>"
        );
        // Quotes, backslashes, line breaks and URI-breaking characters never get through.
        assert_eq!(
            identity_value("Ev\"il\\\r\nName", "1<2>;x", "pbx"),
            "\"EvilName\" <sip:12x@pbx>"
        );
    }

    #[test]
    fn allow_lists_are_read_case_insensitively_across_headers() {
        let headers = [
            Header::Allow("INVITE, ACK, BYE".into()),
            Header::Other("allow".into(), "OPTIONS,update".into()),
        ];
        assert!(allows(headers.iter(), "UPDATE"));
        assert!(!allows(headers[..1].iter(), "UPDATE"));
        assert!(!allows(std::iter::empty(), "UPDATE"));
    }
}
