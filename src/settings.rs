//! Deployment settings, read once per request from Worker vars and secrets.

use crate::credentials::SecretCredentials;

/// Upstream requests that take longer than this fail with a timeout error.
pub const DEFAULT_UPSTREAM_TIMEOUT_MS: u32 = 15_000;

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
    }
}
