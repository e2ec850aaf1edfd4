//! `/schedules`: activity schedules (weekly, day types, days of month, cycles).

use super::crud::{self, numeric_resource};
use vpbx_store::model::{Schedule, ScheduleId};

numeric_resource!(Schedule, ScheduleId);

routes! {
    GET "/schedules" => crud::list::<Schedule>, "List schedules (q, offset, limit)";
    POST "/schedules" => crud::create::<Schedule>, "Create a schedule";
    GET "/schedules/{id}" => crud::get::<Schedule>, "Get a schedule";
    PUT "/schedules/{id}" => crud::update::<Schedule>, "Replace a schedule";
    DELETE "/schedules/{id}" => crud::delete::<Schedule>, "Delete a schedule (409 naming its users)";
}
