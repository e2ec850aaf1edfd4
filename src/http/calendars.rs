//! `/calendars/{year}`: production calendars, one per year (holidays, transferred working
//! days, shortened days).

use super::crud::{self, Resource};
use vpbx_store::model::ProductionCalendar;

impl Resource for ProductionCalendar {
    const ID_FIELD: &'static str = "year";
    fn parse_id(s: &str) -> Option<i32> {
        s.parse().ok()
    }
    fn id_json(id: &i32) -> serde_json::Value {
        (*id).into()
    }
}

routes! {
    GET "/calendars" => crud::list::<ProductionCalendar>, "List production calendars (q = year, offset, limit)";
    POST "/calendars" => crud::create::<ProductionCalendar>, "Load the production calendar of a year";
    GET "/calendars/{year}" => crud::get::<ProductionCalendar>, "Get the production calendar of a year";
    PUT "/calendars/{year}" => crud::update::<ProductionCalendar>, "Replace the production calendar of a year";
    DELETE "/calendars/{year}" => crud::delete::<ProductionCalendar>, "Delete the production calendar of a year";
}
