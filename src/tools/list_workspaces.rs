//! `list_workspaces` (Prefect Cloud only): every workspace the API key reaches, in every
//! account, by id and by handle, marking the one this connection reads from.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::registry::{Availability, ToolInfo, ToolTypes};
use super::toolsets::Toolset;
use super::{Envelope, ToolContext, ToolError};
use crate::prefect::{WorkspaceAccess, reachable_workspaces};
use crate::upstream::Fetch;

const DESCRIPTION: &str = "Prefect Cloud only: list the workspaces this API key can reach, across all \
of its accounts, with the account and workspace ids, handles and names. The workspace this connection \
reads from by default has in_use true. Pass a workspace's UUID or its handle (\"account-handle/workspace-handle\") \
as workspace_id to any other tool to read that workspace instead.";

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {}

#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct WorkspaceList {
    pub workspaces: Vec<ListedWorkspace>,
    pub count: usize,
}

/// A workspace the API key reaches, with its handle and whether this connection uses it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ListedWorkspace {
    /// `<account-handle>/<workspace-handle>`, accepted as `workspace_id`.
    pub handle: String,
    /// Whether this is the workspace of the connection's API URL.
    pub in_use: bool,
    #[serde(flatten)]
    pub workspace: WorkspaceAccess,
}

pub const TOOL: ToolInfo = ToolInfo {
    name: "list_workspaces",
    title: "List Workspaces",
    description: DESCRIPTION,
    toolset: Some(Toolset::Cloud),
    availability: Availability::PrefectCloud,
    failure: "Failed to list workspaces: ",
    guide: "list_workspaces (Prefect Cloud only): the workspaces your key reaches; any tool's workspace_id takes one's UUID or account/workspace handle.",
    types: ToolTypes::of::<Params, Envelope<WorkspaceList>>(),
};

