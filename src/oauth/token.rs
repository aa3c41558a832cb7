//! `POST /token` (RFC 6749 §4.1.3 and §6, with PKCE) and `POST /revoke` (RFC 7009).

use http::StatusCode;

use super::{OAuth, SCOPES, Store, TokenError, field, form_fields};
use crate::protocol::{Request, Response};
use crate::upstream::Fetch;

impl<F: Fetch, S: Store> OAuth<'_, F, S> {
    pub async fn token(&self, request: &Request) -> Response {
        match self.token_grant(request).await {
            Ok(tokens) => {
                super::json_response(StatusCode::OK, &serde_json::to_value(tokens).expect("tokens serialise"))
            }
            Err(error) => error.response(),
        }
    }

    async fn token_grant(&self, request: &Request) -> Result<super::grants::IssuedTokens, TokenError> {
        let fields = form_fields(request.body())?;
        let client = self.authenticate_client(request.headers(), &fields).await?;
        if let Some(resource) = field(&fields, "resource")
            && resource != self.resource()
        {
            return Err(TokenError::new("invalid_target", "resource must be this server's /mcp URL"));
        }
        let required = |name: &str| {
            field(&fields, name).ok_or_else(|| TokenError::invalid_request(&format!("parameter `{name}` is missing")))
        };
        match required("grant_type")? {
            "authorization_code" => {
                let (code, verifier) = (required("code")?, required("code_verifier")?);
                self.exchange_code(code, &client.client_id, field(&fields, "redirect_uri"), verifier).await
            }
            "refresh_token" => {
                let scope: Option<Vec<String>> =
                    field(&fields, "scope").map(|s| s.split_whitespace().map(str::to_owned).collect());
                if let Some(unknown) = scope.iter().flatten().find(|s| !SCOPES.contains(&s.as_str())) {
                    return Err(TokenError::new("invalid_scope", &format!("unknown scope `{unknown}`")));
                }
                self.refresh(required("refresh_token")?, &client.client_id, scope.as_deref()).await
            }
            other => Err(TokenError::new(
                "unsupported_grant_type",
                &format!("grant_type `{other}` is not supported; use authorization_code or refresh_token"),
            )),
        }
    }

    /// `POST /revoke`: 200 with an empty body once the token is dead, known or not.
    pub async fn revoke_endpoint(&self, request: &Request) -> Response {
        let outcome = async {
            let fields = form_fields(request.body())?;
            let client = self.authenticate_client(request.headers(), &fields).await?;
            let token =
                field(&fields, "token").ok_or_else(|| TokenError::invalid_request("parameter `token` is missing"))?;
            self.revoke(token, &client.client_id).await
        };
        match outcome.await {
            Ok(()) => http::Response::builder()
                .status(StatusCode::OK)
                .header(http::header::CACHE_CONTROL, "no-store")
                .body(Vec::new())
                .expect("valid response"),
            Err(error) => error.response(),
        }
    }
}
