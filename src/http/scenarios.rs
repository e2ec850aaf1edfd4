//! `/scenarios`: operation graphs. Writes go through the generic create/update path; the store
//! validates the graph (start and exits lead to existing operations, each exit is one the
//! operation has) and every operation's references and settings, and refuses new errors with
//! 422 (`scenario.graph`, `ref.*`). Unknown fields of an operation are refused with 400.

use super::crud::{self, numeric_resource};
use vpbx_store::model::{Scenario, ScenarioId};

numeric_resource!(Scenario, ScenarioId);

routes! {
    GET "/scenarios" => crud::list::<Scenario>, "List scenarios (q = name; offset, limit)";
    POST "/scenarios" => crud::create::<Scenario>, "Create a scenario";
    GET "/scenarios/{id}" => crud::get::<Scenario>, "Get a scenario";
    PUT "/scenarios/{id}" => crud::update::<Scenario>, "Replace a scenario";
    DELETE "/scenarios/{id}" => crud::delete::<Scenario>, "Delete a scenario (409 naming every rule and talk option using it)";
}
