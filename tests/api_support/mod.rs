//! Helpers of the API tests: a switch with a known admin password, and requests against the
//! production app (`vpbx::http::app`, the factory the server uses) through `test::init_service`.
#![allow(dead_code, clippy::unwrap_used)]

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::test::TestRequest;
use serde_json::Value;

pub use crate::common::{SwitchBuilder, TestSwitch};

/// The admin password the tests set.
pub const PASSWORD: &str = "correct horse battery";

/// A switch with the built-in demo (or `demo`), whose admin password is [`PASSWORD`].
pub async fn switch(demo: Option<&str>) -> TestSwitch {
    let mut builder = TestSwitch::builder();
    if let Some(yaml) = demo {
        builder = builder.company(yaml);
    }
    let sw = builder.start().await;
    vpbx::http::auth::set_admin_password(&sw.running().store, PASSWORD).unwrap();
    sw
}

/// The HTTP state of a running switch.
pub fn state(sw: &TestSwitch) -> vpbx::http::HttpState {
    sw.running().http_state.clone()
}

/// One answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Resp {
    /// The `Set-Cookie` value of `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(actix_web::http::header::SET_COOKIE)
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| {
                let (n, rest) = c.split_once('=')?;
                (n == name).then(|| rest.split(';').next().unwrap_or("").to_owned())
            })
    }
    /// The whole `Set-Cookie` header of `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(actix_web::http::header::SET_COOKIE)
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }
}

/// Sends a request to the app.
pub async fn send<S, B>(app: &S, req: TestRequest) -> Resp
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let (status, headers, bytes) = match app.call(req.to_request()).await {
        Ok(r) => {
            let status = r.status().as_u16();
            let headers = r.headers().clone();
            let bytes = actix_web::body::to_bytes(r.into_body())
                .await
                .map_err(|_| "body")
                .unwrap();
            (status, headers, bytes)
        }
        Err(e) => {
            let r = e.error_response();
            let status = r.status().as_u16();
            let headers = r.headers().clone();
            let bytes = actix_web::body::to_bytes(r.into_body())
                .await
                .map_err(|_| "body")
                .unwrap();
            (status, headers, bytes)
        }
    };
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        text,
        json,
    }
}

