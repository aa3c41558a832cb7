//! The upstream guard: every request the client sends must match one of the method + path
//! patterns below, the reads the tools make, or (only for a client of an action tool on a
//! Worker with `ALLOW_WRITES=true`) the writes the actions make. Anything else (another
//! write endpoint, a path that a hostile id or name bent out of shape, a method other than
//! GET/POST) is refused before it reaches [`crate::upstream::Fetch`].
//!
//! Prefect's list endpoints are POSTs with a filter body (`…/filter`, `…/count`); they read.

use http::Method;
use url::Url;

use super::CloudWorkspace;
use super::error::PrefectError;

/// One allowed request: a method, the path segments after the API root (`*` = exactly one
/// ordinary segment, e.g. a percent-encoded pool name) and whether a query string may follow.
struct Route {
    method: Method,
    path: &'static str,
    query: bool,
}

const fn route(method: Method, path: &'static str, query: bool) -> Route {
    Route { method, path, query }
}

/// Under the workspace API URL (`…/api` or `…/api/accounts/{a}/workspaces/{w}`).
const WORKSPACE: &[Route] = &[
    route(Method::GET, "admin/version", false),
    route(Method::GET, "version", false),
    // Servers with CSRF protection hand out a token for the POST filters below.
    route(Method::GET, "csrf-token", true),
    route(Method::GET, "events/filter/next", true),
    route(Method::POST, "flows/filter", false),
    route(Method::POST, "flow_runs/filter", false),
    route(Method::POST, "flow_runs/count", false),
    route(Method::GET, "flow_run_states", true),
    route(Method::POST, "task_runs/filter", false),
    route(Method::POST, "deployments/filter", false),
    route(Method::POST, "logs/filter", false),
    route(Method::POST, "work_pools/filter", false),
    route(Method::POST, "work_pools/*/queues/filter", false),
    route(Method::POST, "work_pools/*/workers/filter", false),
    route(Method::POST, "work_queues/filter", false),
    route(Method::POST, "concurrency_limits/filter", false),
    route(Method::POST, "v2/concurrency_limits/filter", false),
    route(Method::POST, "automations/filter", false),
    route(Method::POST, "events/filter", false),
];

/// Under the workspace API URL, for the action tools only: the writes they make and the
/// one read only they need (a paused run's input schema).
const ACTIONS: &[Route] = &[
    route(Method::POST, "deployments/*/create_flow_run", false),
    route(Method::POST, "deployments/*/pause_deployment", false),
    route(Method::POST, "deployments/*/resume_deployment", false),
    route(Method::POST, "flow_runs/*/set_state", false),
    route(Method::POST, "flow_runs/*/resume", false),
    route(Method::GET, "flow_runs/*/input/*", false),
];

/// What an allowed request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Reads,
    Writes,
}

/// Under the Prefect Cloud account-level root (`…/api`), for Cloud workspace URLs only.
const ACCOUNT: &[Route] = &[
    route(Method::GET, "me", false),
    route(Method::GET, "me/workspaces", false),
    route(Method::GET, "accounts/*", false),
    route(Method::GET, "accounts/*/workspaces/*", false),
    route(Method::GET, "accounts/*/rate-limits/usage", true),
];

/// `Ok` when `method url` is one of the reads above, relative to `api_url`, or one of the
/// actions' requests when `actions` is set.
pub fn check(method: &Method, url: &Url, api_url: &Url, actions: bool) -> Result<Effect, PrefectError> {
    let refused = || PrefectError::NotAllowed { method: method.clone(), path: url.path().to_owned() };
    if url.origin() != api_url.origin() || !url.username().is_empty() || url.password().is_some() {
        return Err(refused());
    }
    let allowed_under = |root: &Url, routes: &[Route]| {
        relative(url, root).is_some_and(|rest| {
            routes.iter().any(|r| r.method == *method && (r.query || url.query().is_none()) && matches(r.path, &rest))
        })
    };
    let cloud_root = CloudWorkspace::from_api_url(api_url).map(|cloud| cloud.root);
    if allowed_under(api_url, WORKSPACE) || cloud_root.is_some_and(|root| allowed_under(&root, ACCOUNT)) {
        Ok(Effect::Reads)
    } else if actions && allowed_under(api_url, ACTIONS) {
        // The input-schema read is sent like the writes: once, never repeated.
        Ok(Effect::Writes)
    } else {
        Err(refused())
    }
}

/// The path segments of `url` after those of `root`, without one trailing empty segment.
fn relative<'u>(url: &'u Url, root: &Url) -> Option<Vec<&'u str>> {
    let root: Vec<&str> = root.path_segments()?.filter(|s| !s.is_empty()).collect();
    let mut segments: Vec<&str> = url.path_segments()?.collect();
    if segments.last() == Some(&"") {
        segments.pop();
    }
    (segments.len() > root.len() && segments[..root.len()] == root[..]).then(|| segments.split_off(root.len()))
}

fn matches(pattern: &str, segments: &[&str]) -> bool {
    let parts: Vec<&str> = pattern.split('/').collect();
    parts.len() == segments.len()
        && parts.iter().zip(segments).all(|(p, s)| if *p == "*" { ordinary(s) } else { p == s })
}

/// A segment that names one thing: non-empty, not a dot segment in any spelling, and
/// without an encoded slash or backslash that a proxy might decode into a path separator.
fn ordinary(segment: &str) -> bool {
    let lower = segment.to_ascii_lowercase();
    let dots = lower.replace("%2e", ".");
    !segment.is_empty() && dots != "." && dots != ".." && !lower.contains("%2f") && !lower.contains("%5c")
}

#[cfg(test)]
mod tests {
    use super::*;

