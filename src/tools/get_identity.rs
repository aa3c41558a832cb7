//! `get_identity`: which Prefect API this connection talks to, and as whom.

use futures::try_join;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ToolError;
use super::args::WorkspaceId;
use super::registry::{Availability, ToolInfo, ToolTypes};
use super::toolsets::Toolset;
use super::{Envelope, ToolContext};
use crate::prefect::{CloudWorkspace, PrefectClient, PrefectError};
use crate::upstream::Fetch;

const DESCRIPTION: &str = "Show which Prefect API this connection uses and who you are there. On a \
self-hosted Prefect server: the API URL and the server's Prefect release. On Prefect Cloud: the account, \
workspace, plan limits and the user the API key belongs to. Use it first when other tools report \
authentication or URL problems.";

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub workspace_id: Option<WorkspaceId>,
}

#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct IdentityData {
    pub identity: Option<Identity>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Identity {
    Cloud(Box<CloudIdentity>),
    Server(ServerIdentity),
}

/// A self-hosted Prefect server.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ServerIdentity {
    pub api_url: String,
    /// The server's Prefect release, e.g. "3.9.1" (the REST API version on servers too old to report it).
    pub version: Option<String>,
}

/// A Prefect Cloud workspace.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CloudIdentity {
    pub api_url: String,
    pub account_id: String,
    pub account_name: Option<String>,
    pub workspace_id: String,
    pub workspace_name: Option<String>,
    pub workspace_description: Option<String>,
    pub user: Option<CloudUser>,
    pub plan_type: Option<String>,
    pub plan_tier: Option<i64>,
    pub features: Option<Vec<String>>,
    pub automations_limit: Option<i64>,
    pub work_pool_limit: Option<i64>,
    pub mex_work_pool_limit: Option<i64>,
    pub run_retention_days: Option<i64>,
    pub audit_log_retention_days: Option<i64>,
    pub self_serve: Option<bool>,
}

#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct CloudUser {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub handle: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Account {
    name: Option<String>,
    plan_type: Option<String>,
    plan_tier: Option<i64>,
    features: Option<Vec<String>>,
    automations_limit: Option<i64>,
    work_pool_limit: Option<i64>,
    mex_work_pool_limit: Option<i64>,
    run_retention_days: Option<i64>,
    audit_log_retention_days: Option<i64>,
    self_serve: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Workspace {
    name: Option<String>,
    description: Option<String>,
}

pub const TOOL: ToolInfo = ToolInfo {
    name: "get_identity",
    title: "Get Identity",
    description: DESCRIPTION,
    toolset: Some(Toolset::Overview),
    availability: Availability::Always,
    failure: "Failed to fetch identity: ",
    guide: "get_identity: which Prefect server or Cloud workspace this connection uses, its version, and who you are there.",
    types: ToolTypes::of::<Params, Envelope<IdentityData>>(),
};

pub async fn call<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> Result<IdentityData, ToolError> {
    let prefect = ctx.prefect(params.workspace_id).await?;
    let identity = match prefect.cloud_workspace() {
        Some(cloud) => Identity::Cloud(Box::new(cloud_identity(&prefect, cloud).await?)),
        None => Identity::Server(server_identity(&prefect).await?),
    };
    Ok(IdentityData { identity: Some(identity) })
}

async fn server_identity<F: Fetch>(prefect: &PrefectClient<'_, F>) -> Result<ServerIdentity, ToolError> {
    // `/admin/version` gives the Prefect release; servers without it still answer `/version`.
    let version = match prefect.get::<String>("admin/version").await {
        Err(PrefectError::NotFound { .. }) => prefect.get::<String>("version").await,
        other => other,
    }?;
    Ok(ServerIdentity { api_url: prefect.api_url().to_owned(), version: Some(version) })
}

