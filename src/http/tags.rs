//! `/tags`: tags of contacts and calls.

use super::crud::{self, numeric_resource};
use vpbx_store::model::{Tag, TagId};

numeric_resource!(Tag, TagId);

routes! {
    GET "/tags" => crud::list::<Tag>, "List tags (q, offset, limit)";
    POST "/tags" => crud::create::<Tag>, "Create a tag";
    GET "/tags/{id}" => crud::get::<Tag>, "Get a tag";
    PUT "/tags/{id}" => crud::update::<Tag>, "Replace a tag";
    DELETE "/tags/{id}" => crud::delete::<Tag>, "Delete a tag (409 naming its users)";
}