    const OSS: &str = "http://127.0.0.1:4200/api";
    const CLOUD: &str = "https://api.prefect.cloud/api/accounts/a1/workspaces/w1";

    fn allowed(method: Method, api: &str, url: &str) -> bool {
        check(&method, &Url::parse(url).unwrap(), &Url::parse(api).unwrap(), false).is_ok()
    }

    fn allowed_to_actions(method: Method, api: &str, url: &str) -> Option<Effect> {
        check(&method, &Url::parse(url).unwrap(), &Url::parse(api).unwrap(), true).ok()
    }

    #[test]
    fn every_read_the_tools_make_is_allowed() {
        for api in [OSS, CLOUD] {
            for r in WORKSPACE {
                let path = r.path.replace('*', "process%20pool");
                let query = if r.query { "?page-token=a%2Bb" } else { "" };
                assert!(allowed(r.method.clone(), api, &format!("{api}/{path}{query}")), "{} {path}", r.method);
            }
        }
        let account = "https://api.prefect.cloud/api";
        for url in [
            "me/",
            "me/workspaces",
            "accounts/a1",
            "accounts/a1/workspaces/w1",
            "accounts/a1/rate-limits/usage?since=x&keys=y",
        ] {
            assert!(allowed(Method::GET, CLOUD, &format!("{account}/{url}")), "{url}");
        }
    }

    #[test]
    fn writes_and_other_paths_are_refused() {
        let refused = [
            (Method::POST, "deployments/"),
            (Method::POST, "flow_runs/"),
            (Method::DELETE, "flow_runs/0e6b1c8e-0000-4000-8000-000000000000"),
            (Method::PATCH, "deployments/x"),
            (Method::PUT, "work_pools/x"),
            (Method::POST, "flow_runs/x/set_state"),
            (Method::POST, "deployments/x/create_flow_run"),
            (Method::POST, "work_pools/x/queues/"),
            (Method::POST, "work_pools/../queues/filter"),
            (Method::POST, "work_pools/%2e%2E/queues/filter"),
            (Method::POST, "work_pools/a%2Fb/queues/filter"),
            (Method::POST, "work_pools//queues/filter"),
            (Method::POST, "flows/filter/extra"),
            (Method::POST, "flows/filter?x=1"),
            (Method::GET, "flows/filter"),
            (Method::DELETE, "flows/filter"),
            (Method::POST, "admin/version"),
            (Method::POST, "admin/database/clear"),
            (Method::GET, "admin/settings"),
            (Method::GET, "events/filter/next/x"),
            (Method::POST, "flow_run_states/"),
            (Method::GET, "flow_run_states/0e6b1c8e-0000-4000-8000-000000000000/x"),
        ];
        for (method, path) in refused {
            assert!(!allowed(method.clone(), OSS, &format!("{OSS}/{path}")), "{method} {path}");
            assert!(!allowed(method.clone(), CLOUD, &format!("{CLOUD}/{path}")), "{method} {path}");
        }
        assert!(!allowed(Method::GET, OSS, "http://127.0.0.1:4200/api/"));
        // Outside the API root, on another host, or with userinfo.
        assert!(!allowed(Method::POST, OSS, "http://127.0.0.1:4200/flows/filter"));
        assert!(!allowed(Method::POST, OSS, "http://127.0.0.1:4201/api/flows/filter"));
        assert!(!allowed(Method::POST, OSS, "http://u:p@127.0.0.1:4200/api/flows/filter"));
        // Account-level paths exist only for Cloud, and only as GETs.
        assert!(!allowed(Method::GET, OSS, "http://127.0.0.1:4200/me/"));
        assert!(!allowed(Method::DELETE, CLOUD, "https://api.prefect.cloud/api/accounts/a1"));
        assert!(!allowed(Method::POST, CLOUD, "https://api.prefect.cloud/api/accounts/a1/workspaces/"));
        assert!(!allowed(Method::GET, CLOUD, "https://api.prefect.cloud/api/accounts/a1/api_keys"));
    }

    #[test]
    fn the_actions_writes_are_allowed_only_to_action_clients_and_exactly() {
        const RUN: &str = "0e6b1c8e-0000-4000-8000-000000000000";
        for api in [OSS, CLOUD] {
            for r in ACTIONS {
                let url = format!("{api}/{}", r.path.replace('*', RUN));
                assert!(!allowed(r.method.clone(), api, &url), "{} {url} without actions", r.method);
                assert_eq!(allowed_to_actions(r.method.clone(), api, &url), Some(Effect::Writes), "{url}");
            }
            assert_eq!(allowed_to_actions(Method::POST, api, &format!("{api}/flows/filter")), Some(Effect::Reads));
            for (method, path) in [
                (Method::DELETE, format!("flow_runs/{RUN}")),
                (Method::PATCH, format!("deployments/{RUN}")),
                (Method::POST, "flow_runs/".to_owned()),
                (Method::POST, format!("flow_runs/{RUN}/set_state/x")),
                (Method::POST, "flow_runs/../set_state".to_owned()),
                (Method::POST, format!("flow_runs/{RUN}/input")),
                (Method::POST, format!("flow_runs/{RUN}/input/key")),
                (Method::POST, format!("task_runs/{RUN}/set_state")),
                (Method::POST, "deployments/a%2Fb/create_flow_run".to_owned()),
                (Method::POST, format!("deployments/{RUN}/create_flow_run?x=1")),
                (Method::POST, format!("deployments/{RUN}/create_flow_run/bulk")),
                (Method::POST, format!("deployments/{RUN}/schedule")),
            ] {
                assert_eq!(allowed_to_actions(method.clone(), api, &format!("{api}/{path}")), None, "{method} {path}");
            }
        }
    }
}
