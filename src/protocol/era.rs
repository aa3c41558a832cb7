//! Which protocol era a request belongs to, and the header rules of each.
//!
//! Legacy clients (2024-11-05 … 2025-11-25) handshake with `initialize` and then send
//! `MCP-Protocol-Version` (absent means 2025-03-26). Clients of 2026-07-28 have no
//! handshake: every request carries its protocol version, client capabilities and client
//! info in `params._meta`, mirrored in the `MCP-Protocol-Version`, `Mcp-Method` and
//! `Mcp-Name` headers so intermediaries can route without reading the body.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::{HeaderMap, StatusCode};
use rmcp::model::{ErrorData, ProtocolVersion, RequestMetaObject};
use serde_json::Value;

const HEADER_PROTOCOL_VERSION: &str = "mcp-protocol-version";
const HEADER_METHOD: &str = "mcp-method";
const HEADER_NAME: &str = "mcp-name";

/// Versions served, oldest first. The handshake versions come first; the newest has none.
pub const SUPPORTED_VERSIONS: [ProtocolVersion; 5] = [
    ProtocolVersion::V_2024_11_05,
    ProtocolVersion::V_2025_03_26,
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2026_07_28,
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Era {
    /// Handshake-era request under the given (negotiated or assumed) version.
    Legacy(ProtocolVersion),
    /// 2026-07-28 request with valid per-request metadata.
    Modern,
}

/// A request refused before dispatch, with the HTTP status to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub status: StatusCode,
    pub error: ErrorData,
}

impl Rejection {
    fn bad_request(error: ErrorData) -> Self {
        Rejection { status: StatusCode::BAD_REQUEST, error }
    }

    fn header_mismatch(message: String) -> Self {
        Self::bad_request(ErrorData::header_mismatch(message, None))
    }
}

/// Any string names a protocol version; whether it is served is a separate question.
fn version(raw: &str) -> ProtocolVersion {
    serde_json::from_value(Value::String(raw.to_owned())).expect("a string is a protocol version")
}

pub fn is_supported(version: &ProtocolVersion) -> bool {
    SUPPORTED_VERSIONS.contains(version)
}

/// The version `initialize` answers with: the client's when it has a handshake and is
/// supported, else the newest handshake version.
fn negotiate(requested: &ProtocolVersion) -> ProtocolVersion {
    if requested.has_initialize() && is_supported(requested) {
        requested.clone()
    } else {
        ProtocolVersion::LATEST_WITH_INITIALIZE
    }
}

fn unsupported(requested: ProtocolVersion) -> Rejection {
    Rejection::bad_request(ErrorData::unsupported_protocol_version(requested, &SUPPORTED_VERSIONS))
}

/// Classifies a request (not a notification) and enforces the header rules of its era.
///
/// A request is handshake-era when its `MCP-Protocol-Version` header is absent or names a
/// handshake version, unless it is `server/discover` or its `_meta` names a newer version.
/// Everything else is validated as 2026-07-28, in the order clients rely on: required
/// `_meta` (-32602), then header agreement (-32020), then version support (-32022).
pub fn classify(headers: &HeaderMap, method: &str, params: Option<&Value>) -> Result<Era, Rejection> {
    let header_version = single_header(headers, HEADER_PROTOCOL_VERSION)?.map(version);
    let meta: RequestMetaObject =
        params.and_then(|p| p.get("_meta")).and_then(|m| serde_json::from_value(m.clone()).ok()).unwrap_or_default();
    let meta_is_modern = meta.protocol_version().is_some_and(|v| !v.has_initialize());
    // A header naming a version this server does not serve (forged, mistyped, or from the
    // future) is refused, unless a 2026-07-28 `_meta` is present: then the rules below apply.
    if !meta_is_modern
        && let Some(header) = &header_version
        && !is_supported(header)
    {
        return Err(unsupported(header.clone()));
    }
    let header_is_handshake = header_version.as_ref().is_none_or(|v| v.has_initialize());

    if header_is_handshake && !meta_is_modern && method != "server/discover" {
        if method == "initialize" {
            return classify_initialize(headers, header_version, params);
        }
        return Ok(Era::Legacy(header_version.unwrap_or(ProtocolVersion::V_2025_03_26)));
    }

    let missing = meta.missing_required_keys(&ProtocolVersion::V_2026_07_28);
    if !missing.is_empty() {
        return Err(Rejection::bad_request(ErrorData::invalid_params(
            format!("params._meta is missing or has malformed required fields: {}", missing.join(", ")),
            Some(serde_json::json!({"missing": missing})),
        )));
    }
    let meta_version = meta.protocol_version().expect("required keys are present");
    match header_version {
        None => {
            return Err(Rejection::header_mismatch(format!(
                "the MCP-Protocol-Version header is required and must equal params._meta protocolVersion ({meta_version})"
            )));
        }
        Some(header) if header != meta_version => {
            return Err(Rejection::header_mismatch(format!(
                "MCP-Protocol-Version header ({header}) does not match params._meta protocolVersion ({meta_version})"
            )));
        }
        Some(_) => {}
    }
    check_routing_headers(headers, method, params)?;
    if !is_supported(&meta_version) || meta_version.has_initialize() {
        return Err(unsupported(meta_version));
    }
    Ok(Era::Modern)
}

