//! `/number-lists`: named lists of caller numbers and masks (`*`, `?`), white or black;
//! `/blacklist`: the one list that blocks calls ("Call blocking"), with entry shortcuts.

use super::crud::{self, from_body, ListQuery, Resource};
use super::{ApiError, HttpState};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use vpbx_store::model::{ListKind, NumberList, NumberListId};
use vpbx_store::Rejection;

impl Resource for NumberList {
    fn parse_id(s: &str) -> Option<NumberListId> {
        s.parse::<u64>().ok().filter(|n| *n > 0).map(NumberListId)
    }
    fn id_json(id: &NumberListId) -> Value {
        id.0.into()
    }
    fn check_query(q: &ListQuery) -> Result<(), ApiError> {
        crud::check_kind::<ListKind>(q, "white, black")
    }
    fn filter(&self, q: &ListQuery) -> bool {
        q.extra.get("kind").is_none_or(|k| {
            serde_json::to_value(self.kind).is_ok_and(|v| v.as_str() == Some(k.as_str()))
        })
    }
}

async fn blacklist(state: web::Data<HttpState>) -> Result<HttpResponse, ApiError> {
    match state.snapshots.current().blacklist() {
        Some(l) => Ok(HttpResponse::Ok().json(l)),
        None => Err(ApiError::NotFound {
            kind: "blacklist",
            id: String::new(),
        }),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    number: String,
}

/// Adds a number or mask to the blacklist, creating the list ("Blacklist") if there is none.
async fn block(
    state: web::Data<HttpState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let entry: Entry = from_body(body.into_inner())?;
    let posted = entry.number.clone();
    let list = state
        .write(move |s| {
            s.modify_scoped(
                |cfg| {
                    let next = cfg.number_lists.iter().map(|l| l.id.0).max().unwrap_or(0) + 1;
                    if cfg.blacklist().is_none() {
                        cfg.number_lists.push(NumberList {
                            id: NumberListId(next),
                            name: "Blacklist".into(),
                            kind: ListKind::Black,
                            blacklist: true,
                            entries: Vec::new(),
                        });
                    }
                    let l = cfg
                        .number_lists
                        .iter_mut()
                        .find(|l| l.blacklist)
                        .ok_or_else(|| Rejection::NotFound {
                            kind: "blacklist",
                            id: String::new(),
                        })?;
                    if !l.entries.contains(&entry.number) {
                        l.entries.push(entry.number);
                    }
                    Ok(l.clone())
                },
                |cfg, list| {
                    // The posted entry is the body's `number`.
                    let i = cfg.number_lists.iter().position(|l| l.id == list.id)?;
                    let j = list.entries.iter().position(|e| *e == posted)?;
                    Some((format!("number_lists[{i}].entries[{j}]"), "number".into()))
                },
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

async fn unblock(
    state: web::Data<HttpState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let entry = path.into_inner();
    let list = state
        .write(move |s| {
            s.modify(|cfg| {
                let l = cfg
                    .number_lists
                    .iter_mut()
                    .find(|l| l.blacklist)
                    .ok_or_else(|| Rejection::NotFound {
                        kind: "blacklist",
                        id: String::new(),
                    })?;
                let before = l.entries.len();
                l.entries.retain(|e| *e != entry);
                if l.entries.len() == before {
                    return Err(Rejection::NotFound {
                        kind: "blacklist entry",
                        id: entry,
                    });
                }
                Ok(l.clone())
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

routes! {
    GET "/number-lists" => crud::list::<NumberList>, "List number lists (q, kind, offset, limit)";
    POST "/number-lists" => crud::create::<NumberList>, "Create a number list";
    GET "/number-lists/{id}" => crud::get::<NumberList>, "Get a number list";
    PUT "/number-lists/{id}" => crud::update::<NumberList>, "Replace a number list";
    DELETE "/number-lists/{id}" => crud::delete::<NumberList>, "Delete a number list (409 naming its users)";
    GET "/blacklist" => blacklist, "The blacklist (404 when none is configured)";
    POST "/blacklist/entries" => block, "Block a number or mask (creates the blacklist if needed)";
    DELETE "/blacklist/entries/{entry}" => unblock, "Unblock a number or mask";
}
