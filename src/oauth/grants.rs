//! Grants and their tokens: issuing the code, exchanging it, rotating refresh tokens,
//! revoking, and turning an access token back into Prefect credentials.
//!
//! A grant is stored under `grant:{id}`; codes, access and refresh tokens are opaque
//! `{grant id}:{random secret}` strings stored only as SHA-256 hashes (`token:{hash}` for
//! access tokens, the code and refresh hashes inside the grant). Reading the grant id from
//! the token lets a check load the token record and the grant at the same time.

use futures::future::join;
use serde::{Deserialize, Serialize};
use url::Url;

use super::store::{Store, StoreError, exclusive, kv_ttl};
use super::{OAuth, TokenError};
use crate::credentials::{Authorization, Credentials, Source};
use crate::crypto::{self, Key};
use crate::protocol::access::GrantedAccess;
use crate::upstream::Fetch;

/// A grant's refresh token (and so the grant) lives this long without use; every refresh
/// starts the period again.
const REFRESH_TTL_S: u64 = 30 * 24 * 3600;

/// Whose Prefect access a grant carries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Access {
    /// The Worker's Prefect secrets, for as long as the team token used at consent (kept as
    /// its SHA-256) is still one of `MCP_ACCESS_TOKENS`.
    Team { token_hash: String },
    /// The person's own Prefect credentials, encrypted under the grant's data key; on a
    /// Worker gated by `MCP_ACCESS_TOKENS`, also bound to the team token entered with them.
    Personal { sealed_credentials: String, token_hash: Option<String> },
}

/// Prefect credentials entered on the consent page, before encryption.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PersonalCredentials {
    pub api_url: String,
    pub api_key: Option<String>,
    pub auth_string: Option<String>,
}