pub async fn call<F: Fetch>(ctx: &ToolContext<'_, F>, _: Params) -> Result<WorkspaceList, ToolError> {
    let prefect = ctx.prefect(None).await?;
    let cloud = prefect.cloud_workspace().ok_or_else(|| {
        ToolError::NotApplicable(format!(
            "workspaces exist only on Prefect Cloud, and {} is not a Prefect Cloud workspace URL \
             (…/api/accounts/<account>/workspaces/<workspace>); a self-hosted server has just the one",
            prefect.api_url()
        ))
    })?;
    super::require_cloud_api_key(&prefect)?;
    let workspaces: Vec<ListedWorkspace> = reachable_workspaces(&prefect, &cloud)
        .await?
        .into_iter()
        .map(|workspace| ListedWorkspace { handle: workspace.handle(), in_use: cloud.is(&workspace), workspace })
        .collect();
    Ok(WorkspaceList { count: workspaces.len(), workspaces })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::credentials::{Authorization, Credentials, Source};
    use crate::prefect::testing::FakeUpstream;
    use crate::tools::ToolContext;
    use serde_json::{Value, json};

    const ID: &str = "5f3b3c1e-8f7a-4c2e-9d7b-1a2b3c4d5e6f";

    fn access(account: &str, account_handle: &str, workspace: &str, workspace_handle: &str) -> Value {
        json!({"account_id": account, "account_handle": account_handle, "account_name": account_handle.to_uppercase(),
               "workspace_id": workspace, "workspace_handle": workspace_handle, "workspace_name": null,
               "workspace_description": null})
    }

    /// A Cloud whose key reaches `acme/prod`, `acme/dev` and `labs/sandbox`.
    fn cloud() -> FakeUpstream {
        FakeUpstream::new().on(
            "GET",
            "/api/me/workspaces",
            200,
            json!([
                access("acc", "acme", "ws", "prod"),
                access("acc", "acme", ID, "dev"),
                access("acc2", "labs", "ws2", "sandbox")
            ]),
        )
    }

    fn cloud_context(fake: &FakeUpstream) -> ToolContext<'_, FakeUpstream> {
        let credentials = Credentials {
            api_url: url::Url::parse("https://cloud.test/api/accounts/acc/workspaces/ws").unwrap(),
            authorization: Authorization::bearer("pnu_key"),
            source: Source::Headers,
        };
        ToolContext::new(Ok(credentials), fake, 1000, crate::clock::now())
    }

    #[test]
    fn lists_every_account_and_marks_the_workspace_in_use() {
        let fake = cloud();
        let ctx = cloud_context(&fake);
        let result = run(&ctx, "list_workspaces", json!({}));
        let answer = structured(&result);
        assert_eq!(answer["count"], json!(3), "{answer}");
        let listed: Vec<(&str, bool)> = answer["workspaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| (w["handle"].as_str().unwrap(), w["in_use"].as_bool().unwrap()))
            .collect();
        assert_eq!(listed, [("acme/prod", true), ("acme/dev", false), ("labs/sandbox", false)]);
        assert_eq!(answer["workspaces"][2]["account_id"], json!("acc2"));
        assert_eq!(answer["workspaces"][2]["account_name"], json!("LABS"));
        assert_eq!(ctx.upstream_requests(), 1);
    }

    #[test]
    fn handles_resolve_to_the_workspace_in_any_account() {
        let fake = cloud().on("POST", "/api/accounts/acc2/workspaces/ws2/flows/filter", 200, json!([]));
        let ctx = cloud_context(&fake);
        let result = run(&ctx, "get_flows", json!({"workspace_id": "labs/Sandbox"}));
        assert_eq!(structured(&result)["success"], json!(true), "{result:?}");
        assert_eq!(ctx.upstream_requests(), 2);
    }

    #[test]
    fn an_unknown_handle_lists_the_choices() {
        let fake = cloud();
        let ctx = cloud_context(&fake);
        let result = run(&ctx, "get_flows", json!({"workspace_id": "acme/staging"}));
        assert_eq!(result.is_error, Some(true));
        let error = structured(&result)["error"].as_str().unwrap().to_owned();
        assert!(error.contains("no workspace acme/staging"), "{error}");
        assert!(error.contains("acme/prod, acme/dev, labs/sandbox"), "{error}");
        assert_eq!(ctx.upstream_requests(), 1);
    }

    #[test]
    fn a_uuid_needs_no_listing() {
        let fake = cloud().on("POST", &format!("/api/accounts/acc/workspaces/{ID}/flows/filter"), 200, json!([]));
        let ctx = cloud_context(&fake);
        let result = run(&ctx, "get_flows", json!({"workspace_id": ID}));
        assert_eq!(structured(&result)["success"], json!(true), "{result:?}");
        assert_eq!(ctx.upstream_requests(), 1);
    }

    #[test]
    fn handles_and_the_tool_need_prefect_cloud() {
        let fake = cloud();
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let error = structured(&run(&ctx, "get_flows", json!({"workspace_id": "acme/prod"})))["error"].to_string();
        assert!(error.contains("only applies to Prefect Cloud"), "{error}");
        let result = run(&ctx, "list_workspaces", json!({}));
        assert_eq!(result.is_error, Some(true));
        let error = structured(&result)["error"].as_str().unwrap().to_owned();
        assert!(error.starts_with("Failed to list workspaces: workspaces exist only on Prefect Cloud"), "{error}");
        assert!(fake.requests().is_empty());
    }

    #[test]
    fn handles_without_an_api_key_ask_for_one() {
        let fake = cloud();
        let ctx = context(&fake, "https://cloud.test/api/accounts/acc/workspaces/ws");
        let error = structured(&run(&ctx, "get_flows", json!({"workspace_id": "acme/dev"})))["error"].to_string();
        assert!(error.contains("X-Prefect-Api-Key"), "{error}");
        assert!(fake.requests().is_empty());
    }
}
