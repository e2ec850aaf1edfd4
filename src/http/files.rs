//! `/files`: metadata of the file base (prompts, system messages, voicemail, recordings).
//! Filter `?kind=sound|system|voicemail|recording`.

use super::crud::{self, ListQuery, Resource};
use super::ApiError;
use vpbx_store::model::{FileId, FileKind, FileMeta};

impl Resource for FileMeta {
    fn parse_id(s: &str) -> Option<FileId> {
        s.parse::<u64>().ok().filter(|n| *n > 0).map(FileId)
    }
    fn id_json(id: &FileId) -> serde_json::Value {
        id.0.into()
    }
    fn check_query(q: &ListQuery) -> Result<(), ApiError> {
        crud::check_kind::<FileKind>(q, "sound, system, voicemail, recording")
    }
    fn filter(&self, q: &ListQuery) -> bool {
        q.extra.get("kind").is_none_or(|k| {
            serde_json::to_value(self.kind).is_ok_and(|v| v.as_str() == Some(k.as_str()))
        })
    }
}

routes! {
    GET "/files" => crud::list::<FileMeta>, "List files (q, kind, offset, limit)";
    POST "/files" => crud::create::<FileMeta>, "Register a file's metadata";
    GET "/files/{id}" => crud::get::<FileMeta>, "Get a file's metadata";
    PUT "/files/{id}" => crud::update::<FileMeta>, "Replace a file's metadata";
    DELETE "/files/{id}" => crud::delete::<FileMeta>, "Delete a file's metadata (409 while a scenario plays it)";
}
