//! The voice assistant's HTTP exchange with the speech service (SPEC §3 op 16): one
//! `multipart/form-data` POST with awc, bounded as a whole by the operation's timeout. The body
//! and what the reply means come from the pure core (`core::speech`); this module only moves
//! bytes. Like the webhook's, the future is not `Send`: call actors spawn it on their context.

use crate::core::speech::MAX_SPEECH_REPLY_BYTES;
use crate::webhook::{client, Sent};
use std::time::Duration;

/// Posts `body` (of `content_type`) to `url` and reads the reply, within `timeout`.
pub async fn post(url: &str, content_type: String, body: Vec<u8>, timeout: Duration) -> Sent {
    let exchange = async {
        let sent = client(timeout, "vpbx-speech")
            .post(url)
            .insert_header(("Content-Type", content_type))
            .send_body(body)
            .await;
        let mut reply = match sent {
            Ok(r) => r,
            Err(awc::error::SendRequestError::Timeout) => return Sent::TimedOut,
            Err(e) => return Sent::Failed(e.to_string()),
        };
        let status = reply.status().as_u16();
        match reply.body().limit(MAX_SPEECH_REPLY_BYTES + 1).await {
            Ok(body) => Sent::Reply {
                status,
                body: body.to_vec(),
            },
            Err(_) if status != 200 => Sent::Reply {
                status,
                body: Vec::new(),
            },
            Err(e) => Sent::Failed(format!("body: {e}")),
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or(Sent::TimedOut)
}