impl PersonalCredentials {
    /// API key first, like `X-Prefect-Api-*` headers.
    pub fn credentials(&self) -> Option<Credentials> {
        let authorization = match (&self.api_key, &self.auth_string) {
            (Some(key), _) => Authorization::bearer(key),
            (None, Some(auth)) => Authorization::basic(auth),
            (None, None) => Authorization::None,
        };
        Some(Credentials { api_url: Url::parse(&self.api_url).ok()?, authorization, source: Source::Grant })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grant {
    pub client_id: String,
    pub scope: Vec<String>,
    /// The audience: the `/mcp` URL of the Worker that issued it.
    pub resource: String,
    pub access: Access,
    pub created_at: i64,
    /// Set until the code is exchanged.
    pub code: Option<PendingCode>,
    /// The hash of the exchanged code: presenting it again revokes the grant.
    pub used_code_hash: Option<String>,
    pub refresh: Option<RefreshState>,
    /// The hash of the newest access token, deleted on refresh and revocation.
    pub access_hash: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingCode {
    pub hash: String,
    pub expires_at: i64,
    pub code_challenge: String,
    pub redirect_uri: String,
    /// Whether `/authorize` was sent the redirect URI (then `/token` must send it too).
    pub redirect_uri_sent: bool,
    pub wrapped_key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshState {
    pub hash: String,
    pub wrapped_key: Option<String>,
    /// The refresh tokens this one replaced, newest last (at most
    /// [`REPLACED_REFRESH_TOKENS_KEPT`]): presenting one revokes the grant.
    pub replaced_hashes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TokenRecord {
    grant_id: String,
    expires_at: i64,
    wrapped_key: Option<String>,
}

const UNKNOWN_REFRESH_TOKEN: &str = "the refresh token is unknown, expired or revoked";

/// How many replaced refresh tokens a grant remembers. A refresh token is replaced at each
/// refresh, so this covers a stolen token for that many refreshes of the legitimate client.
const REPLACED_REFRESH_TOKENS_KEPT: usize = 20;

/// What `/token` sends back.
#[derive(Debug, Serialize)]
pub struct IssuedTokens {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub refresh_token: String,
    pub scope: String,
}

/// An approved authorization request, ready for a code.
pub struct Approval {
    pub client_id: String,
    pub scope: Vec<String>,
    pub resource: String,
    pub code_challenge: String,
    pub redirect_uri: String,
    pub redirect_uri_sent: bool,
}

/// The Prefect access an approval carries, before it is stored.
pub enum Granted {
    Team { token: String },
    Personal { credentials: PersonalCredentials, team_token: Option<String> },
}

fn grant_key(id: &str) -> String {
    format!("grant:{id}")
}

fn token_key(hash: &str) -> String {
    format!("token:{hash}")
}

/// The grant id a token or code names, when it has the `{id}:{secret}` shape.
fn grant_id(token: &str) -> Option<&str> {
    let (id, secret) = token.split_once(':')?;
    let plausible = |s: &str| {
        !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    (plausible(id) && plausible(secret)).then_some(id)
}

fn new_token(grant_id: &str) -> String {
    format!("{grant_id}:{}", crypto::random_secret())
}

async fn load_grant<S: Store>(store: &S, id: &str) -> Result<Option<Grant>, StoreError> {
    Ok(store.get(&grant_key(id)).await?.and_then(|text| serde_json::from_str(&text).ok()))
}

async fn save_grant<S: Store>(store: &S, id: &str, grant: &Grant, ttl_s: u64) -> Result<(), StoreError> {
    store.put(&grant_key(id), &serde_json::to_string(grant).expect("grants serialise"), Some(ttl_s)).await
}

/// Deletes a grant and its newest access token: every code, token and refresh token of it
/// stops working.
async fn revoke_grant<S: Store>(store: &S, id: &str, grant: &Grant) -> Result<(), StoreError> {
    if let Some(hash) = &grant.access_hash {
        store.delete(&token_key(hash)).await?;
    }
    store.delete(&grant_key(id)).await
}

impl<F: Fetch, S: Store> OAuth<'_, F, S> {
    /// Stores a new grant with a pending code and returns the code.
    pub async fn issue_code(&self, approval: Approval, granted: Granted) -> Result<String, StoreError> {
        let id = crypto::random_id();
        let code = new_token(&id);
        let (access, wrapped_key) = match granted {
            Granted::Team { token } => (Access::Team { token_hash: crypto::sha256_hex(&token) }, None),
            Granted::Personal { credentials, team_token } => {
                let data_key: Key = crypto::random_bytes();
                let plaintext = serde_json::to_vec(&credentials).expect("credentials serialise");
                let sealed_credentials = crypto::seal(&data_key, &plaintext, id.as_bytes());
                let token_hash = team_token.as_deref().map(crypto::sha256_hex);
                (Access::Personal { sealed_credentials, token_hash }, Some(crypto::wrap(&data_key, &code)))
            }
        };
        let code_ttl = self.settings.oauth.code_ttl_s;
        let grant = Grant {
            client_id: approval.client_id,
            scope: approval.scope,
            resource: approval.resource,
            access,
            created_at: self.now,
            code: Some(PendingCode {
                hash: crypto::sha256_hex(&code),
                expires_at: self.now + code_ttl as i64,
                code_challenge: approval.code_challenge,
                redirect_uri: approval.redirect_uri,
                redirect_uri_sent: approval.redirect_uri_sent,
                wrapped_key,
            }),
            used_code_hash: None,
            refresh: None,
            access_hash: None,
        };
        save_grant(self.store, &id, &grant, code_ttl).await?;
        Ok(code)
    }

    /// `grant_type=authorization_code`. The code is spent by any attempt that names it,
    /// right or wrong; a spent code presented again revokes its grant.
    pub async fn exchange_code(
        &self,
        code: &str,
        client_id: &str,
        redirect_uri: Option<&str>,
        verifier: &str,
    ) -> Result<IssuedTokens, TokenError> {
        let id = grant_id(code).ok_or_else(|| TokenError::invalid_grant("the code is not one this server issued"))?;
        exclusive(&grant_key(id), self.now, self.spend_code(id, code, client_id, redirect_uri, verifier))
            .await
            .unwrap_or_else(|_| Err(TokenError::invalid_grant("the code is being redeemed by another request")))
    }

    async fn spend_code(
        &self,
        id: &str,
        code: &str,
        client_id: &str,
        redirect_uri: Option<&str>,
        verifier: &str,
    ) -> Result<IssuedTokens, TokenError> {
        let invalid = |text: &str| TokenError::invalid_grant(text);
        let Some(mut grant) = load_grant(self.store, id).await? else {
            return Err(invalid("the code is unknown, expired or already revoked"));
        };
        let hash = crypto::sha256_hex(code);
        if grant.used_code_hash.as_deref() == Some(hash.as_str()) {
            revoke_grant(self.store, id, &grant).await?;
            return Err(invalid("the code was already used; the authorization it produced is revoked"));
        }
        let Some(pending) = grant.code.take().filter(|pending| pending.hash == hash) else {
            return Err(invalid("the code is unknown, expired or already revoked"));
        };
        grant.used_code_hash = Some(hash);
        let refused = if pending.expires_at <= self.now {
            Some("the code expired; codes are valid for 60 seconds, start the authorization again")
        } else if grant.client_id != client_id {
            Some("the code was issued to another client")
        } else if pending.redirect_uri_sent && redirect_uri != Some(pending.redirect_uri.as_str())
            || redirect_uri.is_some_and(|uri| uri != pending.redirect_uri)
        {
            Some("redirect_uri differs from the one of the authorization request")
        } else if !crypto::same_secret(&crypto::pkce_s256(verifier), &pending.code_challenge) {
            Some("code_verifier does not match the code_challenge of the authorization request")
        } else {
            None
        };
        if let Some(reason) = refused {
            // Spent: the grant stays only to recognise a replay, as long as a code could live.
            save_grant(self.store, id, &grant, self.settings.oauth.code_ttl_s).await?;
            return Err(invalid(reason));
        }
        let data_key = match &pending.wrapped_key {
            Some(wrapped) => {
                Some(crypto::unwrap(wrapped, code).ok_or_else(|| invalid("the code does not open its grant"))?)
            }
            None => None,
        };
        self.issue_tokens(id, grant, data_key.as_ref()).await
    }

    /// `grant_type=refresh_token`, with rotation: the presented token is replaced, and
    /// presenting a replaced one revokes the grant. `scope` may narrow the grant's scope.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        client_id: &str,
        scope: Option<&[String]>,
    ) -> Result<IssuedTokens, TokenError> {
        let id = grant_id(refresh_token).ok_or_else(|| TokenError::invalid_grant(UNKNOWN_REFRESH_TOKEN))?;
        exclusive(&grant_key(id), self.now, self.rotate(id, refresh_token, client_id, scope))
            .await
            .unwrap_or_else(|_| Err(TokenError::invalid_grant("the refresh token is being used by another request")))
    }

    async fn rotate(
        &self,
        id: &str,
        refresh_token: &str,
        client_id: &str,
        scope: Option<&[String]>,
    ) -> Result<IssuedTokens, TokenError> {
        let invalid = |text: &str| TokenError::invalid_grant(text);
        let unknown = UNKNOWN_REFRESH_TOKEN;
        let Some(mut grant) = load_grant(self.store, id).await? else { return Err(invalid(unknown)) };
        let hash = crypto::sha256_hex(refresh_token);
        let Some(refresh) = grant.refresh.clone() else { return Err(invalid(unknown)) };
        if refresh.replaced_hashes.contains(&hash) {
            revoke_grant(self.store, id, &grant).await?;
            return Err(invalid("the refresh token was already used and replaced; the authorization is revoked"));
        }
        if refresh.hash != hash {
            return Err(invalid(unknown));
        }
        if grant.client_id != client_id {
            return Err(invalid("the refresh token was issued to another client"));
        }
        if !self.team_token_current(&grant.access) {
            revoke_grant(self.store, id, &grant).await?;
            return Err(invalid("the access token this authorization was made with has been withdrawn"));
        }
        if let Some(wanted) = scope {
            if let Some(extra) = wanted.iter().find(|s| !grant.scope.contains(s)) {
                return Err(TokenError::new("invalid_scope", &format!("scope `{extra}` was not granted")));
            }
            grant.scope = wanted.to_vec();
        }
        let data_key = match &refresh.wrapped_key {
            Some(wrapped) => Some(crypto::unwrap(wrapped, refresh_token).ok_or_else(|| invalid(unknown))?),
            None => None,
        };
        if let Some(old) = &grant.access_hash {
            self.store.delete(&token_key(old)).await?;
        }
        let mut replaced_hashes = refresh.replaced_hashes;
        replaced_hashes.push(hash);
        let excess = replaced_hashes.len().saturating_sub(REPLACED_REFRESH_TOKENS_KEPT);
        replaced_hashes.drain(..excess);
        grant.refresh = Some(RefreshState { replaced_hashes, ..refresh });
        self.issue_tokens(id, grant, data_key.as_ref()).await
    }

    async fn issue_tokens(
        &self,
        id: &str,
        mut grant: Grant,
        data_key: Option<&Key>,
    ) -> Result<IssuedTokens, TokenError> {
        let (access_token, refresh_token) = (new_token(id), new_token(id));
        let ttl = self.settings.oauth.access_token_ttl_s;
        let record = TokenRecord {
            grant_id: id.to_owned(),
            expires_at: self.now + ttl as i64,
            wrapped_key: data_key.map(|key| crypto::wrap(key, &access_token)),
        };
        let access_hash = crypto::sha256_hex(&access_token);
        let record = serde_json::to_string(&record).expect("token records serialise");
        self.store.put(&token_key(&access_hash), &record, Some(kv_ttl(ttl))).await?;
        let replaced_hashes = grant.refresh.take().map(|r| r.replaced_hashes).unwrap_or_default();
        grant.refresh = Some(RefreshState {
            hash: crypto::sha256_hex(&refresh_token),
            wrapped_key: data_key.map(|key| crypto::wrap(key, &refresh_token)),
            replaced_hashes,
        });
        grant.access_hash = Some(access_hash);
        save_grant(self.store, id, &grant, REFRESH_TTL_S).await?;
        Ok(IssuedTokens {
            access_token,
            token_type: "Bearer",
            expires_in: ttl,
            refresh_token,
            scope: grant.scope.join(" "),
        })
    }

    /// RFC 7009: an access or refresh token of `client_id` revokes its whole grant. Unknown
    /// tokens are not an error (the caller's goal, a dead token, holds).
    pub async fn revoke(&self, token: &str, client_id: &str) -> Result<(), TokenError> {
        let Some(id) = grant_id(token) else { return Ok(()) };
        exclusive(&grant_key(id), self.now, self.revoke_if_issued(id, token, client_id)).await.unwrap_or_else(|_| {
            Err(TokenError::new("temporarily_unavailable", "the grant is being changed by another request; try again"))
        })
    }

    async fn revoke_if_issued(&self, id: &str, token: &str, client_id: &str) -> Result<(), TokenError> {
        let Some(grant) = load_grant(self.store, id).await? else { return Ok(()) };
        let hash = crypto::sha256_hex(token);
        let is_refresh = grant.refresh.as_ref().is_some_and(|r| r.hash == hash);
        let is_access = grant.access_hash.as_deref() == Some(hash.as_str());
        if !(is_refresh || is_access) {
            return Ok(());
        }
        if grant.client_id != client_id {
            return Err(TokenError::new("unauthorized_client", "the token was issued to another client"));
        }
        Ok(revoke_grant(self.store, id, &grant).await?)
    }

    /// Whether the team token a grant was made with (if any) is still one of
    /// `MCP_ACCESS_TOKENS`: withdrawing a token ends its grants.
    fn team_token_current(&self, access: &Access) -> bool {
        let hash = match access {
            Access::Team { token_hash } => token_hash,
            Access::Personal { token_hash: Some(token_hash), .. } => token_hash,
            Access::Personal { token_hash: None, .. } => return true,
        };
        self.settings.access_tokens.hashes().any(|current| &current == hash)
    }

    /// The grant an access token stands for, with its Prefect credentials (`None` for a team
    /// grant: the Worker secrets apply); `None` when the token is unknown, expired, revoked,
    /// for another audience, or its team token was removed.
    pub async fn authenticate(&self, token: &str) -> Result<Option<GrantedAccess>, StoreError> {
        let Some(id) = grant_id(token) else { return Ok(None) };
        let hash = crypto::sha256_hex(token);
        let token_key = token_key(&hash);
        let (record, grant) = join(self.store.get(&token_key), load_grant(self.store, id)).await;
        let record: Option<TokenRecord> = record?.and_then(|text| serde_json::from_str(&text).ok());
        let (Some(record), Some(grant)) = (record, grant?) else { return Ok(None) };
        if record.grant_id != id || record.expires_at <= self.now || grant.resource != self.resource() {
            return Ok(None);
        }
        if !self.team_token_current(&grant.access) {
            return Ok(None);
        }
        let credentials = match &grant.access {
            Access::Team { .. } => None,
            Access::Personal { sealed_credentials, .. } => {
                let key = record.wrapped_key.as_deref().and_then(|wrapped| crypto::unwrap(wrapped, token));
                let opened = key.and_then(|key| crypto::open(&key, sealed_credentials, id.as_bytes()));
                let personal = opened.and_then(|bytes| serde_json::from_slice::<PersonalCredentials>(&bytes).ok());
                let Some(credentials) = personal.and_then(|p| p.credentials()) else { return Ok(None) };
                Some(credentials)
            }
        };
        // A team grant writes with the Worker's secrets: only when its token is a write token,
        // so that asking for the scope cannot lift a read-only token's limits.
        let writes = grant.scope.iter().any(|s| s == super::SCOPE_WRITE)
            && match &grant.access {
                Access::Team { token_hash } => self.settings.write_tokens.hashes().any(|hash| &hash == token_hash),
                Access::Personal { .. } => true,
            };
        Ok(Some(GrantedAccess { id: id.to_owned(), credentials, writes }))
    }
}
