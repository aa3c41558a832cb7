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
        Self::choose(None, header)
    }

    /// The selection of a request that may name toolsets in its URL path (`/mcp/x/<sets>`)
    /// and in the header. Both forms mean the same; when both are given they must name the
    /// same toolsets.
    pub fn choose(path: Option<&str>, header: Option<&str>) -> Result<Self, String> {
        let from_path = path.map(|list| names(list, "the URL path /mcp/x/…")).transpose()?;
        let from_header =
            header.map(str::trim).filter(|h| !h.is_empty()).map(|list| names(list, "X-MCP-Toolsets")).transpose()?;
        let chosen = match (from_path, from_header) {
            (Some(path), Some(header)) if path != header => {
                return Err(format!(
                    "the URL path selects toolsets `{}` but the X-MCP-Toolsets header selects `{}`; send one of \
                     them, or make both name the same toolsets",
                    path.join(","),
                    header.join(",")
                ));
            }
            (Some(sets), _) | (None, Some(sets)) => sets,
            (None, None) => return Ok(Selection(None)),
        };
        let mut tools = ALWAYS.to_vec();
        for name in chosen {
            let (_, members) = TOOLSETS.iter().find(|(set, _)| *set == name).expect("names() checked it");
            tools.extend_from_slice(members);
        }
        Ok(Selection(Some(tools)))
    }

    pub fn allows(&self, tool: &str) -> bool {
        self.0.as_ref().is_none_or(|tools| tools.contains(&tool))
    }
}

/// The toolset names in a comma-separated list (case-insensitive), sorted and without
/// repeats; an unknown or missing name is an error naming `source` and the available sets.
fn names(list: &str, source: &str) -> Result<Vec<&'static str>, String> {
    let available = || TOOLSETS.iter().map(|(set, _)| *set).collect::<Vec<_>>().join(", ");
    let mut sets = Vec::new();
    for name in list.split(',').map(|n| n.trim().to_ascii_lowercase()).filter(|n| !n.is_empty()) {
        let (set, _) = TOOLSETS
            .iter()
            .find(|(set, _)| *set == name)
            .ok_or_else(|| format!("unknown toolset `{name}` in {source}; available: {}", available()))?;
        sets.push(*set);
    }
    if sets.is_empty() {
        return Err(format!("no toolset named in {source}; available: {}", available()));
    }
    sets.sort_unstable();
    sets.dedup();
    Ok(sets)
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
    fn path_selects_like_the_header() {
        let by_path = Selection::choose(Some("events,Runs"), None).unwrap();
        assert_eq!(by_path, Selection::parse(Some("Runs, events")).unwrap());
        assert!(by_path.allows("get_flow_runs") && !by_path.allows("get_flows"));
        // The same sets in any order, case or with repeats agree.
        assert_eq!(Selection::choose(Some("runs,events"), Some("EVENTS, runs, runs")).unwrap(), by_path);
    }

    #[test]
    fn path_errors_name_the_path_and_the_available_sets() {
        let err = Selection::choose(Some("runs,bogus"), None).unwrap_err();
        assert!(
            err.starts_with("unknown toolset `bogus` in the URL path") && err.contains("available: overview"),
            "{err}"
        );
        let err = Selection::choose(Some(","), None).unwrap_err();
        assert!(err.starts_with("no toolset named in the URL path") && err.contains("available:"), "{err}");
    }

    #[test]
    fn path_and_header_that_disagree_are_refused() {
        let err = Selection::choose(Some("runs"), Some("runs,events")).unwrap_err();
        assert!(
            err.contains("URL path selects toolsets `runs`") && err.contains("header selects `events,runs`"),
            "{err}"
        );
        // An empty header is no header.
        assert!(Selection::choose(Some("runs"), Some(" ")).is_ok());
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
