//! `/trunks`: SIP trunks to carriers — the proxy to reach, how the carrier and the switch trust
//! each other (registration with credentials, or IP authentication), the DIDs delivered on the
//! trunk mapped to virtual numbers, and what the trunk carries out (prefixes, number format,
//! channel limit). Live registration state arrives with the SIP side.

use super::crud::{self, numeric_resource};
use vpbx_store::model::{Trunk, TrunkId};

numeric_resource!(Trunk, TrunkId);

routes! {
    GET "/trunks" => crud::list::<Trunk>, "List SIP trunks (q = name, host; offset, limit)";
    POST "/trunks" => crud::create::<Trunk>, "Create a SIP trunk";
    GET "/trunks/{id}" => crud::get::<Trunk>, "Get a SIP trunk";
    PUT "/trunks/{id}" => crud::update::<Trunk>, "Replace a SIP trunk";
    DELETE "/trunks/{id}" => crud::delete::<Trunk>, "Delete a SIP trunk";
}
