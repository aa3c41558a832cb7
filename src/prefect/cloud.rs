//! Prefect Cloud URL structure: `{root}/accounts/{account}/workspaces/{workspace}`, and the
//! workspaces an API key reaches.

use serde::{Deserialize, Serialize};
use url::Url;

use super::PrefectClient;
use super::error::PrefectError;
use crate::upstream::Fetch;

/// The account-level API root plus the account and workspace of a Cloud workspace URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudWorkspace {
    /// Account-level API root, e.g. `https://api.prefect.cloud/api`.
    pub root: Url,
    pub account_id: String,
    pub workspace_id: String,
}

impl CloudWorkspace {
    /// Recognises any id length (the ids are opaque here; Cloud validates them).
    pub fn from_api_url(api_url: &Url) -> Option<Self> {
        let segments: Vec<&str> = api_url.path_segments()?.filter(|s| !s.is_empty()).collect();
        let at = segments.windows(4).position(|w| w[0] == "accounts" && w[2] == "workspaces")?;
        let mut root = api_url.clone();
        root.set_path(&segments[..at].join("/"));
        Some(CloudWorkspace {
            root,
            account_id: segments[at + 1].to_owned(),
            workspace_id: segments[at + 3].to_owned(),
        })
    }

    /// The API URL of another workspace in the same account.
    pub fn workspace_api_url(&self, workspace_id: &str) -> Url {
        self.api_url_of(&self.account_id, workspace_id)
    }

    /// The API URL of a workspace in any account on the same Cloud.
    pub fn api_url_of(&self, account_id: &str, workspace_id: &str) -> Url {
        self.account_url(&format!("accounts/{account_id}/workspaces/{workspace_id}"))
    }

    /// Whether `access` is this workspace.
    pub fn is(&self, access: &WorkspaceAccess) -> bool {
        access.account_id == self.account_id && access.workspace_id == self.workspace_id
    }

    /// An account-level endpoint such as `me/` or `accounts/{id}`.
    pub fn account_url(&self, path: &str) -> Url {
        let mut url = self.root.clone();
        url.set_path(&format!("{}/{}", self.root.path().trim_end_matches('/'), path));
        url
    }
}

/// One workspace an API key reaches, as Cloud's `GET /me/workspaces` lists it.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
pub struct WorkspaceAccess {
    pub account_id: String,
    pub account_handle: String,
    pub account_name: Option<String>,
    pub workspace_id: String,
    pub workspace_handle: String,
    pub workspace_name: Option<String>,
    pub workspace_description: Option<String>,
}

impl WorkspaceAccess {
    /// `<account-handle>/<workspace-handle>`, how a `workspace_id` argument can name it.
    pub fn handle(&self) -> String {
        format!("{}/{}", self.account_handle, self.workspace_handle)
    }

    /// Whether the handles are `account`/`workspace`; handles are lowercase in Cloud, so any case matches.
    pub fn has_handles(&self, account: &str, workspace: &str) -> bool {
        self.account_handle.eq_ignore_ascii_case(account) && self.workspace_handle.eq_ignore_ascii_case(workspace)
    }
}

/// Every workspace the client's API key reaches, in every account (one request).
pub async fn reachable_workspaces<F: Fetch>(
    prefect: &PrefectClient<'_, F>,
    cloud: &CloudWorkspace,
) -> Result<Vec<WorkspaceAccess>, PrefectError> {
    prefect.get_url(cloud.account_url("me/workspaces")).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_workspace_urls_with_any_id_length() {
        let url = Url::parse("https://api.prefect.cloud/api/accounts/short/workspaces/ids").unwrap();
        let cloud = CloudWorkspace::from_api_url(&url).unwrap();
        assert_eq!(cloud.account_id, "short");
        assert_eq!(cloud.workspace_id, "ids");
        assert_eq!(cloud.account_url("me/").as_str(), "https://api.prefect.cloud/api/me/");
        assert_eq!(
            cloud.workspace_api_url("other").as_str(),
            "https://api.prefect.cloud/api/accounts/short/workspaces/other"
        );
    }

    #[test]
    fn oss_urls_are_not_cloud() {
        assert!(CloudWorkspace::from_api_url(&Url::parse("http://127.0.0.1:4200/api").unwrap()).is_none());
        assert!(CloudWorkspace::from_api_url(&Url::parse("http://h/api/accounts/a").unwrap()).is_none());
    }

    #[test]
    fn workspace_access_names_itself_by_handles() {
        let access: WorkspaceAccess = serde_json::from_value(serde_json::json!({
            "account_id": "a1", "account_handle": "acme", "account_name": "Acme",
            "workspace_id": "w1", "workspace_handle": "prod", "workspace_name": "Production",
            "workspace_description": null
        }))
        .unwrap();
        assert_eq!(access.handle(), "acme/prod");
        assert!(access.has_handles("ACME", "Prod") && !access.has_handles("acme", "dev"));
        let url = Url::parse("https://api.prefect.cloud/api/accounts/a1/workspaces/w1").unwrap();
        let cloud = CloudWorkspace::from_api_url(&url).unwrap();
        assert!(cloud.is(&access));
        assert_eq!(cloud.api_url_of("a2", "w2").as_str(), "https://api.prefect.cloud/api/accounts/a2/workspaces/w2");
    }
}
