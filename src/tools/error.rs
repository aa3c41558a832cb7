//! Why a tool call failed. The text of a [`ToolError`] is the `error` a model reads: what
//! went wrong and what to do about it.

use std::fmt;

use crate::credentials::CredentialError;
use crate::prefect::PrefectError;

#[derive(Debug)]
pub enum ToolError {
    /// Arguments that do not fit the input schema, or that cannot be used as given (a
    /// malformed id, an unknown filter key, two arguments that exclude each other).
    InvalidArguments(String),
    /// No usable Prefect credentials for this request, or not the kind the call needs.
    Credentials(String),
    /// Prefect answered with an error status, or not at all.
    Upstream(PrefectError),
    /// Prefect answered with something this server cannot use, e.g. a paging link it cannot follow.
    UnusableAnswer(String),
    /// The object asked for does not exist.
    NotFound(String),
    /// The tool or an argument does not apply to this connection (e.g. a Prefect Cloud
    /// feature on a self-hosted server).
    NotApplicable(String),
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToolError::InvalidArguments(reason)
            | ToolError::Credentials(reason)
            | ToolError::UnusableAnswer(reason)
            | ToolError::NotFound(reason)
            | ToolError::NotApplicable(reason) => f.write_str(reason),
            ToolError::Upstream(error) => error.fmt(f),
        }
    }
}

impl ToolError {
    /// The kind of failure, as a fixed word (e.g. for an audit record, which never quotes
    /// upstream text or arguments).
    pub fn kind(&self) -> &'static str {
        match self {
            ToolError::InvalidArguments(_) => "invalid_arguments",
            ToolError::Credentials(_) => "credentials",
            ToolError::Upstream(_) => "upstream",
            ToolError::UnusableAnswer(_) => "unusable_answer",
            ToolError::NotFound(_) => "not_found",
            ToolError::NotApplicable(_) => "not_applicable",
        }
    }
}

impl std::error::Error for ToolError {}

impl From<CredentialError> for ToolError {
    fn from(error: CredentialError) -> Self {
        ToolError::Credentials(error.to_string())
    }
}

impl From<PrefectError> for ToolError {
    fn from(error: PrefectError) -> Self {
        ToolError::Upstream(error)
    }
}