fn classify_initialize(
    headers: &HeaderMap,
    header_version: Option<ProtocolVersion>,
    params: Option<&Value>,
) -> Result<Era, Rejection> {
    let requested = params.and_then(|p| p.get("protocolVersion")).and_then(Value::as_str).map(version);
    // A client that sends the header on its handshake must agree with its own body.
    if let (Some(header), Some(body)) = (&header_version, &requested)
        && header != body
    {
        return Err(Rejection::bad_request(ErrorData::invalid_request(
            format!("MCP-Protocol-Version header ({header}) does not match initialize params.protocolVersion ({body})"),
            None,
        )));
    }
    if let Some(value) = single_header(headers, HEADER_METHOD)?
        && value != "initialize"
    {
        return Err(Rejection::header_mismatch(format!(
            "Mcp-Method header `{value}` does not match body method `initialize`"
        )));
    }
    Ok(Era::Legacy(negotiate(requested.as_ref().unwrap_or(&ProtocolVersion::V_2025_03_26))))
}

/// `Mcp-Method` must equal the body method and `Mcp-Name` the routed name, so that
/// intermediaries routing on headers see what the server will execute.
fn check_routing_headers(headers: &HeaderMap, method: &str, params: Option<&Value>) -> Result<(), Rejection> {
    match single_header(headers, HEADER_METHOD)? {
        None => return Err(Rejection::header_mismatch("missing required Mcp-Method header".into())),
        Some(value) if value != method => {
            return Err(Rejection::header_mismatch(format!(
                "Mcp-Method header `{value}` does not match body method `{method}`"
            )));
        }
        Some(_) => {}
    }
    if let Some(expected) = routed_name(method, params) {
        let Some(raw) = single_header(headers, HEADER_NAME)? else {
            return Err(Rejection::header_mismatch(format!("missing required Mcp-Name header for `{method}`")));
        };
        let value = decode_header_value(raw)
            .ok_or_else(|| Rejection::header_mismatch("Mcp-Name header is not valid Base64".into()))?;
        if value != expected {
            return Err(Rejection::header_mismatch(format!(
                "Mcp-Name header `{value}` does not match body value `{expected}`"
            )));
        }
    }
    Ok(())
}

/// The body value that `Mcp-Name` mirrors for methods that name a target.
fn routed_name<'a>(method: &str, params: Option<&'a Value>) -> Option<&'a str> {
    let key = match method {
        "tools/call" | "prompts/get" => "name",
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => "uri",
        _ => return None,
    };
    params?.get(key)?.as_str()
}

/// Header values that are not plain tokens travel as `=?base64?…?=`.
fn decode_header_value(raw: &str) -> Option<String> {
    match raw.strip_prefix("=?base64?").and_then(|r| r.strip_suffix("?=")) {
        Some(encoded) => String::from_utf8(BASE64.decode(encoded).ok()?).ok(),
        None => Some(raw.to_owned()),
    }
}

