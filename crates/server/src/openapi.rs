//! The OpenAPI document of the whole HTTP API, served at `/openapi.json`. It is generated from the
//! handlers' annotations and the proto types, so it cannot drift from the code silently (a test
//! checks that every routed path is documented).

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::{accounts, backup, blobs, groups, keys, messages, profiles};

#[derive(OpenApi)]
#[openapi(
    info(title = "sotto-server", description = "Relay, key directory and accounts of the Sotto end-to-end encrypted messenger. The server only handles ciphertext."),
    paths(
        accounts::register, accounts::login, accounts::login_external, accounts::refresh, accounts::logout, accounts::list_devices,
        accounts::delete_device, accounts::jwks, accounts::change_password,
        keys::put_device_keys, keys::reset_device_keys, keys::upload_one_time_keys, keys::key_counts, keys::put_identity, keys::reset_identity, keys::confirm_devices, keys::put_user_signature, keys::delete_user_signature, keys::query_keys, keys::claim_keys,
        messages::send_direct, messages::send_to_device, messages::fetch_inbox, messages::ack_inbox, crate::ws::connect,
        groups::create_group, groups::list_groups, groups::get_group, groups::change_group, groups::group_log,
        groups::send_group, groups::group_history,
        backup::get_backup, backup::put_backup,
        profiles::put_profile, profiles::get_profile,
        blobs::create_blob, blobs::put_blob_part, blobs::blob_upload_state, blobs::complete_blob, blobs::get_blob, blobs::delete_blob,
        crate::api::healthz, crate::api::readyz, crate::metrics::render, serve,
    ),
    components(schemas(sotto_proto::ClientFrame, sotto_proto::ServerFrame)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.bearer_format = Some("JWT".into());
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(bearer));
    }
}

#[utoipa::path(get, path = sotto_proto::routes::OPENAPI_PATH, tag = "operations", responses((status = 200, description = "This document")))]
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
