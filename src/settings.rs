//! Deployment settings, read once per request from Worker vars and secrets.

use std::fmt;

use url::Url;

use crate::auth_tokens::AccessTokens;

/// Upstream requests that take longer than this fail with a timeout error.
const DEFAULT_UPSTREAM_TIMEOUT_MS: u32 = 15_000;
/// The window of the rate-limit binding, when `RATE_LIMIT_PERIOD_SECONDS` does not say.
const DEFAULT_RATE_LIMIT_PERIOD_S: u32 = 60;
/// OAuth access tokens expire after this long unless `OAUTH_ACCESS_TOKEN_TTL_SECONDS` says.
const DEFAULT_OAUTH_ACCESS_TOKEN_TTL_S: u64 = 3600;
/// The longest an authorization code lives (also the default).
const MAX_OAUTH_CODE_TTL_S: u64 = 60;
/// Prefect's public docs MCP server, behind the `docs_*` tools.
const DEFAULT_DOCS_MCP_URL: &str = "https://prefect-docs.fastmcp.app/mcp";

/// Everything the endpoint needs to know about its deployment.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Prefect credentials configured as Worker secrets (`PREFECT_API_*`).
    pub secrets: SecretCredentials,
    /// Browser origins allowed to call `/mcp` besides loopback ones (`MCP_ALLOWED_ORIGINS`),
    /// e.g. `https://inspector.example.com`.
    pub allowed_origins: Vec<String>,
    /// Host names (optionally `host:port`) the endpoint answers for
    /// (`MCP_ALLOWED_HOSTS`); empty means any host. Guards local servers against DNS
    /// rebinding, where a browser page reaches 127.0.0.1 under a foreign name.
    pub allowed_hosts: Vec<String>,
    /// Timeout for each upstream request in milliseconds (`UPSTREAM_TIMEOUT_MS`).
    pub upstream_timeout_ms: u32,
    /// The docs MCP server the `docs_*` tools forward to (`PREFECT_DOCS_MCP_URL`, default
    /// [`DEFAULT_DOCS_MCP_URL`]); `None` (the value `off`, or a value that is not an
    /// http(s) URL) leaves those tools out.
    pub docs_mcp_url: Option<Url>,
    /// Bearer tokens callers must present on `/mcp` (`MCP_ACCESS_TOKENS` and
    /// `MCP_WRITE_TOKENS` secrets); empty means no access gate.
    pub access_tokens: AccessTokens,
    /// `ALLOW_WRITES=true`: the action tools (run a deployment, cancel or retry a run, …)
    /// exist, for the callers [`Settings::write_tokens`] and the write rules allow.
    pub allow_writes: bool,
    /// Bearer tokens whose holders may use the action tools with the Worker's Prefect
    /// secrets (`MCP_WRITE_TOKENS` secret); they open `/mcp` like access tokens.
    pub write_tokens: AccessTokens,
    /// `ALLOW_UNAUTHENTICATED=true`: the operator accepts that, without access tokens,
    /// anyone who can reach this Worker may use its Prefect secrets (private deployments).
    pub allow_unauthenticated: bool,
    /// Which `X-Prefect-Api-Url` header values are acceptable (`ALLOW_PRIVATE_PREFECT_URLS`,
    /// `PREFECT_API_HOSTS`).
    pub url_policy: UrlPolicy,
    /// The `period` of the `MCP_RATE_LIMITER` binding (`RATE_LIMIT_PERIOD_SECONDS`: 10 or
    /// 60, the periods Cloudflare supports; default 60), sent as `Retry-After` when a client
    /// goes over the limit.
    pub rate_limit_period_s: u32,
    /// The OAuth authorization server's settings (used when the `OAUTH_KV` binding exists).
    pub oauth: OAuthSettings,
}

#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// `OAUTH_ACCESS_TOKEN_TTL_SECONDS` (default 3600).
    pub access_token_ttl_s: u64,
    /// `OAUTH_CODE_TTL_SECONDS`: at most and by default 60.
    pub code_ttl_s: u64,
    /// `OAUTH_ALLOW_PERSONAL_CREDENTIALS=true`: the consent page offers entering one's own
    /// Prefect credentials also on a Worker with Prefect secrets or access tokens.
    pub allow_personal_credentials: bool,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        OAuthSettings {
            access_token_ttl_s: DEFAULT_OAUTH_ACCESS_TOKEN_TTL_S,
            code_ttl_s: MAX_OAUTH_CODE_TTL_S,
            allow_personal_credentials: false,
        }
    }
}