/// The sole value of a routing header; duplicates or non-text values are refused, since an
/// intermediary might resolve them differently from us.
fn single_header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, Rejection> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Rejection::header_mismatch(format!("duplicate {name} header")));
    }
    first
        .to_str()
        .map(|v| Some(v.trim()))
        .map_err(|_| Rejection::header_mismatch(format!("{name} header contains invalid characters")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::ErrorCode;
    use serde_json::json;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        map
    }

    fn modern_meta() -> Value {
        json!({"_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"}
        }})
    }

    #[test]
    fn legacy_defaults_to_2025_03_26() {
        assert_eq!(classify(&HeaderMap::new(), "tools/list", None), Ok(Era::Legacy(ProtocolVersion::V_2025_03_26)));
        let h = headers(&[("mcp-protocol-version", "2025-06-18")]);
        assert_eq!(classify(&h, "tools/list", None), Ok(Era::Legacy(ProtocolVersion::V_2025_06_18)));
    }

    #[test]
    fn unsupported_header_versions_are_refused_in_every_era() {
        for forged in ["", "1999-01-01", "2025-01-01", "2025-11-25x", "2025-11-26", "garbage", "2026-07-29"] {
            let h = headers(&[("mcp-protocol-version", forged)]);
            for method in ["tools/list", "ping", "initialize", "server/discover"] {
                let rejection = classify(&h, method, Some(&json!({}))).unwrap_err();
                assert_eq!(
                    (rejection.status, rejection.error.code),
                    (StatusCode::BAD_REQUEST, ErrorCode::UNSUPPORTED_PROTOCOL_VERSION),
                    "{forged:?} {method}"
                );
                assert_eq!(rejection.error.data.unwrap()["requested"], json!(forged));
            }
        }
        // Surrounding whitespace is not part of the value.
        let h = headers(&[("mcp-protocol-version", " 2025-06-18 ")]);
        assert_eq!(classify(&h, "tools/list", None), Ok(Era::Legacy(ProtocolVersion::V_2025_06_18)));
    }

    #[test]
    fn initialize_negotiates_handshake_versions() {
        let era = classify(&HeaderMap::new(), "initialize", Some(&json!({"protocolVersion": "2025-06-18"})));
        assert_eq!(era, Ok(Era::Legacy(ProtocolVersion::V_2025_06_18)));
        let era = classify(&HeaderMap::new(), "initialize", Some(&json!({"protocolVersion": "1999-01-01"})));
        assert_eq!(era, Ok(Era::Legacy(ProtocolVersion::V_2025_11_25)));
        let era = classify(&HeaderMap::new(), "initialize", Some(&json!({"protocolVersion": "2026-07-28"})));
        assert_eq!(era, Ok(Era::Legacy(ProtocolVersion::V_2025_11_25)));
    }

    #[test]
    fn modern_requests_need_meta_and_matching_headers() {
        let good =
            headers(&[("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/call"), ("mcp-name", "get_flows")]);
        let mut params = modern_meta();
        params["name"] = json!("get_flows");
        assert_eq!(classify(&good, "tools/call", Some(&params)), Ok(Era::Modern));

        let encoded = headers(&[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "=?base64?Z2V0X2Zsb3dz?="),
        ]);
        assert_eq!(classify(&encoded, "tools/call", Some(&params)), Ok(Era::Modern));

        let wrong_name =
            headers(&[("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/call"), ("mcp-name", "other")]);
        let rejection = classify(&wrong_name, "tools/call", Some(&params)).unwrap_err();
        assert_eq!((rejection.status, rejection.error.code), (StatusCode::BAD_REQUEST, ErrorCode::HEADER_MISMATCH));

        let no_method = headers(&[("mcp-protocol-version", "2026-07-28")]);
        let rejection = classify(&no_method, "tools/list", Some(&modern_meta())).unwrap_err();
        assert_eq!(rejection.error.code, ErrorCode::HEADER_MISMATCH);

        let no_header = classify(&HeaderMap::new(), "tools/list", Some(&modern_meta())).unwrap_err();
        assert_eq!(no_header.error.code, ErrorCode::HEADER_MISMATCH);
    }

    #[test]
    fn missing_meta_is_invalid_params() {
        let h = headers(&[("mcp-protocol-version", "2026-07-28"), ("mcp-method", "server/discover")]);
        let rejection = classify(&h, "server/discover", Some(&json!({}))).unwrap_err();
        assert_eq!((rejection.status, rejection.error.code), (StatusCode::BAD_REQUEST, ErrorCode::INVALID_PARAMS));
        assert!(rejection.error.message.contains("io.modelcontextprotocol/protocolVersion"));
        let rejection = classify(&HeaderMap::new(), "server/discover", None).unwrap_err();
        assert_eq!(rejection.error.code, ErrorCode::INVALID_PARAMS);
    }

    #[test]
    fn unsupported_versions_list_the_supported_ones() {
        let mut params = modern_meta();
        params["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2099-01-01");
        let h = headers(&[("mcp-protocol-version", "2099-01-01"), ("mcp-method", "tools/list")]);
        let rejection = classify(&h, "tools/list", Some(&params)).unwrap_err();
        assert_eq!(
            (rejection.status, rejection.error.code),
            (StatusCode::BAD_REQUEST, ErrorCode::UNSUPPORTED_PROTOCOL_VERSION)
        );
        let data = rejection.error.data.unwrap();
        assert_eq!(data["requested"], json!("2099-01-01"));
        assert!(data["supported"].as_array().unwrap().contains(&json!("2026-07-28")));
    }

    #[test]
    fn header_mismatch_is_checked_before_version_support() {
        let mut params = modern_meta();
        params["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("v999.0.0");
        let h = headers(&[("mcp-protocol-version", "2026-07-28"), ("mcp-method", "server/discover")]);
        assert_eq!(classify(&h, "server/discover", Some(&params)).unwrap_err().error.code, ErrorCode::HEADER_MISMATCH);
        let h = headers(&[("mcp-protocol-version", "v999.0.0"), ("mcp-method", "server/discover")]);
        assert_eq!(
            classify(&h, "server/discover", Some(&params)).unwrap_err().error.code,
            ErrorCode::UNSUPPORTED_PROTOCOL_VERSION
        );
    }

    #[test]
    fn initialize_with_modern_headers_is_a_modern_request() {
        let h = headers(&[("mcp-protocol-version", "2026-07-28"), ("mcp-method", "initialize")]);
        assert_eq!(classify(&h, "initialize", Some(&modern_meta())), Ok(Era::Modern));
    }

    #[test]
    fn duplicate_routing_headers_are_refused() {
        let h = headers(&[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/list"),
            ("mcp-method", "tools/list"),
        ]);
        let rejection = classify(&h, "tools/list", Some(&modern_meta())).unwrap_err();
        assert_eq!(rejection.error.code, ErrorCode::HEADER_MISMATCH);
    }
}
