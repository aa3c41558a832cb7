//! The paths of the OAuth authorization server ([`crate::oauth`]), known here so that the
//! log line can label them without the protocol layer depending on the server above it.

use super::MCP_PATH;

pub const PROTECTED_RESOURCE_PATH: &str = "/.well-known/oauth-protected-resource";
pub const AUTHORIZATION_SERVER_PATH: &str = "/.well-known/oauth-authorization-server";
pub const AUTHORIZE_PATH: &str = "/authorize";
pub const TOKEN_PATH: &str = "/token";
pub const REGISTER_PATH: &str = "/register";
pub const REVOKE_PATH: &str = "/revoke";

/// A fixed label for an OAuth path, for the log line.
pub fn route_name(path: &str) -> Option<&'static str> {
    Some(match path {
        AUTHORIZE_PATH => "oauth_authorize",
        TOKEN_PATH => "oauth_token",
        REGISTER_PATH => "oauth_register",
        REVOKE_PATH => "oauth_revoke",
        AUTHORIZATION_SERVER_PATH => "oauth_metadata",
        _ if is_oauth_path(path) => "oauth_resource_metadata",
        _ => return None,
    })
}

pub fn is_oauth_path(path: &str) -> bool {
    [AUTHORIZATION_SERVER_PATH, AUTHORIZE_PATH, TOKEN_PATH, REGISTER_PATH, REVOKE_PATH].contains(&path)
        || path == PROTECTED_RESOURCE_PATH
        || path.strip_prefix(PROTECTED_RESOURCE_PATH).is_some_and(|rest| rest.starts_with(MCP_PATH))
}
