//! `/contacts`: the address book. Filters: `?q=` (name or phone), `?contact_group=`, `?tag=`.

use super::crud::{self, ListQuery, Resource};
use vpbx_store::model::{Contact, ContactId};

impl Resource for Contact {
    fn parse_id(s: &str) -> Option<ContactId> {
        s.parse::<u64>().ok().filter(|n| *n > 0).map(ContactId)
    }
    fn id_json(id: &ContactId) -> serde_json::Value {
        id.0.into()
    }
    fn filter(&self, q: &ListQuery) -> bool {
        let group_ok = q
            .extra
            .get("contact_group")
            .is_none_or(|g| self.groups.iter().any(|x| x.to_string() == *g));
        let tag_ok = q
            .extra
            .get("tag")
            .is_none_or(|t| self.tags.iter().any(|x| x.to_string() == *t));
        group_ok && tag_ok
    }
}

routes! {
    GET "/contacts" => crud::list::<Contact>, "List contacts (q, contact_group, tag, offset, limit)";
    POST "/contacts" => crud::create::<Contact>, "Create a contact";
    GET "/contacts/{id}" => crud::get::<Contact>, "Get a contact";
    PUT "/contacts/{id}" => crud::update::<Contact>, "Replace a contact";
    DELETE "/contacts/{id}" => crud::delete::<Contact>, "Delete a contact (409 while a rule uses it)";
}
