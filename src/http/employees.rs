//! `/employees`: people who take calls, with their phones. A SIP line sent without `id`,
//! `login` or `password` gets them from the box: the next line id, the extension as login when
//! it is free, and a strong random password (`credentials::generate_sip_credentials`). On
//! update a line that keeps its id keeps its stored credentials when they are left out.

use super::crud::{self, id_of, with_id, Resource};
use super::{ApiError, HttpState};
use actix_web::{web, HttpResponse};
use serde_json::Value;
use vpbx_actors::config_hub::modify_checked;
use vpbx_store::credentials::generate_sip_credentials;
use vpbx_store::model::{CompanyConfig, Employee, EmployeeId, Phone, SipLineId};
use vpbx_store::repo::next_sip_line_id;
use vpbx_store::Rejection;

impl Resource for Employee {
    fn parse_id(s: &str) -> Option<EmployeeId> {
        s.parse::<u64>().ok().filter(|n| *n > 0).map(EmployeeId)
    }
    fn id_json(id: &EmployeeId) -> Value {
        id.0.into()
    }
}

/// Adds the placeholders a SIP line left without id/login/password needs to deserialize.
fn placeholders(body: &mut Value) {
    let Some(phones) = body.get_mut("phones").and_then(Value::as_array_mut) else {
        return;
    };
    for p in phones {
        let Some(obj) = p.as_object_mut() else {
            continue;
        };
        if obj.get("kind").and_then(Value::as_str) != Some("sip_line") {
            continue;
        }
        let defaults: [(&str, Value); 3] = [
            ("id", 0u64.into()),
            ("login", "".into()),
            ("password", "".into()),
        ];
        for (k, v) in defaults {
            if obj.get(k).is_none_or(Value::is_null) {
                obj.insert(k.into(), v);
            }
        }
    }
}

/// Fills in generated SIP line ids and credentials (see the module docs).
fn fill_lines(cfg: &CompanyConfig, e: &mut Employee) {
    let previous = cfg.employee(e.id).cloned();
    let mut next = next_sip_line_id(cfg).0;
    let mut rng = rand::thread_rng();
    let extension = e.extension.clone();
    let mut ext_taken = false;
    for phone in &mut e.phones {
        let Phone::SipLine(l) = phone else {
            continue;
        };
        let old = previous.as_ref().and_then(|p| {
            p.phones.iter().find_map(|ph| match ph {
                Phone::SipLine(o) if l.id.0 != 0 && o.id == l.id => Some(o.clone()),
                _ => None,
            })
        });
        if let Some(old) = old {
            if l.login.is_empty() {
                l.login = old.login;
            }
            if l.password.is_empty() {
                l.password = old.password;
            }
        }
        if l.id.0 == 0 {
            l.id = SipLineId(next);
            next += 1;
        }
        if l.login.is_empty() || l.password.is_empty() {
            let ext = (!ext_taken).then_some(extension.as_str());
            let c = generate_sip_credentials(&mut rng, cfg, ext, l.id);
            if l.login.is_empty() {
                l.login = c.login;
            }
            if l.password.is_empty() {
                l.password = c.password;
            }
        }
        ext_taken |= l.login == extension;
    }
}

fn parse(mut body: Value, id: Option<&EmployeeId>) -> Result<Employee, ApiError> {
    placeholders(&mut body);
    with_id::<Employee>(body, id)
}

async fn create(
    state: web::Data<HttpState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let mut e = parse(body.into_inner(), None)?;
    let stored = state
        .write(move |s| {
            modify_checked(s, |cfg| {
                if e.id.0 == 0 {
                    e.id = EmployeeId(cfg.employees.iter().map(|x| x.id.0).max().unwrap_or(0) + 1);
                }
                if cfg.employee(e.id).is_some() {
                    return Err(Rejection::Exists {
                        kind: "employee",
                        id: e.id.to_string(),
                    });
                }
                fill_lines(cfg, &mut e);
                let at = cfg.employees.partition_point(|x| x.id < e.id);
                cfg.employees.insert(at, e.clone());
                Ok(e)
            })
        })
        .await?;
    Ok(HttpResponse::Created().json(stored))
}

async fn update(
    state: web::Data<HttpState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let id = id_of::<Employee>(&path)?;
    let mut e = parse(body.into_inner(), Some(&id))?;
    let stored = state
        .write(move |s| {
            modify_checked(s, |cfg| {
                fill_lines(cfg, &mut e);
                let slot = cfg
                    .employees
                    .iter_mut()
                    .find(|x| x.id == e.id)
                    .ok_or_else(|| Rejection::NotFound {
                        kind: "employee",
                        id: e.id.to_string(),
                    })?;
                *slot = e.clone();
                Ok(e)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(stored))
}

async fn equalize(
    state: web::Data<HttpState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id_of::<Employee>(&path)?;
    let percents = state.write(move |s| s.equalize_phone_percents(id)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "percents": percents })))
}

routes! {
    GET "/employees" => crud::list::<Employee>, "List employees (q = name, extension; offset, limit)";
    POST "/employees" => create, "Create an employee (SIP lines get generated credentials)";
    GET "/employees/{id}" => crud::get::<Employee>, "Get an employee";
    PUT "/employees/{id}" => update, "Replace an employee";
    DELETE "/employees/{id}" => crud::delete::<Employee>, "Delete an employee (409 naming every group, trainee, contact using them)";
    POST "/employees/{id}/equalize-percents" => equalize, "Spread 100 % evenly over the employee's phones";
}