/// A bearer token for the admin.
pub async fn token<S, B>(app: &S) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = send(
        app,
        TestRequest::post()
            .uri("/api/v1/auth/token")
            .set_json(serde_json::json!({"username": "admin", "password": PASSWORD})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["token"].as_str().unwrap().to_owned()
}

/// A request with a bearer token.
pub fn req(method: &str, path: &str, token: &str) -> TestRequest {
    let r = match method {
        "GET" => TestRequest::get(),
        "POST" => TestRequest::post(),
        "PUT" => TestRequest::put(),
        "DELETE" => TestRequest::delete(),
        "PATCH" => TestRequest::patch(),
        other => panic!("method {other}"),
    };
    r.uri(path)
        .insert_header(("Authorization", format!("Bearer {token}")))
}

/// A JSON request with a bearer token.
pub fn json(method: &str, path: &str, token: &str, body: Value) -> TestRequest {
    req(method, path, token).set_json(body)
}

/// The production app of a switch with an admin token: one call per request, the token added
/// to each.
pub struct Api<S> {
    app: S,
    token: String,
}

/// A switch with the built-in demo (or `demo`, see [`switch`]) and an [`Api`] on its
/// production app, logged in as the admin.
pub async fn api(
    demo: Option<&str>,
) -> (
    TestSwitch,
    Api<
        impl Service<
            actix_http::Request,
            Response = ServiceResponse<impl MessageBody>,
            Error = actix_web::Error,
        >,
    >,
) {
    let mut builder = TestSwitch::builder();
    if let Some(yaml) = demo {
        builder = builder.company(yaml);
    }
    api_on(builder).await
}

/// The switch `builder` starts, whose admin password is [`PASSWORD`], and an [`Api`] on its
/// production app, logged in as the admin.
pub async fn api_on(
    builder: SwitchBuilder,
) -> (
    TestSwitch,
    Api<
        impl Service<
            actix_http::Request,
            Response = ServiceResponse<impl MessageBody>,
            Error = actix_web::Error,
        >,
    >,
) {
    let sw = builder.start().await;
    vpbx::http::auth::set_admin_password(&sw.running().store, PASSWORD).unwrap();
    let app = actix_web::test::init_service(vpbx::http::app(state(&sw))).await;
    let api = Api::login(app).await;
    (sw, api)
}

impl<S, B> Api<S>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    /// Logs in as the admin on `app`.
    pub async fn login(app: S) -> Api<S> {
        let token = token(&app).await;
        Api { app, token }
    }

    /// The app itself (requests without the token, a second login).
    pub fn app(&self) -> &S {
        &self.app
    }

    /// The admin's bearer token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// A request with the token, to finish by hand (headers, payload) and [`send`](Self::send).
    pub fn req(&self, method: &str, path: &str) -> TestRequest {
        req(method, path, &self.token)
    }

    /// Sends `req` as it is.
    pub async fn send(&self, req: TestRequest) -> Resp {
        send(&self.app, req).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.req("GET", path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(json("POST", path, &self.token, body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.send(json("PUT", path, &self.token, body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(self.req("DELETE", path)).await
    }

    /// The record of the finished call whose SIP Call-ID (the caller's INVITE) is
    /// `sip_call_id`, once it is written (waits up to 60 s for it).
    pub async fn finished_call(&self, sip_call_id: &str) -> Value {
        for _ in 0..600 {
            let r = self.get("/api/v1/calls/recent?limit=20").await;
            if let Some(c) = r.json["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["sip_call_id"] == sip_call_id)
            {
                return c.clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("no call record for Call-ID {sip_call_id}");
    }

    /// The events of the finished call to `number`, once its record is written (waits up to
    /// 60 s; empty if it never is).
    pub async fn finished_call_events(&self, number: &str) -> Vec<Value> {
        for _ in 0..600 {
            let r = self.get("/api/v1/calls/recent?limit=10").await;
            if let Some(c) = r.json["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["numb"] == number)
            {
                return c["events"].as_array().cloned().unwrap_or_default();
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Vec::new()
    }
}

/// Asserts a 422 that names `field` (substring) with `rule`.
#[track_caller]
pub fn assert_invalid(r: &Resp, field: &str, rule: &str) {
    assert_eq!(r.status, 422, "expected 422 for {rule}: {}", r.text);
    let errors = r.json["errors"].as_array().expect("errors");
    assert!(
        errors.iter().any(|e| e["rule"] == rule
            && e["field"].as_str().is_some_and(|f| f.contains(field))
            && e["message"].as_str().is_some_and(|m| !m.is_empty())),
        "no {rule} at {field} in {}",
        r.text
    );
}

/// The `kind` events among a call's `events` (their payloads), in order.
pub fn find<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter_map(|e| e["what"].get(kind)).collect()
}

/// `op->exit` of every `exit_taken` among a call's `events`, in order: the call's path through
/// its scenario.
pub fn exits(events: &[Value]) -> Vec<String> {
    find(events, "exit_taken")
        .iter()
        .map(|x| {
            format!(
                "{}->{}",
                x["op"].as_str().unwrap(),
                x["exit"].as_str().unwrap()
            )
        })
        .collect()
}

/// The texts of the `note` events, in order.
pub fn notes(events: &[Value]) -> Vec<String> {
    find(events, "note")
        .iter()
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect()
}

/// The one `kind` event among a call's `events` (its payload); fails unless there is exactly
/// one.
#[track_caller]
pub fn one<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    let found = find(events, kind);
    assert_eq!(found.len(), 1, "{kind}: {events:#?}");
    found[0]
}
