//! Import/export: the whole configuration as one YAML document through the API and the CLI;
//! import validates everything first and applies all or nothing; and the demo company built
//! through the API alone exports identically to `config/demo.yaml`.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use actix_web::test::TestRequest;
use api_support::*;
use serde_json::{json, Value};
use std::process::{Command, Stdio};

const DEMO: &str = include_str!("../config/demo.yaml");

fn put_yaml(t: &str, yaml: &str) -> TestRequest {
    req("PUT", "/api/v1/config", t)
        .insert_header(("content-type", "application/yaml"))
        .set_payload(yaml.to_owned())
}

#[actix_rt::test]
async fn export_import_round_trip_and_all_or_nothing() {
    let (mut sw, api) = api(None).await;
    let first = api.get("/api/v1/config").await;
    assert_eq!(first.status, 200);
    assert!(first
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("application/yaml"));
    assert_eq!(doc(&first.text), doc(DEMO));
    // export → import → export is identical.
    let r = api.send(put_yaml(api.token(), &first.text)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let second = api.get("/api/v1/config").await;
    assert_eq!(second.text, first.text);

    // A document with several errors: 422 naming every one; nothing changes.
    let bad = first
        .text
        .replace("extension: '101'", "extension: '188'")
        .replace("scenario: 2\n", "scenario: 42\n");
    assert_ne!(bad, first.text);
    let r = api.send(put_yaml(api.token(), &bad)).await;
    assert_invalid(&r, "employees[0].extension", "extension.no_88");
    assert_invalid(&r, "numbers[1].rules[0].scenario", "ref.scenario");
    assert_eq!(api.get("/api/v1/config").await.text, first.text);
    // Scenario graphs are checked too.
    let broken = first.text.replacen("next: bye", "next: nowhere", 1);
    let r = api.send(put_yaml(api.token(), &broken)).await;
    assert_invalid(&r, "scenarios[0]", "scenario.graph");
    // Not YAML of a configuration: 400 with the parser's message.
    let r = api.send(put_yaml(api.token(), "company: [")).await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (400, Some("bad_request"))
    );
    let r = api.send(put_yaml(api.token(), "compnay: x\n")).await;
    assert_eq!(r.status, 400);
    assert!(
        r.json["message"].as_str().unwrap().contains("compnay"),
        "{}",
        r.text
    );

    // A valid change that deletes entities: 409 with the plan until confirmed, then it
    // applies at once, to the snapshot too.
    let smaller = "company: Small\ntime_zone: UTC\n";
    assert_eq!(api.send(put_yaml(api.token(), smaller)).await.status, 409);
    let r = api
        .send(
            req("PUT", "/api/v1/config?confirm_delete=true", api.token())
                .insert_header(("content-type", "application/yaml"))
                .set_payload(smaller),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(sw.running().snapshots.current().company, "Small");
    assert!(sw.running().snapshots.current().numbers.is_empty());
    let r = api.get("/api/v1/employees").await;
    assert_eq!(r.json["total"], 0);
    sw.stop().await;
}

fn put_query(t: &str, query: &str, yaml: &str) -> TestRequest {
    req("PUT", &format!("/api/v1/config{query}"), t)
        .insert_header(("content-type", "application/yaml"))
        .set_payload(yaml.to_owned())
}

/// Finding: `PUT /config` with an empty body answered 200 and deleted the company.
#[actix_rt::test]
async fn an_import_must_be_whole_planned_and_confirmed_before_it_deletes() {
    let (mut sw, api) = api(None).await;
    let t = api.token().to_owned();
    let before = api.get("/api/v1/config").await.text;
    for (body, says) in [
        ("", "empty"),
        ("\n# nothing\n", "empty"),
        ("{}", "company"),
        ("employees: []\n", "company"),
    ] {
        let r = api.send(put_yaml(&t, body)).await;
        assert_eq!(
            (r.status, r.json["error"].as_str()),
            (400, Some("bad_request")),
            "{body:?}: {}",
            r.text
        );
        assert!(
            r.json["message"].as_str().unwrap().contains(says),
            "{}",
            r.text
        );
    }
    // Deep nesting is refused before it is parsed.
    let deep = format!(
        "company: x\nemployees: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let r = api.send(put_yaml(&t, &deep)).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(api.get("/api/v1/config").await.text, before);

    // The dry run shows what the import deletes and writes nothing.
    let no_staff = strip_section(&before, "employees");
    let no_staff = strip_section(&no_staff, "groups");
    let r = api.send(put_query(&t, "?dry_run=true", &no_staff)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["result"], "dry_run");
    assert_eq!(
        r.json["plan"]["changes"]["employees"]["deleted"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(api.get("/api/v1/config").await.text, before);
    // Without the confirmation: 409 naming what would go, nothing written.
    let r = api.send(put_yaml(&t, &no_staff)).await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (409, Some("confirmation_required")),
        "{}",
        r.text
    );
    assert!(
        r.json["message"].as_str().unwrap().contains("employees"),
        "{}",
        r.text
    );
    assert_eq!(api.get("/api/v1/employees").await.json["total"], 2);
    // A bad query is a 400 naming the parameters.
    let r = api
        .send(put_query(&t, "?confirm_delete=yes-please", &no_staff))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    // Confirmed: applied, and the replaced configuration is kept as a backup.
    let r = api
        .send(put_query(&t, "?confirm_delete=true", &no_staff))
        .await;
    assert_eq!(
        (r.status, r.json["result"].as_str()),
        (200, Some("applied")),
        "{}",
        r.text
    );
    assert_eq!(api.get("/api/v1/employees").await.json["total"], 0);
    let backup = std::path::PathBuf::from(r.json["backup"].as_str().unwrap());
    let kept = std::fs::read_to_string(&backup).unwrap();
    assert_eq!(doc(&kept), doc(&before));
    // Restoring the backup adds everything back (nothing deleted: no confirmation needed).
    let r = api.send(put_yaml(&t, &kept)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(api.get("/api/v1/employees").await.json["total"], 2);
    sw.stop().await;
}

/// `text` without the top-level section `name` (a key at column 0 and its indented lines).
fn strip_section(text: &str, name: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        if !line.starts_with(' ') && !line.starts_with('-') {
            skipping = line.starts_with(&format!("{name}:"));
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Normalizes a document for comparison: the store lists every kind in key order (numbers by
/// their digits), the demo document in the order it was written.
fn doc(yaml: &str) -> Value {
    let mut cfg = vpbx_store::parse_document(yaml).unwrap();
    cfg.numbers.sort_by(|a, b| a.number.cmp(&b.number));
    serde_json::to_value(cfg).unwrap()
}

#[actix_rt::test]
async fn the_demo_company_configured_through_the_api_alone_exports_identically() {
    // An empty company to start from.
    let (mut sw, api) = api(Some("company: ''\n")).await;
    let empty = api.get("/api/v1/config").await;
    assert!(doc(&empty.text)["employees"].as_array().unwrap().is_empty());

    // What the admin types, entity by entity (taken from the demo document).
    let demo = doc(DEMO);
    let r = api
        .put(
            "/api/v1/settings",
            json!({
        "company": demo["company"], "time_zone": demo["time_zone"], "settings": demo["settings"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for (kind, path) in [
        ("files", "files"),
        ("schedules", "schedules"),
        ("calendars", "calendars"),
        ("contact_groups", "contact-groups"),
        ("tags", "tags"),
        ("number_lists", "number-lists"),
        ("employees", "employees"),
        ("groups", "groups"),
        ("contacts", "contacts"),
        ("scenarios", "scenarios"),
        ("talk_options", "talk-options"),
    ] {
        for e in demo[kind].as_array().unwrap() {
            let r = api.post(&format!("/api/v1/{path}"), e.clone()).await;
            assert_eq!(r.status, 201, "{kind}: {}", r.text);
            assert_eq!(&r.json, e, "{kind}");
        }
    }
    // Numbers first with no rules (`rules: []`: not the default rule), then their rules one
    // by one.
    for n in demo["numbers"].as_array().unwrap() {
        let number = n["number"].as_str().unwrap();
        let r = api
            .post(
                "/api/v1/numbers",
                json!({"number": number, "kind": n["kind"], "rules": []}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        for rule in n["rules"].as_array().unwrap() {
            let r = api
                .post(&format!("/api/v1/numbers/{number}/rules"), rule.clone())
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
    }
    let exported = api.get("/api/v1/config").await;
    assert_eq!(doc(&exported.text), demo);
    // And it answers calls as the demo does.
    let r = api
        .post(
            "/api/v1/routing/trace",
            json!({"caller": "79161234567", "number": "74950000001"}),
        )
        .await;
    assert_eq!(r.json["scenario"]["name"], "Echo test");
    sw.stop().await;
}

fn vpbx(args: &[&str], data: &std::path::Path, stdin: Option<&str>) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vpbx"));
    cmd.args(["--config", "/nonexistent/vpbx.toml", "--data-dir"])
        .arg(data)
        .args(args)
        .env_remove("VPBX_CONFIG")
        .env_remove("VPBX_DATA_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write;
        let mut i = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            i.write_all(s.as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_import_export_set_password_and_a_locked_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let demo = dir.path().join("demo.yaml");
    std::fs::write(&demo, DEMO).unwrap();
    let (ok, _, err) = vpbx(&["config", "import", demo.to_str().unwrap()], &data, None);
    assert!(ok, "{err}");
    let out = dir.path().join("out.yaml");
    let (ok, _, err) = vpbx(&["config", "export", out.to_str().unwrap()], &data, None);
    assert!(ok, "{err}");
    let exported = std::fs::read_to_string(&out).unwrap();
    assert_eq!(doc(&exported), doc(DEMO));
    // Export → import → export is identical.
    let (ok, _, err) = vpbx(&["config", "import", out.to_str().unwrap()], &data, None);
    assert!(ok, "{err}");
    let (ok, stdout, _) = vpbx(&["config", "export", "-"], &data, None);
    assert!(ok);
    assert_eq!(stdout, exported);
    // An invalid document changes nothing and says why.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        exported.replace("extension: '101'", "extension: '188'"),
    )
    .unwrap();
    let (ok, _, err) = vpbx(&["config", "import", bad.to_str().unwrap()], &data, None);
    assert!(!ok);
    assert!(err.contains("extension.no_88"), "{err}");
    let (_, stdout, _) = vpbx(&["config", "export", "-"], &data, None);
    assert_eq!(stdout, exported);
    // An empty file is not a configuration: refused, nothing deleted.
    let empty = dir.path().join("empty.yaml");
    std::fs::write(&empty, "").unwrap();
    let (ok, _, err) = vpbx(&["config", "import", empty.to_str().unwrap()], &data, None);
    assert!(!ok);
    assert!(err.contains("empty"), "{err}");
    // Deleting needs --confirm-delete; --dry-run writes nothing; the replaced configuration
    // is kept in the data directory's backups.
    let small = dir.path().join("small.yaml");
    std::fs::write(&small, "company: Small\ntime_zone: UTC\n").unwrap();
    let (ok, _, err) = vpbx(
        &["config", "import", "--dry-run", small.to_str().unwrap()],
        &data,
        None,
    );
    assert!(ok, "{err}");
    assert!(err.contains("dry run") && err.contains("deleted"), "{err}");
    let (ok, _, err) = vpbx(&["config", "import", small.to_str().unwrap()], &data, None);
    assert!(!ok);
    assert!(err.contains("--confirm-delete"), "{err}");
    let (_, stdout, _) = vpbx(&["config", "export", "-"], &data, None);
    assert_eq!(stdout, exported);
    let (ok, _, err) = vpbx(
        &[
            "config",
            "import",
            "--confirm-delete",
            small.to_str().unwrap(),
        ],
        &data,
        None,
    );
    assert!(ok && err.contains("backups"), "{err}");
    let (ok, _, err) = vpbx(&["config", "import", out.to_str().unwrap()], &data, None);
    assert!(ok, "{err}");
    // The admin password from stdin; too short is refused.
    let (ok, _, err) = vpbx(&["admin", "set-password"], &data, Some("a new password\n"));
    assert!(ok, "{err}");
    let (ok, _, err) = vpbx(
        &["admin", "set-password", "--password", "short"],
        &data,
        None,
    );
    assert!(!ok);
    assert!(err.contains("at least"), "{err}");
    {
        let store = vpbx_store::Store::open(&data).unwrap();
        let phc = store.admin_password_hash().unwrap().unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(vpbx::http::auth::verify_password(&phc, "a new password"));
        // While something holds the store (a running switch), the CLI says so.
        let (ok, _, err) = vpbx(&["config", "export", "-"], &data, None);
        assert!(!ok);
        assert!(
            err.contains("in use") && err.contains("stop it first"),
            "{err}"
        );
    }
}
