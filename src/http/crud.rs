//! Generic list/get/create/update/delete over a typed repository, shared by the resource
//! modules. Bodies are read as JSON values and converted with `serde_path_to_error`, so a
//! wrong type answers 400 naming the exact field.

use super::{ApiError, HttpState};
use actix_web::{web, HttpResponse};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use vpbx_store::{Entity, Page};

/// Largest page a listing returns.
pub const MAX_LIMIT: usize = 1000;

/// A repository kind exposed by the API.
pub trait Resource: Entity + Send {
    /// The JSON field that carries the id (`id`, `year`, `number`).
    const ID_FIELD: &'static str = "id";
    /// Parses the id in a path.
    fn parse_id(s: &str) -> Option<Self::Id>;
    /// The id as JSON (filled into bodies that leave it out).
    fn id_json(id: &Self::Id) -> Value;
    /// Filters beyond `q` (e.g. `?kind=` on files).
    fn filter(&self, _query: &ListQuery) -> bool {
        true
    }
    /// Checks the filters beyond `q` before listing (400 naming a filter with a wrong value).
    fn check_query(_query: &ListQuery) -> Result<(), ApiError> {
        Ok(())
    }
    /// Adjusts a create/update body before it is read (e.g. the placeholders of values the box
    /// generates, so that they may be left out).
    fn prepare_body(_body: &mut Value) {}
}

/// `?offset=&limit=&q=` plus any resource filters.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Page.
    pub page: Page,
    /// Text filter (case-insensitive substring of the name; extension and phones for people).
    pub q: Option<String>,
    /// Every other parameter.
    pub extra: BTreeMap<String, String>,
}

impl ListQuery {
    /// Parses the query string.
    pub fn parse(raw: &BTreeMap<String, String>) -> Result<ListQuery, ApiError> {
        let num = |name: &str, default: usize| -> Result<usize, ApiError> {
            match raw.get(name) {
                None => Ok(default),
                Some(v) => v.parse().map_err(|_| ApiError::BadRequest {
                    field: Some(name.into()),
                    message: format!("{name} must be a non-negative integer, not '{v}'"),
                }),
            }
        };
        let limit = num("limit", Page::default().limit)?;
        if limit > MAX_LIMIT {
            return Err(ApiError::BadRequest {
                field: Some("limit".into()),
                message: format!("limit must be at most {MAX_LIMIT}"),
            });
        }
        let mut extra = raw.clone();
        for k in ["offset", "limit", "q"] {
            extra.remove(k);
        }
        Ok(ListQuery {
            page: Page {
                offset: num("offset", 0)?,
                limit,
            },
            q: raw.get("q").filter(|q| !q.is_empty()).cloned(),
            extra,
        })
    }

    /// Whether `label` passes the text filter.
    pub fn text_matches(&self, label: &str) -> bool {
        self.q
            .as_ref()
            .is_none_or(|q| label.to_lowercase().contains(&q.to_lowercase()))
    }
}

/// Checks `?kind=` against the values of `K` (a serde enum of snake_case names).
pub fn check_kind<K: DeserializeOwned>(q: &ListQuery, allowed: &str) -> Result<(), ApiError> {
    match q.extra.get("kind") {
        Some(k) if serde_json::from_value::<K>(Value::from(k.as_str())).is_err() => {
            Err(ApiError::BadRequest {
                field: Some("kind".into()),
                message: format!("kind must be one of {allowed}, not '{k}'"),
            })
        }
        _ => Ok(()),
    }
}

/// A path id that does not parse is a 404 of that kind (nothing can have it).
pub fn id_of<T: Resource>(raw: &str) -> Result<T::Id, ApiError> {
    T::parse_id(raw).ok_or_else(|| ApiError::NotFound {
        kind: T::KIND,
        id: raw.to_owned(),
    })
}

/// Deserializes a body value into `T`, naming the failing field.
pub fn from_body<T: DeserializeOwned>(v: Value) -> Result<T, ApiError> {
    kinds_are_names(&v, &mut String::new())?;
    serde_path_to_error::deserialize(&v).map_err(|e| located(ApiError::body(e), &v))
}

/// Moves a 400 about an unknown field or variant to where it is in the body. Inside an
/// internally tagged enum that sits inside another (a forward operation's `strategy`), serde
/// buffers the content and the path stops at the outer one (`operations.a.action`); the
/// name the message quotes is then looked up below that point: the first object with that
/// key (an unknown field), or the first string with that value (an unknown variant, usually a
/// `kind`). A field already present in the body, or a name not found, stays as it is.
fn located(e: ApiError, body: &Value) -> ApiError {
    let ApiError::BadRequest { field, message } = e else {
        return e;
    };
    let quoted = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split_once('`'))
            .map(|(name, _)| name.to_owned())
    };
    let here = field.clone().unwrap_or_default();
    let found = if let Some(name) = quoted("unknown field `") {
        if value_at(body, &here).is_some() {
            None
        } else {
            let base = if here == name {
                ""
            } else {
                here.strip_suffix(&format!(".{name}")).unwrap_or(&here)
            };
            value_at(body, base)
                .and_then(|v| find(v, &mut base.to_owned(), &|k, _| k == Some(name.as_str())))
        }
    } else if let Some(name) = quoted("unknown variant `") {
        value_at(body, &here).and_then(|v| {
            find(v, &mut here.clone(), &|_, x| {
                x.as_str() == Some(name.as_str())
            })
        })
    } else {
        None
    };
    ApiError::BadRequest {
        field: found.or(field),
        message,
    }
}

