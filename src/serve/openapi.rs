//! The OpenAPI document of `/v1`, generated from the handlers' annotations
//! (utoipa), so it cannot drift from the code.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{api, error, lists};

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let comps = doc.components.get_or_insert_with(Default::default);
        comps.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "hashsieve", description = "Upload scanning against hash lists of known violent-extremist media: PDQ, vPDQ, MD5, SHA-256, BLAKE3. HMA 2.0 routes (/m, /h, /c, /status) are also served; see HMA's documentation for them."),
    paths(
        api::post_hash, api::post_match, api::get_match, api::post_match_vpdq, api::post_match_tmk,
        api::healthz, api::readyz, api::metrics,
        lists::get_lists, lists::get_list, lists::create_list, lists::update_list, lists::delete_list,
        lists::import_entries, lists::add_media, lists::export_list, lists::set_status, lists::allow,
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail, api::HashMatches,
        lists::CreateList, lists::UpdateList, lists::SetStatus, lists::AllowBody)),
    modifiers(&Bearer),
)]
pub struct ApiDoc;

/// The document as JSON.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_json()
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn documents_every_v1_route() {
        let doc: serde_json::Value = serde_json::from_str(&super::document()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        for p in [
            "/v1/hash",
            "/v1/match",
            "/v1/match/vpdq",
            "/v1/lists",
            "/v1/lists/{name}/export",
        ] {
            assert!(paths.contains_key(p), "{p} missing");
        }
        assert!(
            paths["/v1/match"].get("get").is_some() && paths["/v1/match"].get("post").is_some()
        );
    }
}
