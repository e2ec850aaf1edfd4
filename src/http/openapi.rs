//! The OpenAPI 3 document of `/api/v1`, kept in the repository as `src/http/openapi.json`
//! and served at `GET /api/v1/openapi.json`.
//!
//! The document is generated from the route tables ([`super::api_routes`]) — the same tables
//! the router registers — with schemas inferred from example entities that are checked
//! against the model types. A test fails when the committed file differs from [`generate`]
//! (regenerate with `VPBX_WRITE_OPENAPI=1 cargo test --test api_openapi`), and probes every
//! documented route against the app.

use super::{api_routes, RouteDoc};
use actix_web::HttpResponse;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};
use vpbx_store::model::*;

/// The committed document.
pub const DOCUMENT: &str = include_str!("openapi.json");

async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT)
}

routes! {
    GET "/openapi.json" => serve, "This document";
}

/// An example of `T`, checked by deserializing it.
fn example<T: DeserializeOwned + Serialize>(v: Value) -> Result<Value, String> {
    let t: T =
        serde_json::from_value(v).map_err(|e| format!("{}: {e}", std::any::type_name::<T>()))?;
    serde_json::to_value(t).map_err(|e| e.to_string())
}

/// A JSON schema inferred from an example value.
fn infer(v: &Value) -> Value {
    match v {
        Value::Null => json!({"nullable": true}),
        Value::Bool(_) => json!({"type": "boolean"}),
        Value::Number(n) if n.is_f64() => json!({"type": "number"}),
        Value::Number(_) => json!({"type": "integer"}),
        Value::String(_) => json!({"type": "string"}),
        Value::Array(a) => {
            json!({"type": "array", "items": a.first().map(infer).unwrap_or(json!({}))})
        }
        Value::Object(m) => {
            let props: Map<String, Value> = m.iter().map(|(k, v)| (k.clone(), infer(v))).collect();
            json!({"type": "object", "properties": props})
        }
    }
}

fn schema(example: Value, description: &str) -> Value {
    let mut s = infer(&example);
    if let Some(o) = s.as_object_mut() {
        o.insert("description".into(), description.into());
        o.insert("example".into(), example);
    }
    s
}

