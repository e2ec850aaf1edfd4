//! Every metric family the code records is on `/metrics` from the start, at zero, so dashboards
//! and alerts see the series before the first event. The families are read from the source
//! (every `metrics::counter!`/`gauge!`/`histogram!` name), so a new metric cannot be forgotten.
//! Its own test binary: the Prometheus recorder is process-wide.
#![allow(clippy::unwrap_used)]

mod api_support;
mod common;
use common::*;
use serde_json::json;
use std::collections::BTreeSet;
use std::path::Path;

fn families(dir: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            families(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for macro_call in ["counter!(", "gauge!(", "histogram!("] {
                for (at, _) in text.match_indices(macro_call) {
                    let rest = text[at + macro_call.len()..].trim_start();
                    if let Some(name) = rest
                        .strip_prefix('"')
                        .and_then(|r| r.split_once('"'))
                        .map(|(name, _)| name)
                    {
                        if name.starts_with("vpbx_") {
                            out.insert(name.to_owned());
                        }
                    }
                }
            }
        }
    }
}

#[actix_rt::test]
async fn every_metric_family_is_present_at_start() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut names = BTreeSet::new();
    for dir in ["src", "actors/src", "media/src", "store/src"] {
        families(&root.join(dir), &mut names);
    }
    assert!(names.len() > 20, "the source scan found {names:?}");
    // Rendered with its first sample by design (a zero sample would skew it).
    assert!(
        names.remove("vpbx_rtp_jitter_ms"),
        "vpbx_rtp_jitter_ms is no longer recorded: update this test"
    );
    let mut sw = TestSwitch::start().await;
    let (code, body) = sw.get("/metrics").await;
    assert_eq!(code, 200);
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| {
            !body
                .lines()
                .any(|l| !l.starts_with('#') && l.starts_with(n.as_str()))
        })
        .collect();
    assert!(missing.is_empty(), "not on /metrics at start: {missing:?}");
    // The per-trunk families are rendered from the configuration: present, without series, on
    // the demo company (it has no trunk).
    for family in ["vpbx_trunk_registered", "vpbx_trunk_channels"] {
        assert!(
            body.contains(&format!("# TYPE {family} gauge\n")),
            "{family} missing"
        );
        assert!(!body.contains(&format!("{family}{{")), "{body}");
    }
    sw.stop().await;
}

#[actix_rt::test]
async fn a_deleted_trunk_leaves_metrics() {
    let (mut sw, api) = api_support::api(None).await;
    // A carrier that never answers (nothing listens on the discard port of 127.0.0.1).
    let trunk = json!({
        "name": "Old \"carrier\"",
        "host": "127.0.0.1",
        "port": 9,
        "auth": {"kind": "registration", "username": "acme", "password": "s3cret"}
    });
    let r = api.post("/api/v1/trunks", trunk).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["id"].as_u64().unwrap();
    let series = [
        "vpbx_trunk_registered{trunk=\"Old \\\"carrier\\\"\"} 0",
        "vpbx_trunk_channels{trunk=\"Old \\\"carrier\\\"\"} 0",
    ];
    let body = api.get("/metrics").await.text;
    for s in series {
        assert!(body.lines().any(|l| l == s), "{s} not in\n{body}");
    }
    let r = api.delete(&format!("/api/v1/trunks/{id}")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let body = api.get("/metrics").await.text;
    assert!(!body.contains("Old \\\"carrier"), "{body}");
    sw.stop().await;
}
