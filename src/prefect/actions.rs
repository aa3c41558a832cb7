//! The requests only the action tools make: the writes (allowed to a client made with
//! [`PrefectClient::for_actions`] alone) and the reads that plan them.

use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::records::{FlowRunRecord, StateRecord};
use super::{PrefectClient, PrefectError};
use crate::upstream::Fetch;

/// Prefect's answer to a state change: whether its orchestration rules accepted it.
#[derive(Debug, Deserialize)]
pub struct Orchestration {
    /// ACCEPT, REJECT, ABORT or WAIT.
    pub status: String,
    #[serde(default)]
    pub state: Option<StateRecord>,
    #[serde(default)]
    pub details: OrchestrationDetails,
}

#[derive(Debug, Default, Deserialize)]
pub struct OrchestrationDetails {
    #[serde(default)]
    pub reason: Option<String>,
}

impl Orchestration {
    pub fn accepted(&self) -> bool {
        self.status == "ACCEPT"
    }
}

impl<F: Fetch> PrefectClient<'_, F> {
    /// Creates a flow run of the deployment; `true` when it is new, `false` when Prefect
    /// returned the run an earlier request with the same idempotency key created.
    pub async fn create_flow_run(&self, deployment: Uuid, body: &Value) -> Result<(FlowRunRecord, bool), PrefectError> {
        self.post_creating(&format!("deployments/{deployment}/create_flow_run"), body).await
    }

    /// Proposes `state` for the run; `force` skips Prefect's orchestration rules, as its UI
    /// does for a retry.
    pub async fn set_flow_run_state(
        &self,
        run: Uuid,
        state: Value,
        force: bool,
    ) -> Result<Orchestration, PrefectError> {
        self.post(&format!("flow_runs/{run}/set_state"), &json!({"state": state, "force": force})).await
    }

    /// Resumes a Paused run, with the input it asked for if any.
    pub async fn resume_flow_run(&self, run: Uuid, run_input: Option<&Value>) -> Result<Orchestration, PrefectError> {
        let body = match run_input {
            Some(input) => json!({"run_input": input}),
            None => json!({}),
        };
        self.post(&format!("flow_runs/{run}/resume"), &body).await
    }

    /// The JSON a paused run keeps under `key` (the schema of the input it waits for).
    pub async fn flow_run_input(&self, run: Uuid, key: &str) -> Result<Value, PrefectError> {
        self.get(&format!("flow_runs/{run}/input/{}", super::pools::path_segment(key))).await
    }

    /// Pauses (`true`) or resumes the deployment's schedules.
    pub async fn set_deployment_paused(&self, deployment: Uuid, paused: bool) -> Result<(), PrefectError> {
        let verb = if paused { "pause_deployment" } else { "resume_deployment" };
        let _: Value = self.post(&format!("deployments/{deployment}/{verb}"), &json!({})).await?;
        Ok(())
    }
}