fn schemas() -> Result<Map<String, Value>, String> {
    let mut m = Map::new();
    let mut put = |name: &str, ex: Value, d: &str| {
        m.insert(name.into(), schema(ex, d));
    };
    put("Employee", example::<Employee>(json!({
        "id": 1, "first_name": "Anna", "last_name": "Petrova", "email": "anna@demo.invalid",
        "extension": "101", "calls_enabled": true, "schedule": null, "rating": false,
        "trainer": null, "trainer_joins_every_call": false, "percent_distribution": false,
        "phones": [
            {"kind": "sip_line", "id": 101, "login": "101", "password": "generated", "lines": 2, "dial_timeout_s": 20, "percent": 0, "outbound_caller_id": "74951234567", "outbound_allowed": true},
            {"kind": "external", "number": "79161234567", "dial_timeout_s": 20, "lines": 1, "percent": 0},
            {"kind": "sip_uri", "uri": "anna@pbx.example.com:5060", "dial_timeout_s": 20, "lines": 1, "percent": 0}
        ]
    }))?, "An employee. Phones are sip_line (send {kind: sip_line} alone to get generated credentials), external (international format) or sip_uri. A SIP line's outbound_caller_id is a virtual number presented on its outbound calls (null = the company's first); outbound_allowed false makes it incoming-only.");
    put(
        "Group",
        example::<Group>(json!({
            "id": 1, "name": "Sales", "extension": "200", "members": [1, 2], "simultaneous_lines": 2,
            "schedule": null, "sort_by_type": "S", "percent_distribution": true, "percents": {"1": 50, "2": 50}
        }))?,
        "A group of employees.",
    );
    put(
        "Contact",
        example::<Contact>(json!({
            "id": 1, "last_name": "Smirnov", "first_name": "Oleg", "email": null,
            "phones": ["79161234567"], "organisation": "Acme", "groups": [1], "manager": 1, "tags": [1]
        }))?,
        "A contact of the address book.",
    );
    put(
        "ContactGroup",
        example::<ContactGroup>(json!({"id": 1, "name": "VIP"}))?,
        "A contact group.",
    );
    put(
        "Tag",
        example::<Tag>(json!({"id": 1, "name": "wholesale"}))?,
        "A tag.",
    );
    put(
        "NumberList",
        example::<NumberList>(json!({
            "id": 1, "name": "Blacklist", "kind": "black", "blacklist": true, "entries": ["7916*", "7495123456?"]
        }))?,
        "A number list; entries are numbers or masks (* any digits, ? one digit).",
    );
    put(
        "Schedule",
        example::<Schedule>(json!({
            "id": 1, "name": "Office hours",
            "days": {"kind": "weekly", "week": {"mon": [{"start": "09:00", "end": "13:00"}, {"start": "14:00", "end": "18:00"}]}},
            "period_start": null, "period_end": null, "use_production_calendar": true
        }))?,
        "An activity schedule: days.kind is always, weekly, day_types, days_of_month or cycle.",
    );
    put(
        "ProductionCalendar",
        example::<ProductionCalendar>(json!({
            "year": 2026, "holidays": ["2026-01-01"], "working_days": ["2026-01-10"], "shortened_days": ["2026-12-31"]
        }))?,
        "The production calendar of a year.",
    );
    put(
        "Rule",
        example::<Rule>(json!({
            "id": 1, "name": "Office hours", "schedule": 1,
            "callers": {"kind": "numbers", "masks": ["7812*"]}, "scenario": 1
        }))?,
        "A rule: callers.kind is all, numbers, contacts, contact_groups, unknown or number_list.",
    );
    put(
        "VirtualNumber",
        example::<VirtualNumber>(json!({
            "number": "74951234567", "kind": "pbx",
            "rules": [{"id": 1, "name": "All callers, always", "callers": {"kind": "all"}, "scenario": 1}]
        }))?,
        "A virtual number with its rules in priority order.",
    );
    put(
        "Scenario",
        example::<Scenario>(json!({
            "id": 1, "name": "Greeting, then hang up", "start": "greeting", "record": false,
            "operations": {
                "greeting": {"action": {"kind": "info_message", "prompt": {"kind": "file", "id": 1}}, "exits": {"next": "bye"}},
                "bye": {"action": {"kind": "hang_up"}, "exits": {}}
            }
        }))?,
        "A scenario: named operations with exits.",
    );
    put(
        "FileMeta",
        example::<FileMeta>(json!({
            "id": 1, "name": "Greeting", "path": "prompts/greeting.wav", "kind": "system"
        }))?,
        "Metadata of a file of the file base.",
    );
    put(
        "TalkOption",
        example::<TalkOption>(json!({
            "id": 1, "keys": "*1", "action": {"kind": "save_caller_id", "target": {"kind": "list", "list": 1}}
        }))?,
        "A DTMF talk option.",
    );
    put(
        "Trunk",
        example::<Trunk>(json!({
            "id": 1, "name": "Carrier", "enabled": true, "host": "sip.carrier.example", "port": 5060,
            "transport": "udp",
            "auth": {"kind": "registration", "username": "acme", "password": "secret", "expires_s": 300, "realm": null},
            "dids": [{"did": "4951234567", "number": "74951234567"}],
            "outbound": true, "prefixes": ["7"], "number_format": "international", "max_channels": 30
        }))?,
        "A SIP trunk to a carrier. auth.kind is registration (username, password, expires_s 60–3600, realm) or ip (addresses: IPs or CIDR blocks); transport udp or tcp; number_format international (digits) or plus (+digits); dids map carrier DIDs to virtual numbers; prefixes choose outbound numbers (empty = all); max_channels null = unlimited.",
    );
    put(
        "CompanySettings",
        example::<CompanySettings>(json!({
            "company": "Demo Company", "time_zone": "Europe/Moscow",
            "settings": {"extension_length": 3, "mobile_line_mode": false}
        }))?,
        "Box settings.",
    );
    put(
        "Credentials",
        json!({"username": "admin", "password": "secret-password"}),
        "Admin credentials.",
    );
    put(
        "Trace",
        json!({"caller": "79161234567", "number": "74951234567", "time": "2026-11-23T10:00:00+03:00"}),
        "A call to trace; time is RFC 3339 or Unix milliseconds (default now).",
    );
    put(
        "TraceResult",
        json!({
            "result": "routed", "time_unix_ms": 1795417200000u64,
            "matched": {"rule": 2, "name": "Office hours"},
            "skipped": [{"rule": 1, "name": "VIP", "why": "caller is not in contact group 'VIP'"}],
            "scenario": {"id": 1, "name": "Greeting"},
            "first_operation": {"name": "greeting", "kind": "info_message"}
        }),
        "Routing trace; result is routed or not_routed (then reason and skipped).",
    );
    put(
        "Reorder",
        json!({"order": [3, 1, 2]}),
        "Every rule id of the number, in the new order.",
    );
    put("Error", json!({
        "error": "invalid",
        "errors": [{"field": "employees[0].extension", "rule": "extension.no_88", "message": "extension 188 contains 88 (reserved for call pickup)"}],
        "used_by": [{"kind": "rule", "number": "74951234567", "rule": 1, "name": "All callers", "field": "scenario"}],
        "message": "…"
    }), "Errors: 400 bad_request (field), 401 unauthorized, 403 csrf, 404 not_found/no_route, 409 exists/in_use (used_by), 422 invalid (errors), 429 locked (retry_after_s).");
    Ok(m)
}

