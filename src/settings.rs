//! Deployment settings, read once per request from Worker vars and secrets.

use url::Url;

use crate::credentials::SecretCredentials;

/// Upstream requests that take longer than this fail with a timeout error.
pub const DEFAULT_UPSTREAM_TIMEOUT_MS: u32 = 15_000;
/// Prefect's public docs MCP server, behind the `docs_*` tools.
pub const DEFAULT_DOCS_MCP_URL: &str = "https://prefect-docs.fastmcp.app/mcp";

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
        }
    }
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
    fn docs_proxy_can_be_pointed_elsewhere_or_turned_off() {
        let docs = |value: &str| {
            Settings::from_lookup(|k| (k == "PREFECT_DOCS_MCP_URL").then(|| value.to_owned())).docs_mcp_url
        };
        assert_eq!(docs("http://127.0.0.1:9000/mcp").unwrap().as_str(), "http://127.0.0.1:9000/mcp");
        assert_eq!(docs("off"), None);
        assert_eq!(docs("not a url"), None);
    }
}