impl Settings {
    /// Builds settings from a variable lookup (Worker vars/secrets, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let non_empty = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let list = |name: &str| {
            non_empty(name)
                .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let flag = |name: &str| non_empty(name).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        Settings {
            secrets: SecretCredentials {
                api_url: non_empty("PREFECT_API_URL"),
                api_key: non_empty("PREFECT_API_KEY"),
                auth_string: non_empty("PREFECT_API_AUTH_STRING"),
            },
            allowed_origins: list("MCP_ALLOWED_ORIGINS"),
            allowed_hosts: list("MCP_ALLOWED_HOSTS"),
            upstream_timeout_ms: non_empty("UPSTREAM_TIMEOUT_MS")
                .and_then(|v| v.parse().ok())
                .filter(|ms| *ms > 0)
                .unwrap_or(DEFAULT_UPSTREAM_TIMEOUT_MS),
            docs_mcp_url: match non_empty("PREFECT_DOCS_MCP_URL") {
                Some(v) if v.eq_ignore_ascii_case("off") => None,
                Some(v) => Url::parse(&v).ok().filter(|u| matches!(u.scheme(), "http" | "https")),
                None => Url::parse(DEFAULT_DOCS_MCP_URL).ok(),
            },
            access_tokens: AccessTokens::new([list("MCP_ACCESS_TOKENS"), list("MCP_WRITE_TOKENS")].concat()),
            allow_writes: flag("ALLOW_WRITES"),
            write_tokens: AccessTokens::new(list("MCP_WRITE_TOKENS")),
            allow_unauthenticated: flag("ALLOW_UNAUTHENTICATED"),
            url_policy: UrlPolicy {
                allow_private: flag("ALLOW_PRIVATE_PREFECT_URLS"),
                api_hosts: list("PREFECT_API_HOSTS")
                    .into_iter()
                    .map(|h: String| h.trim_end_matches('.').to_ascii_lowercase())
                    .collect(),
            },
            rate_limit_period_s: match non_empty("RATE_LIMIT_PERIOD_SECONDS").as_deref() {
                Some("10") => 10,
                _ => DEFAULT_RATE_LIMIT_PERIOD_S,
            },
            oauth: OAuthSettings {
                access_token_ttl_s: non_empty("OAUTH_ACCESS_TOKEN_TTL_SECONDS")
                    .and_then(|v| v.parse().ok())
                    .filter(|s| *s > 0)
                    .unwrap_or(DEFAULT_OAUTH_ACCESS_TOKEN_TTL_S),
                code_ttl_s: non_empty("OAUTH_CODE_TTL_SECONDS")
                    .and_then(|v| v.parse().ok())
                    .filter(|s| *s > 0)
                    .map_or(MAX_OAUTH_CODE_TTL_S, |s: u64| s.min(MAX_OAUTH_CODE_TTL_S)),
                allow_personal_credentials: flag("OAUTH_ALLOW_PERSONAL_CREDENTIALS"),
            },
        }
    }

    /// Whether requests may use the Worker's Prefect secrets: only behind the access gate,
    /// or when the operator explicitly opted out of it.
    pub fn secrets_usable(&self) -> bool {
        !self.access_tokens.is_empty() || self.allow_unauthenticated
    }

    /// The Worker's Prefect secrets, as key material: confirmation tokens are signed with
    /// keys derived from them and the caller's credentials.
    pub fn secret_material(&self) -> Vec<u8> {
        [&self.secrets.api_key, &self.secrets.auth_string]
            .into_iter()
            .flat_map(|secret| [secret.as_deref().unwrap_or_default().as_bytes(), b"\0"])
            .flatten()
            .copied()
            .collect()
    }
}

/// Prefect credentials configured as Worker secrets.
#[derive(Clone, Default)]
pub struct SecretCredentials {
    pub api_url: Option<String>,
    pub api_key: Option<String>,
    pub auth_string: Option<String>,
}

