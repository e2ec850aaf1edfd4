//! `/talk-options`: DTMF keys during a talk and their actions.

use super::crud::{self, numeric_resource};
use vpbx_store::model::{TalkOption, TalkOptionId};

numeric_resource!(TalkOption, TalkOptionId);

routes! {
    GET "/talk-options" => crud::list::<TalkOption>, "List talk options (q = keys, offset, limit)";
    POST "/talk-options" => crud::create::<TalkOption>, "Create a talk option";
    GET "/talk-options/{id}" => crud::get::<TalkOption>, "Get a talk option";
    PUT "/talk-options/{id}" => crud::update::<TalkOption>, "Replace a talk option";
    DELETE "/talk-options/{id}" => crud::delete::<TalkOption>, "Delete a talk option";
}
