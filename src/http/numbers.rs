//! `/numbers`: virtual numbers (addressed by their digits) with their ordered rules;
//! `/numbers/{number}/rules…`: add, replace, delete and reorder rules (order = priority).

use super::crud::{self, from_body, Resource};
use super::{ApiError, HttpState};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use vpbx_store::model::{CompanyConfig, Rule, RuleId, VirtualNumber};
use vpbx_store::repo::next_rule_id;
use vpbx_store::Rejection;

impl Resource for VirtualNumber {
    const ID_FIELD: &'static str = "number";
    fn parse_id(s: &str) -> Option<String> {
        (!s.is_empty()).then(|| s.to_owned())
    }
    fn id_json(id: &String) -> Value {
        Value::from(id.as_str())
    }
}

fn number_mut<'a>(
    cfg: &'a mut CompanyConfig,
    number: &str,
) -> Result<&'a mut VirtualNumber, Rejection> {
    cfg.numbers
        .iter_mut()
        .find(|n| n.number == number)
        .ok_or_else(|| Rejection::NotFound {
            kind: "virtual number",
            id: number.to_owned(),
        })
}

fn rule_id(raw: &str) -> Result<RuleId, ApiError> {
    raw.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .map(RuleId)
        .ok_or_else(|| ApiError::NotFound {
            kind: "rule",
            id: raw.to_owned(),
        })
}

/// A rule body with its id filled in (0 = generate) and the path's id winning.
fn rule_body(mut v: Value, id: Option<RuleId>) -> Result<Rule, ApiError> {
    let Some(obj) = v.as_object_mut() else {
        return Err(ApiError::BadRequest {
            field: None,
            message: "the body must be a JSON object (a rule)".into(),
        });
    };
    match id {
        Some(id) => {
            obj.insert("id".into(), id.0.into());
        }
        None => {
            if obj.get("id").is_none_or(Value::is_null) {
                obj.insert("id".into(), 0u64.into());
            }
        }
    }
    from_body(v)
}

async fn rules(
    state: web::Data<HttpState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let number = path.into_inner();
    let key = number.clone();
    match state.blocking(move |s| s.numbers().get(&key)).await? {
        Some(n) => Ok(HttpResponse::Ok().json(serde_json::json!({ "items": n.rules }))),
        None => Err(ApiError::NotFound {
            kind: "virtual number",
            id: number,
        }),
    }
}

async fn get_rule(
    state: web::Data<HttpState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (number, raw) = path.into_inner();
    let id = rule_id(&raw)?;
    let key = number.clone();
    let n = state
        .blocking(move |s| s.numbers().get(&key))
        .await?
        .ok_or(ApiError::NotFound {
            kind: "virtual number",
            id: number,
        })?;
    match n.rules.into_iter().find(|r| r.id == id) {
        Some(r) => Ok(HttpResponse::Ok().json(r)),
        None => Err(ApiError::NotFound {
            kind: "rule",
            id: raw,
        }),
    }
}

/// Where a written rule sits in the document, so its errors name the rule's own fields.
fn rule_scope(cfg: &CompanyConfig, rule: &Rule) -> Option<(String, String)> {
    cfg.numbers.iter().enumerate().find_map(|(i, n)| {
        n.rules
            .iter()
            .position(|r| r.id == rule.id)
            .map(|j| (format!("numbers[{i}].rules[{j}]"), String::new()))
    })
}

