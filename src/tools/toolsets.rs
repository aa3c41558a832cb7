//! Toolsets: named groups of tools a connection can choose (`X-MCP-Toolsets: runs,events`)
//! to keep its tool list, and so the model's context, short.

pub const HEADER: &str = "x-mcp-toolsets";

use super::registry::TOOLS;

/// A named group of tools; each tool's [`ToolInfo`](super::registry::ToolInfo) says which it
/// belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toolset {
    Overview,
    Deployments,
    Runs,
    Infrastructure,
    Events,
    Diagnosis,
    Cloud,
    Docs,
    /// The tools that change Prefect (listed only where writes are allowed).
    Actions,
}

impl Toolset {
    /// In the order error messages list them.
    const ALL: [Toolset; 9] = [
        Toolset::Overview,
        Toolset::Deployments,
        Toolset::Runs,
        Toolset::Infrastructure,
        Toolset::Events,
        Toolset::Diagnosis,
        Toolset::Cloud,
        Toolset::Docs,
        Toolset::Actions,
    ];

    /// The name a connection chooses it by.
    fn name(self) -> &'static str {
        match self {
            Toolset::Overview => "overview",
            Toolset::Deployments => "deployments",
            Toolset::Runs => "runs",
            Toolset::Infrastructure => "infrastructure",
            Toolset::Events => "events",
            Toolset::Diagnosis => "diagnosis",
            Toolset::Cloud => "cloud",
            Toolset::Docs => "docs",
            Toolset::Actions => "actions",
        }
    }
}

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
                    joined(&path),
                    joined(&header)
                ));
            }
            (Some(sets), _) | (None, Some(sets)) => sets,
            (None, None) => return Ok(Selection(None)),
        };
        // Tools outside every toolset (orientation) are kept whatever is chosen: they explain the rest.
        let tools = TOOLS
            .iter()
            .filter(|tool| tool.toolset.is_none_or(|set| chosen.contains(&set)))
            .map(|tool| tool.name)
            .collect();
        Ok(Selection(Some(tools)))
    }

    pub fn allows(&self, tool: &str) -> bool {
        self.0.as_ref().is_none_or(|tools| tools.contains(&tool))
    }
}

fn joined(sets: &[Toolset]) -> String {
    sets.iter().map(|set| set.name()).collect::<Vec<_>>().join(",")
}

/// The toolset names in a comma-separated list (case-insensitive), sorted and without
/// repeats; an unknown or missing name is an error naming `source` and the available sets.
fn names(list: &str, source: &str) -> Result<Vec<Toolset>, String> {
    let available = || Toolset::ALL.map(Toolset::name).join(", ");
    let mut sets = Vec::new();
    for name in list.split(',').map(|n| n.trim().to_ascii_lowercase()).filter(|n| !n.is_empty()) {
        let set = Toolset::ALL
            .into_iter()
            .find(|set| set.name() == name)
            .ok_or_else(|| format!("unknown toolset `{name}` in {source}; available: {}", available()))?;
        sets.push(set);
    }
    if sets.is_empty() {
        return Err(format!("no toolset named in {source}; available: {}", available()));
    }
    sets.sort_unstable_by_key(|set| set.name());
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
    fn every_toolset_has_tools() {
        for set in Toolset::ALL {
            assert!(TOOLS.iter().any(|tool| tool.toolset == Some(set)), "{set:?}");
        }
    }
}