async fn cloud_identity<F: Fetch>(
    prefect: &PrefectClient<'_, F>,
    cloud: CloudWorkspace,
) -> Result<CloudIdentity, ToolError> {
    super::require_cloud_api_key(prefect)?;
    let account_path = format!("accounts/{}", cloud.account_id);
    let workspace_path = format!("{account_path}/workspaces/{}", cloud.workspace_id);
    let (user, account, workspace) = try_join!(
        prefect.get_url::<CloudUser>(cloud.account_url("me/")),
        prefect.get_url::<Account>(cloud.account_url(&account_path)),
        prefect.get_url::<Workspace>(cloud.account_url(&workspace_path)),
    )?;
    Ok(CloudIdentity {
        api_url: prefect.api_url().to_owned(),
        account_id: cloud.account_id,
        account_name: account.name,
        workspace_id: cloud.workspace_id,
        workspace_name: workspace.name,
        workspace_description: workspace.description,
        user: Some(user),
        plan_type: account.plan_type,
        plan_tier: account.plan_tier,
        features: account.features,
        automations_limit: account.automations_limit,
        work_pool_limit: account.work_pool_limit,
        mex_work_pool_limit: account.mex_work_pool_limit,
        run_retention_days: account.run_retention_days,
        audit_log_retention_days: account.audit_log_retention_days,
        self_serve: account.self_serve,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::credentials::{Authorization, Credentials, Source};
    use crate::prefect::testing::FakeUpstream;
    use crate::tools::ToolContext;
    use serde_json::json;

    #[test]
    fn server_identity_reports_the_release() {
        let fake = FakeUpstream::new().on("GET", "/api/admin/version", 200, json!("3.9.1"));
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_identity", json!({}));
        assert_eq!(
            structured(&result),
            &json!({"success": true, "identity": {"api_url": "http://127.0.0.1:4200/api", "version": "3.9.1"}, "error": null})
        );
        assert_eq!(ctx.upstream_requests(), 1);
    }

    #[test]
    fn falls_back_to_the_api_version_on_old_servers() {
        let fake = FakeUpstream::new().on("GET", "/api/version", 200, json!("0.8.4"));
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_identity", json!({}));
        assert_eq!(structured(&result)["identity"]["version"], json!("0.8.4"));
    }

    #[test]
    fn cloud_identity_uses_account_level_endpoints() {
        let fake = FakeUpstream::new()
            .on(
                "GET",
                "/api/me/",
                200,
                json!({"id": "u1", "email": "a@b.c", "handle": "ab", "first_name": "A", "last_name": null}),
            )
            .on(
                "GET",
                "/api/accounts/acc",
                200,
                json!({"name": "Acme", "plan_type": "PRO", "plan_tier": 2, "features": ["x"], "self_serve": true}),
            )
            .on("GET", "/api/accounts/acc/workspaces/ws", 200, json!({"name": "prod", "description": "Production"}));
        let credentials = Credentials {
            api_url: url::Url::parse("https://cloud.test/api/accounts/acc/workspaces/ws").unwrap(),
            authorization: Authorization::bearer("pnu_key"),
            source: Source::Headers,
        };
        let ctx = ToolContext::new(Ok(credentials), &fake, 1000, crate::clock::now());
        let result = run(&ctx, "get_identity", json!({}));
        let identity = &structured(&result)["identity"];
        assert_eq!(identity["account_name"], json!("Acme"));
        assert_eq!(identity["workspace_name"], json!("prod"));
        assert_eq!(identity["user"]["email"], json!("a@b.c"));
        assert_eq!(identity["plan_tier"], json!(2));
        assert_eq!(identity["work_pool_limit"], json!(null));
        assert!(identity.get("version").is_none());
        assert!(fake.requests().iter().all(|r| r.headers()["authorization"] == "Bearer pnu_key"));
        assert_eq!(ctx.upstream_requests(), 3);
    }

    #[test]
    fn cloud_without_a_key_asks_for_one() {
        let fake = FakeUpstream::new();
        let ctx = context(&fake, "https://cloud.test/api/accounts/acc/workspaces/ws");
        let result = run(&ctx, "get_identity", json!({}));
        assert!(structured(&result)["error"].as_str().unwrap().contains("X-Prefect-Api-Key"));
        assert!(fake.requests().is_empty());
    }
}