/// The value at a path as the errors name it (`operations.a.action`, `phones[0].line`).
fn value_at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut v = v;
    if path.is_empty() {
        return Some(v);
    }
    for part in path.split('.') {
        let (name, mut rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        if !name.is_empty() {
            v = v.get(name)?;
        }
        while !rest.is_empty() {
            let (i, after) = rest.split_once(']')?;
            v = v.get(i.parse::<usize>().ok()?)?;
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    Some(v)
}

/// The path of the first value below `v` (depth first, document order) that `hit` accepts,
/// given the key it sits under.
fn find(v: &Value, at: &mut String, hit: &dyn Fn(Option<&str>, &Value) -> bool) -> Option<String> {
    let len = at.len();
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if !at.is_empty() {
                    at.push('.');
                }
                at.push_str(k);
                if hit(Some(k), x) {
                    return Some(at.clone());
                }
                if let Some(p) = find(x, at, hit) {
                    return Some(p);
                }
                at.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                at.push_str(&format!("[{i}]"));
                if hit(None, x) {
                    return Some(at.clone());
                }
                if let Some(p) = find(x, at, hit) {
                    return Some(p);
                }
                at.truncate(len);
            }
        }
        _ => {}
    }
    None
}

/// Refuses a `kind` that is not a string, naming the field. serde also reads the tag of an
/// internally tagged enum from the variant's index (`"kind": 0` is the first variant); the API
/// names variants only, so a number is a mistake, never a choice.
fn kinds_are_names(v: &Value, at: &mut String) -> Result<(), ApiError> {
    let len = at.len();
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if !at.is_empty() {
                    at.push('.');
                }
                at.push_str(k);
                if k == "kind" && !x.is_string() {
                    return Err(ApiError::BadRequest {
                        field: Some(at.clone()),
                        message: format!("kind must be a name (a string), not {x}"),
                    });
                }
                kinds_are_names(x, at)?;
                at.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                at.push_str(&format!("[{i}]"));
                kinds_are_names(x, at)?;
                at.truncate(len);
            }
        }
        _ => {}
    }
    Ok(())
}

/// A body for `T` with its id filled in when left out (`0` for generated ids).
pub fn with_id<T: Resource>(mut v: Value, id: Option<&T::Id>) -> Result<T, ApiError> {
    T::prepare_body(&mut v);
    let Some(obj) = v.as_object_mut() else {
        return Err(ApiError::BadRequest {
            field: None,
            message: format!("the body must be a JSON object (a {})", T::KIND),
        });
    };
    match id {
        Some(id) => {
            obj.insert(T::ID_FIELD.into(), T::id_json(id));
        }
        None => {
            if obj.get(T::ID_FIELD).is_none_or(Value::is_null) {
                if let Some(zero) = T::from_numeric(0) {
                    obj.insert(T::ID_FIELD.into(), T::id_json(&zero));
                }
            }
        }
    }
    from_body(v)
}

/// `GET /things`: one page, with the total.
pub async fn list<T: Resource>(
    state: web::Data<HttpState>,
    query: web::Query<BTreeMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let q = ListQuery::parse(&query)?;
    T::check_query(&q)?;
    let page = q.page;
    let paged = state
        .blocking(move |s| {
            s.repo::<T>()
                .list(page, |e| q.text_matches(&e.label()) && e.filter(&q))
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "items": paged.items,
        "total": paged.total,
        "offset": page.offset,
        "limit": page.limit,
    })))
}

/// `GET /things/{id}`.
pub async fn get<T: Resource>(
    state: web::Data<HttpState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError>
where
    T::Id: Send,
{
    let id = id_of::<T>(&path)?;
    let key = id.clone();
    match state.blocking(move |s| s.repo::<T>().get(&key)).await? {
        Some(e) => Ok(HttpResponse::Ok().json(e)),
        None => Err(ApiError::NotFound {
            kind: T::KIND,
            id: id.to_string(),
        }),
    }
}

/// `POST /things`: creates (a generated id when the body has none); 201 with what was stored.
pub async fn create<T: Resource>(
    state: web::Data<HttpState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let entity: T = with_id::<T>(body.into_inner(), None)?;
    let stored = state.write(move |s| s.repo::<T>().create(entity)).await?;
    Ok(HttpResponse::Created().json(stored))
}

/// `PUT /things/{id}`: replaces (the path's id wins over the body's).
pub async fn update<T: Resource>(
    state: web::Data<HttpState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let id = id_of::<T>(&path)?;
    let entity: T = with_id::<T>(body.into_inner(), Some(&id))?;
    let stored = state.write(move |s| s.repo::<T>().update(entity)).await?;
    Ok(HttpResponse::Ok().json(stored))
}

/// `DELETE /things/{id}`: 204; 409 naming every user while anything refers to it.
pub async fn delete<T: Resource>(
    state: web::Data<HttpState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError>
where
    T::Id: Send,
{
    let id = id_of::<T>(&path)?;
    state.write(move |s| s.repo::<T>().delete(&id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Implements [`Resource`] for a kind with a numeric id newtype.
macro_rules! numeric_resource {
    ($t:ty, $id:path) => {
        impl crate::http::crud::Resource for $t {
            fn parse_id(s: &str) -> Option<$id> {
                s.parse::<u64>().ok().filter(|n| *n > 0).map($id)
            }
            fn id_json(id: &$id) -> serde_json::Value {
                serde_json::Value::from(id.0)
            }
        }
    };
}
pub(crate) use numeric_resource;
