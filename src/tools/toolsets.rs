//! Toolsets: named groups of tools a connection can choose (`X-MCP-Toolsets: runs,events`)
//! to keep its tool list, and so the model's context, short.

pub const HEADER: &str = "x-mcp-toolsets";

const TOOLSETS: &[(&str, &[&str])] = &[
    ("overview", &["get_identity", "get_dashboard"]),
    ("deployments", &["get_deployments", "get_flows"]),
    ("runs", &["get_flow_runs", "get_flow_run_logs", "get_task_runs"]),
    ("infrastructure", &["get_work_pools"]),
    ("events", &["read_events", "get_automations", "get_object_schema"]),
    ("diagnosis", &["diagnose_flow_run", "diagnose_deployment"]),
    ("cloud", &["review_rate_limits"]),
    ("docs", &["docs_search_prefect", "docs_get_release_notes"]),
];

/// Kept whatever is chosen: it explains the rest.
const ALWAYS: &[&str] = &["orientation"];

/// The tools a connection chose; the default is every tool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection(Option<Vec<&'static str>>);

impl Selection {
    /// Parses the header value: comma-separated toolset names, case-insensitive.
    pub fn parse(header: Option<&str>) -> Result<Self, String> {
        let Some(header) = header.map(str::trim).filter(|h| !h.is_empty()) else {
            return Ok(Selection(None));
        };
        let mut tools = ALWAYS.to_vec();
        for name in header.split(',').map(|n| n.trim().to_ascii_lowercase()).filter(|n| !n.is_empty()) {
            let (_, members) = TOOLSETS.iter().find(|(set, _)| *set == name).ok_or_else(|| {
                let known: Vec<_> = TOOLSETS.iter().map(|(set, _)| *set).collect();
                format!("unknown toolset `{name}` in X-MCP-Toolsets; available: {}", known.join(", "))
            })?;
            tools.extend_from_slice(members);
        }
        Ok(Selection(Some(tools)))
    }

    pub fn allows(&self, tool: &str) -> bool {
        self.0.as_ref().is_none_or(|tools| tools.contains(&tool))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_header_allows_everything() {
        assert!(Selection::parse(None).unwrap().allows("get_flows"));
        assert!(Selection::parse(Some(" ")).unwrap().allows("read_events"));
    }

    #[test]
    fn chosen_sets_and_orientation_only() {
        let selection = Selection::parse(Some("Runs, events")).unwrap();
        for tool in ["orientation", "get_flow_runs", "get_task_runs", "read_events", "get_automations"] {
            assert!(selection.allows(tool), "{tool}");
        }
        assert!(!selection.allows("get_deployments"));
    }

    #[test]
    fn unknown_sets_are_named_with_the_available_ones() {
        let err = Selection::parse(Some("runs,bogus")).unwrap_err();
        assert!(err.starts_with("unknown toolset `bogus`") && err.contains("overview, deployments, runs"), "{err}");
    }

    #[test]
    fn every_listed_tool_exists() {
        let fake = crate::prefect::testing::FakeUpstream::new();
        let ctx = super::super::testing::context(&fake, "https://cloud.test/api/accounts/a/workspaces/w")
            .with_docs_url(Some(url::Url::parse("http://127.0.0.1:9/mcp").unwrap()));
        let names: Vec<String> = super::super::definitions(&ctx).iter().map(|t| t.name.to_string()).collect();
        for tool in TOOLSETS.iter().flat_map(|(_, tools)| tools.iter()).chain(ALWAYS) {
            assert!(names.iter().any(|n| n == tool), "{tool}");
        }
        assert_eq!(names.len(), TOOLSETS.iter().map(|(_, t)| t.len()).sum::<usize>() + ALWAYS.len());
    }
}