/// `?position=` (0 = first) for a new rule; the end by default.
async fn add_rule(
    state: web::Data<HttpState>,
    path: web::Path<String>,
    query: web::Query<BTreeMap<String, String>>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let number = path.into_inner();
    let position = match query.get("position") {
        None => None,
        Some(p) => Some(p.parse::<usize>().map_err(|_| ApiError::BadRequest {
            field: Some("position".into()),
            message: format!("position must be a non-negative integer, not '{p}'"),
        })?),
    };
    let mut rule = rule_body(body.into_inner(), None)?;
    let stored = state
        .write(move |s| {
            s.modify_scoped(
                |cfg| {
                    if rule.id.0 == 0 {
                        rule.id = next_rule_id(cfg);
                    } else if cfg
                        .numbers
                        .iter()
                        .any(|n| n.rules.iter().any(|r| r.id == rule.id))
                    {
                        return Err(Rejection::Exists {
                            kind: "rule",
                            id: rule.id.to_string(),
                        });
                    }
                    let n = number_mut(cfg, &number)?;
                    let at = position.unwrap_or(n.rules.len()).min(n.rules.len());
                    n.rules.insert(at, rule.clone());
                    Ok(rule)
                },
                rule_scope,
            )
        })
        .await?;
    Ok(HttpResponse::Created().json(stored))
}

async fn update_rule(
    state: web::Data<HttpState>,
    path: web::Path<(String, String)>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let (number, raw) = path.into_inner();
    let rule = rule_body(body.into_inner(), Some(rule_id(&raw)?))?;
    let stored = state
        .write(move |s| {
            s.modify_scoped(
                |cfg| {
                    let n = number_mut(cfg, &number)?;
                    let slot = n
                        .rules
                        .iter_mut()
                        .find(|r| r.id == rule.id)
                        .ok_or_else(|| Rejection::NotFound {
                            kind: "rule",
                            id: rule.id.to_string(),
                        })?;
                    *slot = rule.clone();
                    Ok(rule)
                },
                rule_scope,
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(stored))
}

async fn delete_rule(
    state: web::Data<HttpState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (number, raw) = path.into_inner();
    let id = rule_id(&raw)?;
    state.write(move |s| s.delete_rule(&number, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reorder {
    /// Every rule id of the number, in the new order.
    order: Vec<RuleId>,
}

async fn reorder(
    state: web::Data<HttpState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let number = path.into_inner();
    let r: Reorder = from_body(body.into_inner())?;
    let key = number.clone();
    state
        .write(move |s| s.reorder_rules(&key, &r.order))
        .await?;
    let n = state.blocking(move |s| s.numbers().get(&number)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "items": n.map(|n| n.rules).unwrap_or_default()
    })))
}

/// `POST /numbers`: [`crud::create`], except that a PBX number posted without `rules` gets the
/// default rule (SPEC §2; `vpbx_store::coverage`).
async fn create(
    state: web::Data<HttpState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    // Rules left out: the default rule; `"rules": []`: none, the admin adds their own.
    let default_rule = body.get("rules").is_none();
    let number: VirtualNumber = crud::with_id::<VirtualNumber>(body, None)?;
    let stored = state
        .write(move |s| s.connect_number(number, default_rule))
        .await?;
    Ok(HttpResponse::Created().json(stored))
}

routes! {
    GET "/numbers" => crud::list::<VirtualNumber>, "List virtual numbers (q = digits; offset, limit)";
    POST "/numbers" => create, "Add a virtual number (with its rules; without rules a PBX number gets the default rule: all callers, always, to a queue)";
    GET "/numbers/{number}" => crud::get::<VirtualNumber>, "Get a virtual number with its rules";
    PUT "/numbers/{number}" => crud::update::<VirtualNumber>, "Replace a virtual number and its rules";
    DELETE "/numbers/{number}" => crud::delete::<VirtualNumber>, "Remove a virtual number (409 while a trunk's DID or a SIP line's caller id uses it)";
    GET "/numbers/{number}/rules" => rules, "The number's rules in priority order";
    POST "/numbers/{number}/rules" => add_rule, "Add a rule (at ?position=, default last)";
    POST "/numbers/{number}/rules/reorder" => reorder, "Reorder the rules: body {order: [rule ids]} naming each once";
    GET "/numbers/{number}/rules/{rule}" => get_rule, "Get a rule";
    PUT "/numbers/{number}/rules/{rule}" => update_rule, "Replace a rule in place";
    DELETE "/numbers/{number}/rules/{rule}" => delete_rule, "Delete a rule";
}
