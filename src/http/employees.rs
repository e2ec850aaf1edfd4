//! `/employees`: people who take calls, with their phones. A SIP line sent without `id`,
//! `login` or `password` gets them from the box when the store writes the employee
//! (`vpbx_store::credentials::fill_sip_lines`): the next line id, the extension as login when
//! it is free, and a strong random password. On update a line that keeps its id keeps its
//! stored credentials when they are left out.

use super::crud::{self, id_of, Resource};
use super::{ApiError, HttpState};
use actix_web::{web, HttpResponse};
use serde_json::Value;
use vpbx_store::model::{Employee, EmployeeId};

impl Resource for Employee {
    fn parse_id(s: &str) -> Option<EmployeeId> {
        s.parse::<u64>().ok().filter(|n| *n > 0).map(EmployeeId)
    }
    fn id_json(id: &EmployeeId) -> Value {
        id.0.into()
    }
    fn prepare_body(body: &mut Value) {
        placeholders(body);
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
    POST "/employees" => crud::create::<Employee>, "Create an employee (SIP lines get generated credentials)";
    GET "/employees/{id}" => crud::get::<Employee>, "Get an employee";
    PUT "/employees/{id}" => crud::update::<Employee>, "Replace an employee";
    DELETE "/employees/{id}" => crud::delete::<Employee>, "Delete an employee (409 naming every group, trainee, contact using them)";
    POST "/employees/{id}/equalize-percents" => equalize, "Spread 100 % evenly over the employee's phones";
}
