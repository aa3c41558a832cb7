//! Prompts: short guided investigations that use this server's tools, for the questions
//! people bring most often (a failed run, late runs, a silent automation, throttling).

use rmcp::model::{ErrorData, GetPromptResult, JsonObject, Prompt, PromptArgument, PromptMessage, Role};
use serde_json::{Value, json};

/// One prompt: its arguments (name, description, required) and the procedure it writes.
struct Guide {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    arguments: &'static [(&'static str, &'static str, bool)],
    procedure: fn(&Arguments) -> String,
}

/// The arguments of a `prompts/get` call; absent ones read as "".
struct Arguments<'a>(Option<&'a JsonObject>);

impl Arguments<'_> {
    fn get(&self, key: &str) -> &str {
        self.0.and_then(|a| a.get(key)).and_then(Value::as_str).map(str::trim).unwrap_or("")
    }
}

const GUIDES: &[Guide] = &[
    Guide {
        name: "investigate_failed_run",
        title: "Investigate a failed flow run",
        description: "Find out why a flow run failed or crashed and what to do about it.",
        arguments: &[("flow_run_id", "The id of the failed or crashed flow run.", true)],
        procedure: |arg| {
            format!(
                "Find out why Prefect flow run {run} failed, using the Prefect tools, and report the root cause.\n\n\
                 1. diagnose_flow_run with flow_run_id \"{run}\": read `verdict` and the `cause` findings (the failed \
                 task run, the error lines, a crash or timeout) with their evidence and next_step.\n\
                 2. Only if that leaves questions: get_flow_run_logs for {run} for the complete traceback; get_task_runs \
                 with filter {{\"flow_run_id\": {{\"any_\": [\"{run}\"]}}, \"state\": {{\"type\": {{\"any_\": \
                 [\"FAILED\", \"CRASHED\"]}}}}}} for every failing task and its retries; get_flow_runs with filter \
                 {{\"id\": {{\"any_\": [\"{run}\"]}}}} for the parameters.\n\
                 3. If the state is CRASHED (infrastructure, not code), check the work pool with get_work_pools by id.\n\n\
                 Answer with: what failed (flow, task, exception), why, and the next step (a code fix, a parameter \
                 change, or `prefect flow-run retry {run}` once fixed). Change nothing on your own: where this \
                 connection offers retry_flow_run, preview the retry and confirm it only when the user agrees; \
                 otherwise say which command the user should run.",
                run = arg.get("flow_run_id")
            )
        },
    },
    Guide {
        name: "investigate_late_runs",
        title: "Investigate late or stuck runs",
        description: "Explain why scheduled runs are Late or stuck in Pending, and what unblocks them.",
        arguments: &[("deployment", "Optional: the deployment name to focus on.", false)],
        procedure: |arg| {
            let (focus, named) = match arg.get("deployment") {
                "" => (String::from("all deployments"), String::from("\"<flow>/<deployment>\"")),
                name => (format!("deployment \"{name}\""), format!("\"{name}\"")),
            };
            format!(
                "Explain why runs of {focus} are Late or stuck in Pending, using the Prefect tools.\n\n\
                 1. With a deployment name: diagnose_deployment with deployment_name {named} (its \
                 `verdict`, findings and late-run backlog). Otherwise get_flow_runs with filter {{\"state\": {{\"name\": \
                 {{\"any_\": [\"Late\"]}}}}}} (and then {{\"state\": {{\"type\": {{\"any_\": [\"PENDING\"]}}}}}}) to find \
                 the affected runs, deployments and pools.\n\
                 2. diagnose_flow_run with the id of the oldest Late or Pending run: the blocking cause with its \
                 evidence (a full deployment, tag or global limit and who holds it, a paused pool, queue or \
                 deployment, a pool without workers).\n\
                 3. If runs of several deployments are stuck: get_dashboard for saturated limits and NOT_READY pools, \
                 and get_work_pools by id for queues and workers.\n\n\
                 Name the blocking cause with its evidence and the next step, e.g. `prefect worker start --pool <pool>`, \
                 `prefect work-pool resume <pool>`, or raising a limit. Change nothing on your own: an action tool \
                 this connection may offer (cancel_flow_run, resume_deployment, …) is previewed first and confirmed \
                 only when the user agrees."
            )
        },
    },
    Guide {
        name: "automation_not_firing",
        title: "Find out why an automation does not fire",
        description: "Compare an automation's trigger with the events that actually happened.",
        arguments: &[("automation", "The automation's name.", true)],
        procedure: |arg| {
            format!(
                "Find out why the Prefect automation \"{name}\" does not fire, using the Prefect tools.\n\n\
                 1. get_automations with filter {{\"name\": {{\"any_\": [\"{name}\"]}}}}: check that it exists and is \
                 enabled; then get_automations by its id for the full trigger (after, expect, match, for_each, \
                 posture, threshold, within) and actions.\n\
                 2. get_object_schema with object_type \"automation\" if a trigger field's meaning is unclear.\n\
                 3. read_events with event_type_prefix set to the event types the trigger expects (and a wider \
                 occurred_after window if needed): did matching events happen, for resources the match selects?\n\n\
                 Explain the mismatch (wrong event name, match labels that exclude the resources, threshold or \
                 window never reached, proactive posture misunderstood, automation disabled) and how to fix the \
                 trigger. Automations are changed in the Prefect UI or CLI, not through these tools.",
                name = arg.get("automation")
            )
        },
    },
    Guide {
        name: "review_rate_limits",
        title: "Review Prefect Cloud rate limiting",
        description: "Find when and for which operation groups Prefect Cloud throttled this account.",
        arguments: &[],
        procedure: |_| {
            String::from(
                "Find out whether Prefect Cloud rate limits slowed this account down, using the Prefect tools.\n\n\
                 1. get_identity: confirm this is a Prefect Cloud workspace and note the plan.\n\
                 2. review_rate_limits for the default window (the last three days), then narrow since/until \
                 around any throttling period it reports.\n\n\
                 Report the throttled periods, the operation groups involved (the keys are operation groups such as \
                 runs, deployments or writing-logs, not API keys), how many requests were denied, and what would \
                 reduce them (fewer polling clients, batching, backoff on HTTP 429, or a higher plan).",
            )
        },
    },
];