fn schema_of(tag: &str, path: &str) -> Option<&'static str> {
    if path.contains("/rules") {
        return Some("Rule");
    }
    Some(match tag {
        "employees" => "Employee",
        "groups" => "Group",
        "contacts" => "Contact",
        "contact groups" => "ContactGroup",
        "tags" => "Tag",
        "number lists" => "NumberList",
        "schedules" => "Schedule",
        "calendars" => "ProductionCalendar",
        "numbers" => "VirtualNumber",
        "scenarios" => "Scenario",
        "files" => "FileMeta",
        "talk options" => "TalkOption",
        "trunks" => "Trunk",
        "settings" => "CompanySettings",
        _ => return None,
    })
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn operation(tag: &str, r: &RouteDoc) -> Value {
    let mut op = Map::new();
    op.insert("summary".into(), r.summary.into());
    op.insert("tags".into(), json!([tag]));
    let op_id: String = format!("{} {}", r.method.to_lowercase(), r.path)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    op.insert("operationId".into(), op_id.into());
    let mut params: Vec<Value> = r
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|p| json!({"name": p, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    let is_list = r.method == "GET" && r.summary.starts_with("List ");
    if is_list {
        for (name, d) in [
            ("offset", "Items to skip"),
            ("limit", "Items to return (default 100, at most 1000)"),
            ("q", "Case-insensitive text filter"),
        ] {
            let ty = if name == "q" { "string" } else { "integer" };
            params.push(json!({"name": name, "in": "query", "required": false, "description": d, "schema": {"type": ty}}));
        }
    }
    if r.summary.contains("(limit)") {
        params.push(json!({"name": "limit", "in": "query", "required": false, "schema": {"type": "integer"}}));
    }
    if r.path.ends_with("/rules") && r.method == "POST" {
        params.push(json!({"name": "position", "in": "query", "required": false, "description": "0 = first; default last", "schema": {"type": "integer"}}));
    }
    if !params.is_empty() {
        op.insert("parameters".into(), params.into());
    }
    let entity = schema_of(tag, r.path);
    let body: Option<Value> = match (r.method, r.path) {
        ("POST", "/auth/login") | ("POST", "/auth/token") => Some(reference("Credentials")),
        ("PUT", "/auth/password") => Some(
            json!({"type": "object", "properties": {"current": {"type": "string"}, "new": {"type": "string"}}}),
        ),
        ("POST", "/routing/trace") => Some(reference("Trace")),
        ("POST", p) if p.ends_with("/reorder") => Some(reference("Reorder")),
        ("POST", "/blacklist/entries") => {
            Some(json!({"type": "object", "properties": {"number": {"type": "string"}}}))
        }
        ("POST", p) if p.ends_with("/equalize-percents") || p.starts_with("/auth/") => None,
        ("PUT", "/config") => None,
        ("POST", _) | ("PUT", _) => entity.map(reference),
        _ => None,
    };
    if let Some(b) = body {
        op.insert(
            "requestBody".into(),
            json!({"required": true, "content": {"application/json": {"schema": b}}}),
        );
    }
    if (r.method, r.path) == ("PUT", "/config") {
        op.insert("requestBody".into(), json!({"required": true, "content": {"application/yaml": {"schema": {"type": "string"}}}}));
    }
    let ok_schema: Value = match (r.method, entity) {
        ("GET", Some(e)) if is_list => json!({"type": "object", "properties": {
            "items": {"type": "array", "items": reference(e)},
            "total": {"type": "integer"}, "offset": {"type": "integer"}, "limit": {"type": "integer"}}}),
        ("GET", Some(e)) if r.path.ends_with("/rules") => {
            json!({"type": "object", "properties": {"items": {"type": "array", "items": reference(e)}}})
        }
        ("POST", _) if r.path.ends_with("/reorder") => {
            json!({"type": "object", "properties": {"items": {"type": "array", "items": reference("Rule")}}})
        }
        (_, Some(e)) if !r.path.contains("equalize") => reference(e),
        _ if r.path == "/routing/trace" => reference("TraceResult"),
        _ => json!({"type": "object"}),
    };
    let mut responses = Map::new();
    let content = if (r.method, r.path) == ("GET", "/config") {
        json!({"application/yaml": {"schema": {"type": "string"}}})
    } else {
        json!({"application/json": {"schema": ok_schema}})
    };
    match r.method {
        "DELETE" if !r.path.starts_with("/blacklist") => {
            responses.insert("204".into(), json!({"description": "Deleted"}));
        }
        "POST"
            if entity.is_some() && !r.path.contains("reorder") && !r.path.contains("equalize") =>
        {
            responses.insert(
                "201".into(),
                json!({"description": "Created", "content": content}),
            );
        }
        _ => {
            responses.insert(
                "200".into(),
                json!({"description": "OK", "content": content}),
            );
        }
    }
    let err = |name: &str| json!({"$ref": format!("#/components/responses/{name}")});
    let open = matches!(r.path, "/auth/login" | "/auth/token");
    if r.method != "GET" || is_list {
        responses.insert("400".into(), err("BadRequest"));
    }
    if open {
        responses.insert("429".into(), err("Locked"));
        op.insert("security".into(), json!([]));
    }
    responses.insert("401".into(), err("Unauthorized"));
    if r.method != "GET" && !open {
        responses.insert("403".into(), err("Csrf"));
    }
    if r.path.contains('{') {
        responses.insert("404".into(), err("NotFound"));
    }
    if matches!(r.method, "POST" | "PUT" | "DELETE") && entity.is_some() {
        responses.insert("409".into(), err("Conflict"));
        responses.insert("422".into(), err("Invalid"));
    }
    if (r.method, r.path) == ("PUT", "/config") {
        responses.insert("422".into(), err("Invalid"));
    }
    op.insert("responses".into(), responses.into());
    op.into()
}

fn error_responses() -> Value {
    let mut m = Map::new();
    for (name, d) in [
        ("BadRequest", "Malformed body or query (names the field)"),
        ("Unauthorized", "Not authenticated"),
        ("Csrf", "Cookie session without a valid X-CSRF-Token"),
        ("NotFound", "No such entity"),
        ("Conflict", "Exists, or in use (used_by names every user)"),
        (
            "Invalid",
            "Validation errors (field, rule, message), every one",
        ),
        (
            "Locked",
            "Locked after repeated failed logins (Retry-After)",
        ),
    ] {
        m.insert(
            name.into(),
            json!({"description": d, "content": {"application/json": {"schema": reference("Error")}}}),
        );
    }
    m.into()
}

/// The document for the current route tables.
pub fn generate() -> Result<Value, String> {
    let mut paths: Map<String, Value> = Map::new();
    for (tag, r) in api_routes() {
        let entry = paths
            .entry(format!("/api/v1{}", r.path))
            .or_insert_with(|| json!({}));
        if let Some(o) = entry.as_object_mut() {
            o.insert(r.method.to_lowercase(), operation(tag, &r));
        }
    }
    Ok(json!({
        "openapi": "3.0.3",
        "info": {
            "title": "vpbx admin API",
            "version": "1",
            "description": "REST API of the vpbx switch. Authenticate with POST /api/v1/auth/login (session cookie; send X-CSRF-Token on unsafe methods) or POST /api/v1/auth/token (Authorization: Bearer). /health and /metrics are open and outside this document. See docs/api.md."
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "vpbx_session"}
            },
            "schemas": schemas()?,
            "responses": error_responses(),
        },
        "paths": paths,
    }))
}

/// The document rendered as the committed file is (pretty, trailing newline).
pub fn render() -> Result<String, String> {
    let v = generate()?;
    serde_json::to_string_pretty(&v)
        .map(|s| s + "\n")
        .map_err(|e| e.to_string())
}
