//! Discovery documents: protected-resource metadata (RFC 9728) and authorization-server
//! metadata (RFC 8414).

use http::StatusCode;
use serde_json::json;

use super::{OAuth, SCOPE_READ, SCOPES, Store, json_response};
use crate::protocol::Response;
use crate::protocol::oauth_paths::{AUTHORIZE_PATH, REGISTER_PATH, REVOKE_PATH, TOKEN_PATH};
use crate::upstream::Fetch;

const AUTH_METHODS: [&str; 3] = ["none", "client_secret_basic", "client_secret_post"];

pub fn protected_resource<F: Fetch, S: Store>(oauth: &OAuth<'_, F, S>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "resource": oauth.resource(),
            "authorization_servers": [oauth.issuer],
            "bearer_methods_supported": ["header"],
            // Clients ask for the scopes listed here: write only where the action tools exist.
            "scopes_supported": if oauth.settings.allow_writes { SCOPES.as_slice() } else { &[SCOPE_READ] },
            "resource_name": "Prefect MCP server",
        }),
    )
}

pub fn authorization_server<F: Fetch, S: Store>(oauth: &OAuth<'_, F, S>) -> Response {
    let issuer = &oauth.issuer;
    json_response(
        StatusCode::OK,
        &json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}{AUTHORIZE_PATH}"),
            "token_endpoint": format!("{issuer}{TOKEN_PATH}"),
            "registration_endpoint": format!("{issuer}{REGISTER_PATH}"),
            "revocation_endpoint": format!("{issuer}{REVOKE_PATH}"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
            "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
            "scopes_supported": SCOPES,
            "client_id_metadata_document_supported": true,
            "authorization_response_iss_parameter_supported": true,
        }),
    )
}
