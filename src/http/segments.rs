//! `/segments`: saved filters over contacts (contact groups, tags, regions of the caller's
//! number) that segment branches name.

use super::crud::{self, numeric_resource};
use vpbx_store::model::{Segment, SegmentId};

numeric_resource!(Segment, SegmentId);

routes! {
    GET "/segments" => crud::list::<Segment>, "List segments (q, offset, limit)";
    POST "/segments" => crud::create::<Segment>, "Create a segment (contact groups, tags, regions: at least one condition)";
    GET "/segments/{id}" => crud::get::<Segment>, "Get a segment";
    PUT "/segments/{id}" => crud::update::<Segment>, "Replace a segment";
    DELETE "/segments/{id}" => crud::delete::<Segment>, "Delete a segment (409 naming its users)";
}
