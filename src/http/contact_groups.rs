//! `/contact-groups`: "Key clients", "Debtors", "VIP".

use super::crud::{self, numeric_resource};
use vpbx_store::model::{ContactGroup, ContactGroupId};

numeric_resource!(ContactGroup, ContactGroupId);

routes! {
    GET "/contact-groups" => crud::list::<ContactGroup>, "List contact groups (q, offset, limit)";
    POST "/contact-groups" => crud::create::<ContactGroup>, "Create a contact group";
    GET "/contact-groups/{id}" => crud::get::<ContactGroup>, "Get a contact group";
    PUT "/contact-groups/{id}" => crud::update::<ContactGroup>, "Replace a contact group";
    DELETE "/contact-groups/{id}" => crud::delete::<ContactGroup>, "Delete a contact group (409 naming its users)";
}