impl fmt::Debug for SecretCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretCredentials")
            .field("api_url", &self.api_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("auth_string", &self.auth_string.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Which `X-Prefect-Api-Url` values a deployment accepts. The `PREFECT_API_URL` secret is
/// operator-controlled and not subject to it.
#[derive(Debug, Clone, Default)]
pub struct UrlPolicy {
    /// `ALLOW_PRIVATE_PREFECT_URLS=true`: plain `http` and loopback, private, link-local
    /// and other non-public hosts are allowed (local development, private networks).
    pub allow_private: bool,
    /// `PREFECT_API_HOSTS`: when not empty, header URLs must name one of these hosts
    /// (lower case, compared exactly).
    pub api_hosts: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn reads_lists_and_ignores_blank_values() {
        let vars: HashMap<&str, &str> = HashMap::from([
            ("PREFECT_API_URL", " http://127.0.0.1:4200/api "),
            ("PREFECT_API_KEY", ""),
            ("MCP_ALLOWED_HOSTS", "localhost, 127.0.0.1:8787,,"),
            ("UPSTREAM_TIMEOUT_MS", "nope"),
        ]);
        let settings = Settings::from_lookup(|k| vars.get(k).map(|v| v.to_string()));
        assert_eq!(settings.secrets.api_url.as_deref(), Some("http://127.0.0.1:4200/api"));
        assert_eq!(settings.secrets.api_key, None);
        assert_eq!(settings.allowed_hosts, vec!["localhost", "127.0.0.1:8787"]);
        assert_eq!(settings.upstream_timeout_ms, DEFAULT_UPSTREAM_TIMEOUT_MS);
        assert_eq!(settings.docs_mcp_url.unwrap().as_str(), DEFAULT_DOCS_MCP_URL);
    }

    #[test]
    fn security_settings_are_off_unless_set_to_true() {
        let settings = Settings::from_lookup(|_| None);
        assert!(settings.access_tokens.is_empty() && !settings.allow_unauthenticated && !settings.secrets_usable());
        assert!(!settings.url_policy.allow_private && settings.url_policy.api_hosts.is_empty());

        let vars: HashMap<&str, &str> =
            HashMap::from([("ALLOW_UNAUTHENTICATED", "yes"), ("ALLOW_PRIVATE_PREFECT_URLS", "1")]);
        let settings = Settings::from_lookup(|k| vars.get(k).map(|v| v.to_string()));
        assert!(!settings.allow_unauthenticated && !settings.url_policy.allow_private);

        let vars: HashMap<&str, &str> = HashMap::from([
            ("MCP_ACCESS_TOKENS", " tok-a , ,tok-b,"),
            ("ALLOW_UNAUTHENTICATED", "TRUE"),
            ("ALLOW_PRIVATE_PREFECT_URLS", " true "),
            ("PREFECT_API_HOSTS", "API.Prefect.Cloud., prefect.example.com"),
        ]);
        let settings = Settings::from_lookup(|k| vars.get(k).map(|v| v.to_string()));
        assert_eq!(settings.access_tokens.len(), 2);
        assert!(settings.allow_unauthenticated && settings.url_policy.allow_private && settings.secrets_usable());
        assert_eq!(settings.url_policy.api_hosts, vec!["api.prefect.cloud", "prefect.example.com"]);
    }

    #[test]
    fn access_tokens_alone_make_secrets_usable_and_stay_out_of_debug_output() {
        let settings = Settings::from_lookup(|k| (k == "MCP_ACCESS_TOKENS").then(|| "s3cret-token".to_owned()));
        assert!(settings.secrets_usable());
        assert!(!format!("{settings:?}").contains("s3cret-token"));
    }

    #[test]
    fn rate_limit_period_is_one_of_the_supported_windows() {
        let period = |value: &str| {
            Settings::from_lookup(|k| (k == "RATE_LIMIT_PERIOD_SECONDS").then(|| value.to_owned())).rate_limit_period_s
        };
        assert_eq!((period("10"), period(" 60 "), period("30"), period("")), (10, 60, 60, 60));
    }

    #[test]
    fn oauth_lifetimes_and_personal_credentials() {
        let settings = Settings::from_lookup(|_| None);
        assert_eq!(settings.oauth.access_token_ttl_s, DEFAULT_OAUTH_ACCESS_TOKEN_TTL_S);
        assert_eq!(settings.oauth.code_ttl_s, MAX_OAUTH_CODE_TTL_S);
        assert!(!settings.oauth.allow_personal_credentials);
        let vars: HashMap<&str, &str> = HashMap::from([
            ("OAUTH_ACCESS_TOKEN_TTL_SECONDS", "120"),
            ("OAUTH_CODE_TTL_SECONDS", "3600"),
            ("OAUTH_ALLOW_PERSONAL_CREDENTIALS", "true"),
        ]);
        let settings = Settings::from_lookup(|k| vars.get(k).map(|v| v.to_string()));
        assert_eq!((settings.oauth.access_token_ttl_s, settings.oauth.code_ttl_s), (120, MAX_OAUTH_CODE_TTL_S));
        assert!(settings.oauth.allow_personal_credentials);
        let vars: HashMap<&str, &str> =
            HashMap::from([("OAUTH_ACCESS_TOKEN_TTL_SECONDS", "0"), ("OAUTH_CODE_TTL_SECONDS", "5")]);
        let settings = Settings::from_lookup(|k| vars.get(k).map(|v| v.to_string()));
        assert_eq!(
            (settings.oauth.access_token_ttl_s, settings.oauth.code_ttl_s),
            (DEFAULT_OAUTH_ACCESS_TOKEN_TTL_S, 5)
        );
    }

    #[test]
    fn docs_proxy_can_be_pointed_elsewhere_or_turned_off() {
        let docs = |value: &str| {
            Settings::from_lookup(|k| (k == "PREFECT_DOCS_MCP_URL").then(|| value.to_owned())).docs_mcp_url
        };
        assert_eq!(docs("http://127.0.0.1:9000/mcp").unwrap().as_str(), "http://127.0.0.1:9000/mcp");
        assert_eq!(docs("off"), None);
        assert_eq!(docs("not a url"), None);
    }
}