pub fn list() -> Vec<Prompt> {
    GUIDES
        .iter()
        .map(|guide| {
            let arguments = guide
                .arguments
                .iter()
                .map(|(name, description, required)| {
                    PromptArgument::new(*name).with_description(*description).with_required(*required)
                })
                .collect();
            Prompt::new(guide.name, Some(guide.description), Some(arguments)).with_title(guide.title)
        })
        .collect()
}

/// The procedure of prompt `name` with its arguments filled in.
pub fn get(name: &str, arguments: Option<&JsonObject>) -> Result<GetPromptResult, ErrorData> {
    let Some(guide) = GUIDES.iter().find(|g| g.name == name) else {
        let available: Vec<_> = GUIDES.iter().map(|g| g.name).collect();
        return Err(ErrorData::invalid_params(
            format!("Unknown prompt: '{name}'"),
            Some(json!({"available": available})),
        ));
    };
    let given = Arguments(arguments);
    let missing = guide.arguments.iter().find(|(key, _, required)| *required && given.get(key).is_empty());
    if let Some((missing, _, _)) = missing {
        return Err(ErrorData::invalid_params(format!("prompt '{name}' needs the argument `{missing}`"), None));
    }
    let text = (guide.procedure)(&given);
    Ok(GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]).with_description(guide.description))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_prompt_is_described_and_mentions_only_real_tools() {
        let tools: Vec<String> = [
            "get_identity",
            "get_dashboard",
            "get_deployments",
            "get_flow_runs",
            "get_flow_run_logs",
            "get_task_runs",
            "get_work_pools",
            "read_events",
            "get_automations",
            "get_object_schema",
            "review_rate_limits",
        ]
        .map(String::from)
        .to_vec();
        for prompt in list() {
            assert!(prompt.description.as_deref().is_some_and(|d| !d.is_empty()), "{}", prompt.name);
            let arguments: JsonObject =
                prompt.arguments.iter().flatten().map(|a| (a.name.clone(), json!("x"))).collect();
            let result = get(&prompt.name, Some(&arguments)).unwrap();
            let text = serde_json::to_string(&result.messages).unwrap();
            let mentioned = text.split(|c: char| !c.is_ascii_alphanumeric() && c != '_').filter(|w| {
                (w.starts_with("get_") || w.starts_with("read_") || w.starts_with("review_")) && w.len() > 6
            });
            for word in mentioned {
                assert!(tools.iter().any(|t| t == word), "{} mentions unknown tool {word}", prompt.name);
            }
        }
    }

    #[test]
    fn arguments_are_filled_in_and_required_ones_enforced() {
        let arguments: JsonObject = serde_json::from_value(json!({"flow_run_id": "abc-123"})).unwrap();
        let result = get("investigate_failed_run", Some(&arguments)).unwrap();
        assert!(serde_json::to_string(&result).unwrap().contains("prefect flow-run retry abc-123"));
        let err = get("investigate_failed_run", None).unwrap_err();
        assert!(err.message.contains("`flow_run_id`"), "{}", err.message);
        assert!(get("investigate_late_runs", None).is_ok());
        let failed = serde_json::to_string(&result).unwrap();
        assert!(failed.contains("diagnose_flow_run with flow_run_id \\\"abc-123\\\""), "{failed}");
        let late: JsonObject = serde_json::from_value(json!({"deployment": "etl/nightly"})).unwrap();
        let late = serde_json::to_string(&get("investigate_late_runs", Some(&late)).unwrap()).unwrap();
        assert!(late.contains("diagnose_deployment") && late.contains("diagnose_flow_run"), "{late}");
        assert!(get("nope", None).unwrap_err().message.contains("Unknown prompt"));
    }
}
