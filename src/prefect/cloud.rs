//! Prefect Cloud URL structure: `{root}/accounts/{account}/workspaces/{workspace}`.

use url::Url;

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
        self.account_url(&format!("accounts/{}/workspaces/{workspace_id}", self.account_id))
    }

    /// An account-level endpoint such as `me/` or `accounts/{id}`.
    pub fn account_url(&self, path: &str) -> Url {
        let mut url = self.root.clone();
        url.set_path(&format!("{}/{}", self.root.path().trim_end_matches('/'), path));
        url
    }
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
}
