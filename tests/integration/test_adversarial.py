"""Adversarial suite: thousands of malformed or hostile requests against the built Worker in
workerd, generated deterministically (seeded), each with the precise answer it must get.

Every answer is classified (`400 rpc -32700`, `200 tool error`, `405 text`, …) and compared
with the case's expected class. Across the whole suite: no 5xx from the Worker, no hang (10 s
per request), no dropped connection, no secret in any answer, and both Workers still answer a
valid call afterwards. The counts per category are printed at the end of the session and
written to .work/adversarial-report.json (docs/security.md quotes them).

Requests that reach Prefect go to the real seeded Prefect server on loopback; nothing else
is contacted. A few malformed-framing requests never reach the Worker: workerd's own HTTP
server answers them, and they are counted separately (`answered by workerd`).

Not sent here: uploads cut short after their headers. `wrangler dev` wraps the Worker in a
dev-only middleware that drains unread request bodies, and turns a body that breaks off into
its own 503 whatever the Worker answered; a deployed Worker has no such wrapper. The Worker's
side (a 413 on the declared length, also past 32 bits, and a 400 for an unreadable body) is
covered by the unit tests in src/protocol/tests.rs."""

from __future__ import annotations

import base64
import datetime
import json
import random
import string
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlsplit

import pytest

from adversarial_client import Reply, build, send
from conftest import ACCESS_TOKENS, AUTH_STRING
from harness import WORK, post_json

SEED = 20261127
TIMEOUT = 10.0
THREADS = 8
MAX_BODY = 256 * 1024
LEGACY = "2025-11-25"
MODERN = "2026-07-28"
TOKEN = ACCESS_TOKENS[0]
JSON_HEADERS = [("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream")]
SECRETS = [AUTH_STRING, *ACCESS_TOKENS, base64.b64encode(AUTH_STRING.encode()).decode()]

# Expected classes.
PARSE = "400 rpc -32700"
INVALID_400 = "400 rpc -32600"
PARAMS_400 = "400 rpc -32602"
PARAMS_200 = "200 rpc -32602"
NOT_FOUND_LEGACY = "200 rpc -32601"
NOT_FOUND_MODERN = "404 rpc -32601"
MISMATCH = "400 rpc -32020"
UNSUPPORTED = "400 rpc -32022"
TOO_LARGE = "413 rpc -32600"
MEDIA = "415 rpc -32600"
FORBIDDEN = "403 rpc -32600"
UNAUTHORIZED = "401 rpc -32600"
TOOL_ERROR = "200 tool error"
OK = "200 ok"
ACCEPTED = "202 empty"


@dataclass
class Case:
    category: str
    expect: tuple[str, ...]
    body: bytes | None = b""
    headers: list[tuple[str, str | bytes]] | None = None  # None: JSON content type + Accept
    method: str = "POST"
    target: str = "/mcp"
    worker: str = "open"  # "open" (secrets, local opt-outs) or "gated" (MCP_ACCESS_TOKENS)
    auth: bool = True  # on the gated Worker, add the valid bearer token
    host: str | None = "default"  # "default": 127.0.0.1:<port>; None: no Host header
    chunked: bool = False
    half_close: bool = False
    check: Callable[[Reply], str | None] | None = None  # extra assertion: a failure message or None
    by_runtime: bool = False  # answered by workerd's HTTP server; the Worker never sees it
    note: str = ""


def dumps(value) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def message(method: str, params=None, id=1) -> dict:
    body = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        body["params"] = params
    return body


def meta(version: str = MODERN) -> dict:
    return {"io.modelcontextprotocol/protocolVersion": version,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "fuzz", "version": "1"}}


def modern_headers(method: str, name: str | None = None, version: str = MODERN) -> list[tuple[str, str]]:
    headers = [*JSON_HEADERS, ("MCP-Protocol-Version", version), ("Mcp-Method", method)]
    if name is not None:
        headers.append(("Mcp-Name", name))
    return headers


def legacy_headers(version: str = LEGACY) -> list[tuple[str, str]]:
    return [*JSON_HEADERS, ("MCP-Protocol-Version", version)]


def modern_case(category: str, method: str, params: dict | None, expect, id=1, **kw) -> Case:
    params = {**(params or {}), "_meta": meta()}
    name = params.get("name") if method in ("tools/call", "prompts/get") else None
    return Case(category, expect, dumps(message(method, params, id)),
                modern_headers(method, name if isinstance(name, str) else None), **kw)


def tool_call(name, arguments=None) -> dict:
    params = {"name": name}
    if arguments is not None:
        params["arguments"] = arguments
    return message("tools/call", params)


def echoes(id_value):
    def check(reply: Reply) -> str | None:
        got = (reply.json() or {}).get("id", "<missing>")
        return None if got == id_value else f"id {got!r} instead of {id_value!r}"
    return check


def header_is(name: str, predicate: Callable[[str], bool], what: str):
    def check(reply: Reply) -> str | None:
        value = reply.headers.get(name)
        return None if value is not None and predicate(value) else f"{name}: {value!r} ({what})"
    return check


# Answers without a side channel: only for local methods (no Prefect request).
LOCAL_MESSAGES = [
    message("ping"),
    message("tools/list"),
    message("prompts/list"),
    message("resources/list"),
    message("initialize", {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "f", "version": "1"}}),
    tool_call("orientation", {}),
    tool_call("get_object_schema", {"object_type": "automation"}),
]

INJECTIONS = [
    "' OR '1'='1", "\"; DROP TABLE flow_run; --", "{{7*7}}", "${jndi:ldap://127.0.0.1/a}", "$(id)", "`id`",
    "<script>alert(1)</script>", "../../../../etc/passwd", "..\\..\\windows\\win.ini", "%2e%2e%2f%2e%2e%2f",
    "/api/admin/database/clear", "flows/../admin/database/clear", "a\r\nX-Injected: 1", "a\u0000b", "%00",
    "\u202eevil", "😀" * 50, "null", "[]", "{}", "*", "%", "_", "\\", "'", "\"", ";", "|", "&&", "%s%s%s%n",
    "__proto__", "constructor", "NaN", "-1", "9" * 40, " ", "", "\t\n",
]


# --- generators ------------------------------------------------------------------------

def json_syntax(rng: random.Random) -> list[Case]:
    cases = []
    for template in LOCAL_MESSAGES:
        raw = dumps(template)
        cut_points = range(len(raw)) if len(raw) < 140 else sorted(rng.sample(range(len(raw)), 120))
        for cut in cut_points:
            cases.append(Case("truncated JSON", (PARSE,), raw[:cut], note=f"cut {cut}"))
    breakers = [
        lambda r: r[:-1] + b",}",  # trailing comma
        lambda r: r.replace(b'"', b"'"),  # single quotes
        lambda r: b"// comment\n" + r,
        lambda r: r[:1] + b"/* c */" + r[1:],
        lambda r: r + b"x",
        lambda r: r + r,  # two messages back to back
        lambda r: r + b"}",
        lambda r: b"\xef\xbb\xbf" + r,  # BOM
        lambda r: r.replace(b'"id":1', b'"id":01'),
        lambda r: r.replace(b'"id":1', b'"id":NaN'),
        lambda r: r.replace(b'"id":1', b'"id":Infinity'),
        lambda r: r.replace(b'"id":1', b'"id":0x1'),
        lambda r: r.replace(b'"id":1', b'"id":+1'),
        lambda r: r.replace(b'"id":1', b'"id":1e309'),
        lambda r: r.replace(b'"id":1', b'"id":.5'),
        lambda r: r.replace(b'"2.0"', b'"2.\\x30"'),
        lambda r: r.replace(b'"2.0"', b'"\\u00"'),
        lambda r: r.replace(b'"2.0"', b'"\\ud800"'),
        lambda r: r.replace(b'"2.0"', b'"\\udc00\\ud800"'),
        lambda r: r.replace(b":", b"=", 1),
        lambda r: r.replace(b",", b"", 1),
        lambda r: r.replace(b"{", b"[", 1),
        lambda r: r.replace(b'"jsonrpc"', b"jsonrpc"),
        lambda r: r[: len(r) // 2] + b"\x00" + r[len(r) // 2:],
    ]
    for template in LOCAL_MESSAGES:
        for index, breaker in enumerate(breakers):
            cases.append(Case("broken JSON", (PARSE,), breaker(dumps(template)), note=f"breaker {index}"))
    for body in [b"", b" ", b"\n\t ", b"{", b"}", b"[", b"\"", b"nul", b"tru", b"undefined", b"{}{}", b"'x'", b"\x00",
                 b"\x00" * 64, bytes(range(256)), b"{" * 3 + b"}" * 2, b"\"\\\"", b"-", b"1.", b"[1,]", b"{\"a\"}"]:
        cases.append(Case("broken JSON", (PARSE,), body))
    for _ in range(200):  # random byte strings that are not JSON
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        try:
            json.loads(body)
            continue
        except ValueError:
            cases.append(Case("broken JSON", (PARSE,), body, note="random bytes"))
    return cases


BAD_UTF8 = [b"\xff", b"\xfe", b"\xc0\x80", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80",
            b"\xf8\x88\x80\x80\x80", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xf0\x82\x82\xac"]


def encoding(rng: random.Random) -> list[Case]:
    cases = []
    for template in LOCAL_MESSAGES:
        raw = dumps(template)
        # Positions inside string literals: just after an opening quote (the templates have
        # no escaped quotes, so every other quote opens a string).
        inside = [i + 1 for i, byte in enumerate(raw) if byte == ord('"')][::2]
        for bad in BAD_UTF8:
            for position in rng.sample(inside, min(4, len(inside))):
                cases.append(Case("bad UTF-8 / NUL", (PARSE,), raw[:position] + bad + raw[position:]))
        for control in [0, 1, 7, 8, 9, 10, 13, 27, 31]:
            position = rng.choice(inside)
            cases.append(Case("bad UTF-8 / NUL", (PARSE,), raw[:position] + bytes([control]) + raw[position:],
                              note=f"raw control {control}"))
        cases.append(Case("bad UTF-8 / NUL", (PARSE,), raw.decode().encode("utf-16"), note="UTF-16"))
        cases.append(Case("bad UTF-8 / NUL", (PARSE,), raw.decode().encode("utf-32"), note="UTF-32"))
        cases.append(Case("bad UTF-8 / NUL", (PARSE,), raw.decode().encode("utf-16-le"), note="UTF-16LE"))
    # Escaped NUL and odd characters are valid JSON: they must reach the right precise error.
    for odd in ["\u0000", "\u0000\u0000", "\ufeff", "\u202e", "\udbff\udfff".encode("utf-16", "surrogatepass").decode("utf-16"),
                "😀", "\u2028", "\x7f", "é"]:
        cases.append(Case("bad UTF-8 / NUL", (NOT_FOUND_LEGACY,), dumps(message("ping" + odd)), legacy_headers()))
        cases.append(Case("bad UTF-8 / NUL", (NOT_FOUND_LEGACY,), dumps(message(odd + "tools/list")), legacy_headers()))
        cases.append(Case("bad UTF-8 / NUL", (PARAMS_200,), dumps(tool_call("orientation" + odd, {})),
                          legacy_headers()))
        cases.append(Case("bad UTF-8 / NUL", (TOOL_ERROR,), dumps(tool_call("get_object_schema",
                                                                            {"object_type": "automation" + odd})),
                          legacy_headers()))
        cases.append(Case("bad UTF-8 / NUL", (OK,), dumps(message("ping", id="id" + odd)), legacy_headers(),
                          check=echoes("id" + odd)))
    return cases


WRONG_TYPES = [None, True, False, 0, -1, 1.5, "x", "", [], [1], {}, {"a": 1}]


def jsonrpc_types(rng: random.Random) -> list[Case]:
    cases = []
    for era in ("legacy", "modern"):
        local = "ping" if era == "legacy" else "tools/list"  # 2026-07-28 has no ping

        def case(body: dict | bytes, expect, method=local, **kw):
            raw = body if isinstance(body, bytes) else dumps(body)
            headers = legacy_headers() if era == "legacy" else modern_headers(method)
            return Case(f"wrong JSON types ({era})", (expect,), raw, headers, **kw)

        def base(method=local, params=None, id=7):
            params = dict(params or {})
            if era == "modern":
                params["_meta"] = meta()
            return message(method, params or None, id)

        for top in [None, True, 1, -2.5, "x", ""]:
            cases.append(case(dumps(top), INVALID_400))
        for value in [None, True, 2, 2.0, "1.0", "2", "2.0 ", "", [], {}, ["2.0"]]:
            body = base()
            body["jsonrpc"] = value
            cases.append(case(body, INVALID_400))
        body = base()
        del body["jsonrpc"]
        cases.append(case(body, INVALID_400))
        body = base()
        del body["method"]
        cases.append(case(body, INVALID_400, check=echoes(7)))
        for value in [None, True, 1, 1.5, [], ["ping"], {}, {"name": "ping"}]:
            body = base()
            body["method"] = value
            cases.append(case(body, INVALID_400))
        for value in [None, True, False, 1.5, -0.5, [], [1], {}, {"id": 1}, 18446744073709551616, 1e20]:
            body = base()
            body["id"] = value
            cases.append(case(body, INVALID_400, check=echoes(None)))
        for value in [0, -1, 2**63 - 1, -(2**63), 2**64 - 1, "", "x" * 10000, "😀", "\u0000"]:
            body = base()
            body["id"] = value
            cases.append(case(body, OK, check=echoes(value)))
        for value in [True, 1, 1.5, "x", "", [], [1, 2], [{}]]:
            body = base()
            body["params"] = value
            cases.append(case(body, PARAMS_400, check=echoes(7)))
        # tools/call and prompts/get parameter types.
        for method, key, good in [("tools/call", "name", "orientation"), ("prompts/get", "name", "investigate_failed_run")]:
            for value in WRONG_TYPES:
                if isinstance(value, str) or value is None:
                    continue
                body = base(method, {key: value})
                cases.append(case(body, PARAMS_200, method=method, check=echoes(7)))
            body = base(method, {})
            cases.append(case(body, PARAMS_200, method=method))
        for value in [True, 0, 1.5, "x", "", [], [{}], ["a"]]:
            body = base("tools/call", {"name": "orientation", "arguments": value})
            raw = dumps(body)
            headers = legacy_headers() if era == "legacy" else modern_headers("tools/call", "orientation")
            cases.append(Case(f"wrong JSON types ({era})", (PARAMS_200,), raw, headers, check=echoes(7)))
        # Unknown tools and methods.
        for _ in range(40):
            name = "".join(rng.choice(string.ascii_letters + string.digits + "_-./ ") for _ in range(rng.randrange(1, 40)))
            body = base("tools/call", {"name": name, "arguments": {}})
            headers = legacy_headers() if era == "legacy" else modern_headers("tools/call", name.strip())
            expect = PARAMS_200 if era == "legacy" or name == name.strip() else MISMATCH
            cases.append(Case(f"unknown methods and tools ({era})", (expect,), dumps(body), headers))
        unknown = ["", " ", "tools", "tools/", "tools/delete", "tools/call/", "TOOLS/LIST", "Ping", "ping ",
                   "../ping", "rpc.discover", "$/cancelRequest", "sampling/createMessage", "roots/list",
                   "notifications/initialized", "completion", "resources/subscribe", "tasks/list", "x" * 5000,
                   "prefect/flows/delete", "admin/database/clear"]
        unknown += ["".join(rng.choice(string.printable) for _ in range(rng.randrange(1, 30))) for _ in range(40)]
        for method in unknown:
            if method.strip() in ("ping", "tools/list", "prompts/list", "resources/list", "initialize"):
                continue
            expect = NOT_FOUND_LEGACY if era == "legacy" else NOT_FOUND_MODERN
            if era == "modern" and (method != method.strip() or not method.isprintable()):
                continue  # the Mcp-Method header cannot mirror it; covered by the header tests
            cases.append(case(base(method), expect, method=method, check=echoes(7)))
        # Notifications and responses: 202, no body, whatever the method.
        for method in unknown[:20] + ["notifications/initialized", "notifications/cancelled", "tools/call"]:
            body = base(method)
            del body["id"]
            cases.append(Case(f"notifications and responses ({era})", (ACCEPTED,), dumps(body),
                              legacy_headers() if era == "legacy" else modern_headers("ping")))
        for reply in [{"result": {}}, {"result": None}, {"error": {"code": -1, "message": "x"}}, {"error": None}]:
            cases.append(Case(f"notifications and responses ({era})", (ACCEPTED,),
                              dumps({"jsonrpc": "2.0", "id": 3, **reply}), legacy_headers()))
    return cases


def batches(rng: random.Random) -> list[Case]:
    cases = []
    for size in [0, 1, 2, 3, 10, 100, 1000]:
        for _ in range(3):
            items = [rng.choice(LOCAL_MESSAGES) for _ in range(size)]
            cases.append(Case("batches", (INVALID_400,), dumps(items), legacy_headers(), check=echoes(None)))
    for body in [[[message("ping")]], [message("ping"), 1], [1, 2, 3], [None], [{}], ["ping"],
                 [{"jsonrpc": "2.0", "method": "notifications/initialized"}], [[]], [[[[]]]]]:
        cases.append(Case("batches", (INVALID_400,), dumps(body), legacy_headers()))
        cases.append(Case("batches", (INVALID_400,), dumps(body), modern_headers("ping")))
    return cases


def body_limits(rng: random.Random) -> list[Case]:
    cases = []

    def padded(size: int) -> bytes:
        head = b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"'
        tail = b'"}}'
        return head + b"a" * (size - len(head) - len(tail)) + tail

    for size in [MAX_BODY - 1, MAX_BODY]:
        cases.append(Case("body size", (OK,), padded(size), note=f"{size} declared"))
        cases.append(Case("body size", (OK,), padded(size), chunked=True, note=f"{size} chunked"))
    for size in [MAX_BODY + 1, MAX_BODY + 1000, 1024 * 1024, 4 * 1024 * 1024]:
        cases.append(Case("body size", (TOO_LARGE,), padded(size), note=f"{size} declared"))
        cases.append(Case("body size", (TOO_LARGE,), padded(size), chunked=True, note=f"{size} chunked"))
        cases.append(Case("body size", (TOO_LARGE,), padded(size), chunked=True, worker="gated", note="gated"))
    cases.append(Case("body size", (TOO_LARGE,), b" " * (MAX_BODY + 1), note="whitespace"))
    # Huge values inside an acceptable body.
    for size in [4097, 10_000, 200_000]:
        text = "x" * size
        cases.append(Case("body size", (TOOL_ERROR,), dumps(tool_call("get_flows", {"filter": {"name": {"like_": text}}})),
                          legacy_headers()))
        cases.append(Case("body size", (TOOL_ERROR,), dumps(tool_call("get_object_schema", {"object_type": text})),
                          legacy_headers()))
        cases.append(Case("body size", (PARAMS_200,), dumps(tool_call(text, {})), legacy_headers()))
        cases.append(Case("body size", (NOT_FOUND_LEGACY,), dumps(message(text)), legacy_headers()))
    many = {f"k{i}": i for i in range(10_000)}
    cases.append(Case("body size", (TOOL_ERROR,), dumps(tool_call("get_flows", {"filter": many})), legacy_headers()))
    cases.append(Case("body size", (TOOL_ERROR,), dumps(tool_call("orientation", many)), legacy_headers()))
    cases.append(Case("body size", (OK,), dumps(message("ping", {"junk": many})), legacy_headers()))
    return cases


def nesting(rng: random.Random) -> list[Case]:
    cases = []
    for depth in [200, 1_000, 10_000, 100_000]:
        # Past the body limit the size is refused first.
        cases.append(Case("deep nesting", (PARSE,), b"[" * depth + b"]" * depth, note=f"arrays {depth}"))
        objects = b'{"a":' * depth + b"1" + b"}" * depth
        cases.append(Case("deep nesting", (PARSE if len(objects) <= MAX_BODY else TOO_LARGE,), objects,
                          note=f"objects {depth}"))
        inner = b"[" * depth + b"]" * depth
        cases.append(Case("deep nesting", (PARSE,), b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":' + inner
                          + b"}}", legacy_headers(), note=f"params {depth}"))
        deep_filter = (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_flows","arguments":'
                       b'{"filter":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}}}")
        cases.append(Case("deep nesting", (PARSE if len(deep_filter) <= MAX_BODY else TOO_LARGE,), deep_filter,
                          legacy_headers(), note=f"filter {depth}"))
        cases.append(Case("deep nesting", (PARSE,), b"[" * depth, note=f"unclosed {depth}"))
    for depth in [2, 10, 50, 100]:
        cases.append(Case("deep nesting", (INVALID_400,), b"[" * depth + b"]" * depth, note=f"batch {depth}"))
        nested = json.loads("[" * depth + "]" * depth)
        cases.append(Case("deep nesting", (OK,), dumps(message("ping", {"x": nested})), legacy_headers()))
    for depth in range(9, 100, 5):
        deep = {}
        node = deep
        for _ in range(depth):
            node["name"] = {}
            node = node["name"]
        for tool in ["get_flows", "get_flow_runs", "get_task_runs", "get_deployments", "get_work_pools",
                     "get_automations"]:
            cases.append(Case("deep nesting", (TOOL_ERROR,), dumps(tool_call(tool, {"filter": deep})),
                              legacy_headers(), note=f"filter depth {depth}"))
        cases.append(Case("deep nesting", (TOOL_ERROR,), dumps(tool_call("orientation", {"x": deep})),
                          legacy_headers()))
    return cases


def methods_and_paths(rng: random.Random) -> list[Case]:
    cases = []
    ping = dumps(message("ping"))
    allow = header_is("allow", lambda v: v == "POST, OPTIONS", "Allow: POST, OPTIONS")
    for worker in ("open", "gated"):
        for method in ["GET", "DELETE", "PUT", "PATCH", "TRACE", "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE",
                       "LOCK", "UNLOCK", "PURGE", "SEARCH", "REPORT", "ACL", "MERGE", "NOTIFY", "SUBSCRIBE"]:
            for body in (None, ping):
                expect = "401 rpc -32600" if worker == "gated" and method != "OPTIONS" else "405 text"
                cases.append(Case("HTTP methods and paths", (expect,), body, method=method, worker=worker,
                                  auth=False, check=None if worker == "gated" else allow))
                if worker == "gated":
                    cases.append(Case("HTTP methods and paths", ("405 text",), body, method=method, worker=worker,
                                      check=allow))
        cases.append(Case("HTTP methods and paths", ("405 head",), None, method="HEAD", worker=worker, check=allow))
        for origin in (None, "http://localhost:6274"):
            headers = [("Origin", origin)] if origin else []
            cases.append(Case("HTTP methods and paths", ("204 empty",), None, headers, method="OPTIONS",
                              worker=worker, auth=False))
    served = ["/mcp", "/mcp/", "/mcp?x=1", "/mcp?access_token=x", "/../mcp", "/./mcp", "/x/../mcp", "/mcp/x/runs",
              "/mcp/x/runs,events/", "/mcp/x/RUNS%2Cevents"]
    unserved = ["/", "/MCP", "/mcp/x", "/mcp//", "//mcp", "/mcp%2f", "/%6dcp", "/mcp;x", "/mcpx", "/mc",
                "/.well-known/oauth-protected-resource/mcp", "/favicon.ico", "/mcp/../admin", "/mcp%00",
                "/" + "a" * 4000, "/mcp/x", "/mcp/runs", "/api/flows/filter"]
    # Toolset paths naming no known toolset: 400 -32602 listing the available ones.
    for path in ["/mcp/x/nope", "/mcp/x/runs,../admin", "/mcp/x/%00", "/mcp/x/" + "a" * 300]:
        cases.append(Case("HTTP methods and paths", (PARAMS_400,), ping, target=path))
    for path in served:
        cases.append(Case("HTTP methods and paths", (OK,), ping, target=path))
    for path in unserved:
        cases.append(Case("HTTP methods and paths", ("404 text",), ping, target=path))
        cases.append(Case("HTTP methods and paths", ("404 text",), None, method="GET", target=path)
                     if path != "/" else Case("HTTP methods and paths", ("200 text",), None, method="GET", target=path))
    return cases


def content_types(rng: random.Random) -> list[Case]:
    cases = []
    # An empty Content-Type reaches the Worker as none (workerd drops empty values).
    accepted = [None, "", "application/json", "application/json; charset=utf-8", "APPLICATION/JSON",
                "application/json;charset=UTF-8", "application/json ; foo=bar", "Application/Json"]
    refused = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
               "application/jsonx", "application/json-patch+json", "application/*", "*/*", "json",
               "text/json", "application/javascript", "application/xml", "text/event-stream",
               "application/json, text/plain", "application/ json", "application/vnd.api+json", ";application/json",
               "application/jsön", "image/png", "a" * 5000]
    for message_ in LOCAL_MESSAGES:
        raw = dumps(message_)
        for ctype in accepted:
            headers = [("Accept", "application/json")] + ([("Content-Type", ctype)] if ctype is not None else [])
            cases.append(Case("content types and Accept", (OK,), raw, headers))
        for ctype in refused:
            cases.append(Case("content types and Accept", (MEDIA,), raw, [("Content-Type", ctype)], note=ctype[:40]))
        # A malformed body with a wrong content type: the media type is refused first.
        cases.append(Case("content types and Accept", (MEDIA,), raw[:-3], [("Content-Type", "text/plain")]))
        for accept, expect in [(None, OK), ("*/*", OK), ("application/json", OK), ("image/png", OK), ("", OK),
                               ("text/event-stream, application/json", OK), ("application/*", OK),
                               ("text/event-stream", "sse 200 ok"), ("text/event-stream;q=1", "sse 200 ok"),
                               ("TEXT/EVENT-STREAM", "sse 200 ok"), ("x" * 3000, OK)]:
            headers = [("Content-Type", "application/json")] + ([("Accept", accept)] if accept is not None else [])
            cases.append(Case("content types and Accept", (expect,), raw, headers))
    return cases


def header_injection(rng: random.Random) -> list[Case]:
    cases = []
    ping = dumps(message("ping"))
    call = dumps(tool_call("get_flows", {"limit": 1}))
    no_injected = lambda reply: "x-injected" in reply.headers and "header was injected" or None  # noqa: E731

    def raw_case(expect, head: bytes, body: bytes = ping, by_runtime=False, note=""):
        request = head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body
        return Case("header injection and framing", (expect,), worker="open", check=no_injected,
                    by_runtime=by_runtime, note=note, body=request, method="RAW")

    start = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    # Values folded onto a continuation line (obs-fold) arrive as one value: never a new header.
    for name, expect in [("X-Prefect-Api-Url", OK), ("X-Prefect-Api-Key", OK), ("X-Custom", OK),
                         ("MCP-Protocol-Version", UNSUPPORTED), ("Accept", OK)]:
        cases.append(raw_case(expect, start + name.encode() + b": x\r\n X-Injected: 1\r\n"))
        cases.append(raw_case(expect, start + name.encode() + b": x\r\n\tX-Injected: 1\r\n"))
    # Bare LF / bare CR inside the header block.
    cases.append(raw_case(OK, b"POST /mcp HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\n"))
    cases.append(raw_case(OK, start + b"X-A: a\rX-Injected: 1\r\n"))
    # Malformed header lines: workerd's HTTP parser refuses them before the Worker runs.
    for line in [b"X-A: a\x00b", b"BogusHeader", b"Bad Name: x", b": empty-name", b"X-A\x00: b", b"X-\x01: b",
                 b"X-A: \x00", b"(bad): x", b"X-A; b: c"]:
        cases.append(raw_case("400 text", start + line + b"\r\n", by_runtime=True, note=repr(line)))
    cases.append(raw_case("431 text", start + b"X-Big: " + b"a" * 200_000 + b"\r\n", by_runtime=True))
    cases.append(raw_case("431 text", start + b"".join(b"X-H%d: v\r\n" % i for i in range(20_000)), by_runtime=True))
    # Non-ASCII bytes in values.
    for name, expect in [("MCP-Protocol-Version", MISMATCH), ("Origin", FORBIDDEN), ("X-MCP-Toolsets", "400 rpc -32602"),
                         ("X-Prefect-Api-Url", OK), ("Mcp-Method", OK), ("Accept", OK)]:
        cases.append(raw_case(expect, start + name.encode() + b": \xff\xfe\xe9\r\n", note=name))
    # Request-line and framing oddities.
    for line, expect, by_runtime in [
        (b"POST /mcp HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n", OK, False),
        (b"POST /mcp HTTP/1.1\r\nContent-Type: application/json\r\n", "400 text", True),  # no Host
        (b"POST /mcp HTTP/1.1\r\nHost: \r\nContent-Type: application/json\r\n", "400 text", True),
        (b"POST /mcp HTTP/2.0\r\nHost: 127.0.0.1\r\n", OK, False),  # workerd reads it as HTTP/1.1
        (b"POST /mcp HTTP/9.9\r\nHost: 127.0.0.1\r\n", OK, False),
        (b"POST  /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n", OK, False),
        (b"post /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n", "5xx 501", True),
        (b"FOO /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n", "5xx 501", True),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 /mcp HTTP/1.1\r\n", "5xx 501", True),  # TLS hello
        (b"CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1\r\n", "400 text", True),
        (b"POST http://evil.example/mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n", "5xx 500", True),
        (b"OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\n", "5xx 500", True),
    ]:
        cases.append(raw_case(expect, line, by_runtime=by_runtime, note=repr(line[:30])))
    # Lengths that lie or conflict.
    for head, body, expect, by_runtime, half in [
        (start + b"Content-Length: 5\r\nContent-Length: 6\r\n", b"123456", "5xx 500", True, False),
        (start + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n", PARSE, False, False),
        (start + b"Transfer-Encoding: chunked\r\n", b"zz\r\nabc\r\n0\r\n\r\n", "400 rpc -32700", False, False),
        # Uploads cut short: workerd ends a chunked body early (nothing to parse), a counted one
        # fails to read.
        (start + b"Transfer-Encoding: chunked\r\n", b"5\r\nabc", PARSE, False, True),
        (start + b"Content-Length: -1\r\n", b"{}", "5xx 500", True, False),
        (start + b"Content-Length: abc\r\n", b"{}", "5xx 500", True, False),
        (start + b"Content-Length: 2\r\n", b"{}{}{}", INVALID_400, False, False),
    ]:
        request = head + b"Connection: close\r\n\r\n" + body
        cases.append(Case("header injection and framing", (expect,), request, method="RAW", half_close=half,
                          by_runtime=by_runtime, check=no_injected, note=repr(head[-40:])))
    # CRLF-looking text that clients escape: values stay values.
    for value in ["a%0d%0aX-Injected:%201", "a\\r\\nX-Injected: 1", "a\u2028X-Injected: 1"]:
        for name in ["X-Prefect-Api-Url", "X-MCP-Toolsets", "Mcp-Name", "Authorization"]:
            expect = {"X-MCP-Toolsets": "400 rpc -32602", "X-Prefect-Api-Url": OK}.get(name, OK)
            headers = [*legacy_headers(), (name, value.encode("utf-8"))]
            body = call if name == "X-Prefect-Api-Url" else ping
            if name == "X-Prefect-Api-Url":
                expect = TOOL_ERROR
            cases.append(Case("header injection and framing", (expect,), body, headers, check=no_injected))
    return cases


def protocol_versions(rng: random.Random) -> list[Case]:
    cases = []
    ping = dumps(message("ping", id=5))
    listing = dumps(message("tools/list", id=5))
    forged = ["", " ", "1999-01-01", "2024-11-04", "2025-01-01", "2025-11-25x", "2025-11-25 extra", "2025-11-26",
              "2025-13-45", "2026-07-27", "2024-11-05.1", "latest", "garbage", "v999.0.0", "2099-01-01", "0",
              "-1", "2025-11-25,2025-06-18", "2025/11/25", "x" * 3000, "2026-07-28x", "2026-07-29"]
    forged += ["".join(rng.choice(string.digits + "-") for _ in range(10)) for _ in range(30)]
    supported = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", " 2025-06-18 "]
    for body in (ping, listing):
        for version in supported:
            cases.append(Case("forged protocol versions", (OK,), body, legacy_headers(version)))
        for version in forged:
            if version.strip() in [v.strip() for v in supported]:
                continue
            cases.append(Case("forged protocol versions", (UNSUPPORTED,), body,
                              legacy_headers(version), check=echoes(5), note=version[:30]))
        # Not text at all: the header cannot even be compared.
        cases.append(Case("forged protocol versions", (MISMATCH,), body, legacy_headers("\u00e9")))
        # 2026-07-28 in the header without `_meta`: the per-request metadata is missing.
        cases.append(Case("forged protocol versions", (PARAMS_400,), body, legacy_headers(MODERN)))
    # initialize: header and body must agree; the body's version is negotiated.
    for body_version in ["2024-11-05", "2025-06-18", "1999-01-01", "2026-07-28", "", "garbage"]:
        init = dumps(message("initialize", {"protocolVersion": body_version, "capabilities": {},
                                            "clientInfo": {"name": "f", "version": "1"}}))
        cases.append(Case("forged protocol versions", (OK,), init, JSON_HEADERS))
        cases.append(Case("forged protocol versions", (INVALID_400,), init, legacy_headers("2025-03-26")
                          if body_version != "2025-03-26" else legacy_headers("2025-06-18")))
    for bad in [{"protocolVersion": 1}, {"protocolVersion": LEGACY}, {"protocolVersion": LEGACY, "capabilities": "x",
                                                                      "clientInfo": {"name": "f", "version": "1"}},
                {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": "x"}]:
        cases.append(Case("forged protocol versions", (PARAMS_200,), dumps(message("initialize", bad)), JSON_HEADERS))
    # 2026-07-28: _meta, header agreement, routing headers.
    for method, params, name in [("tools/list", {}, None), ("server/discover", {}, None),
                                 ("tools/call", {"name": "orientation", "arguments": {}}, "orientation"),
                                 ("prompts/list", {}, None)]:
        good_params = {**params, "_meta": meta()}
        body = dumps(message(method, good_params, id=9))
        cases.append(Case("forged protocol versions", (OK,), body, modern_headers(method, name)))
        cases.append(Case("forged protocol versions", (OK,), body,
                          [*JSON_HEADERS, ("mcp-protocol-version", MODERN), ("MCP-METHOD", method)]
                          + ([("mcp-name", f"  {name}  ")] if name else [])))
        if name:
            encoded = "=?base64?" + base64.b64encode(name.encode()).decode() + "?="
            cases.append(Case("forged protocol versions", (OK,), body, modern_headers(method, encoded)))
            for wrong in ["other", "", name.upper(), name + " x", "=?base64?!!!?=", "=?base64?" +
                          base64.b64encode(b"\xff\xfe").decode() + "?=", "=?base64?" +
                          base64.b64encode(b"other").decode() + "?=", "=?BASE64?" +
                          base64.b64encode(name.encode()).decode() + "?="]:
                cases.append(Case("forged protocol versions", (MISMATCH,), body, modern_headers(method, wrong),
                                  check=echoes(9)))
            cases.append(Case("forged protocol versions", (MISMATCH,), body, modern_headers(method)))
        for wrong_method in ["tools/call" if method != "tools/call" else "tools/list", "", method.upper(),
                             method + "/", "ping", "x" * 500]:
            cases.append(Case("forged protocol versions", (MISMATCH,), body,
                              [*JSON_HEADERS, ("MCP-Protocol-Version", MODERN), ("Mcp-Method", wrong_method)]
                              + ([("Mcp-Name", name)] if name else []), check=echoes(9)))
        cases.append(Case("forged protocol versions", (MISMATCH,), body,
                          [*JSON_HEADERS, ("MCP-Protocol-Version", MODERN)] + ([("Mcp-Name", name)] if name else [])))
        cases.append(Case("forged protocol versions", (MISMATCH,), body,
                          [h for h in modern_headers(method, name) if h[0] != "MCP-Protocol-Version"]))
        for header_version in ["2025-11-25", "2026-07-27", "2099-01-01", "garbage"]:
            cases.append(Case("forged protocol versions", (MISMATCH,), body,
                              modern_headers(method, name, header_version), check=echoes(9)))
        for meta_version in ["2099-01-01", "v999.0.0", "2026-07-29", "zzz"]:
            forged_meta = {**params, "_meta": meta(meta_version)}
            forged_body = dumps(message(method, forged_meta, id=9))
            cases.append(Case("forged protocol versions", (UNSUPPORTED,), forged_body,
                              modern_headers(method, name, meta_version), check=echoes(9)))
            cases.append(Case("forged protocol versions", (MISMATCH,), forged_body, modern_headers(method, name)))
        for broken in [{}, {"io.modelcontextprotocol/protocolVersion": MODERN},
                       {**meta(), "io.modelcontextprotocol/clientCapabilities": "x"},
                       {**meta(), "io.modelcontextprotocol/clientCapabilities": None},
                       {**meta(), "io.modelcontextprotocol/protocolVersion": 20260728},
                       {**meta(), "io.modelcontextprotocol/protocolVersion": None}, [], "x", 1, None]:
            broken_body = dumps(message(method, {**params, "_meta": broken}, id=9))
            cases.append(Case("forged protocol versions", (PARAMS_400,), broken_body, modern_headers(method, name),
                              check=echoes(9)))
        without_meta = dumps(message(method, params or None, id=9))
        cases.append(Case("forged protocol versions", (PARAMS_400,), without_meta, modern_headers(method, name)))
    # Methods that 2026-07-28 removed.
    for method in ["ping", "logging/setLevel", "initialize"]:
        cases.append(modern_case("forged protocol versions", method, {}, (NOT_FOUND_MODERN,)))
    # Duplicate routing headers (an intermediary might pick either).
    body = dumps(message("tools/list", {"_meta": meta()}, id=9))
    for name in ["MCP-Protocol-Version", "Mcp-Method"]:
        value = MODERN if name == "MCP-Protocol-Version" else "tools/list"
        cases.append(Case("forged protocol versions", (MISMATCH,), body, [*modern_headers("tools/list"), (name, value)]))
    return cases


def origins_and_hosts(rng: random.Random) -> list[Case]:
    cases = []
    ping = dumps(message("ping"))
    echo_origin = lambda origin: header_is("access-control-allow-origin", lambda v: v == origin, "echoed origin")  # noqa
    for origin in ["http://localhost", "http://localhost:6274", "http://127.0.0.1:1", "http://[::1]:3000",
                   "https://localhost", "http://127.0.0.1"]:
        for worker in ("open", "gated"):
            cases.append(Case("foreign Origin and Host", (OK,), ping, [*JSON_HEADERS, ("Origin", origin)],
                              worker=worker, check=echo_origin(origin)))
    refused = ["http://evil.example", "null", "file://", "http://127.0.0.1.evil.example", "http://localhost.evil.example",
               "https://evil.example:443", "http://[::ffff:8.8.8.8]", "chrome-extension://abcdef", "http://10.0.0.1",
               "http://169.254.169.254", "http://0.0.0.0:8787", "https://prefect.io", "*", "http://",
               "javascript:alert(1)", "http://evil.example/http://localhost"]
    refused += [f"https://{''.join(rng.choice(string.ascii_lowercase) for _ in range(rng.randrange(3, 12)))}."
                f"{rng.choice(['com', 'io', 'dev', 'example'])}" for _ in range(40)]
    for origin in refused:
        for worker in ("open", "gated"):
            cases.append(Case("foreign Origin and Host", (FORBIDDEN,), ping, [*JSON_HEADERS, ("Origin", origin)],
                              worker=worker, note=origin))
        cases.append(Case("foreign Origin and Host", (FORBIDDEN,), None, [("Origin", origin)], method="OPTIONS"))
    # An empty Origin reaches the Worker as no Origin (workerd drops it): a non-browser client.
    for origin in ["", " "]:
        cases.append(Case("foreign Origin and Host", (OK,), ping, [*JSON_HEADERS, ("Origin", origin)]))
    for host in ["localhost", "LOCALHOST:9", "127.0.0.1", "localhost:80", "127.0.0.1:65535", "localhost:"]:
        cases.append(Case("foreign Origin and Host", (OK,), ping, host=host))
    evil_hosts = ["evil.example", "127.0.0.1.nip.io", "[::1]", "localhost.evil.example", "127.0.0.2", "0.0.0.0",
                  "evil.example:8787", "169.254.169.254"]
    evil_hosts += ["".join(rng.choice(string.ascii_lowercase + ".") for _ in range(rng.randrange(3, 20))) + ".test"
                   for _ in range(30)]
    for host in evil_hosts:
        for worker in ("open", "gated"):
            cases.append(Case("foreign Origin and Host", (FORBIDDEN,), ping, worker=worker, host=host, note=host))
    # A Host that is not a host at all: workerd cannot build the URL and answers itself.
    cases.append(Case("foreign Origin and Host", ("5xx 500",), ping, host="127.0.0.1:abc", by_runtime=True))
    return cases


def bearer_tokens(rng: random.Random) -> list[Case]:
    cases = []
    call = dumps(tool_call("get_flows", {"limit": 1}))
    challenge = header_is("www-authenticate", lambda v: v.startswith('Bearer realm="prefect-mcp"'), "challenge")

    def denied(headers, body=call, **kw):
        return Case("bearer tokens (gated)", (UNAUTHORIZED,), body, [*legacy_headers(), *headers], worker="gated",
                    auth=False, check=challenge, **kw)

    variants = ["", "Bearer", "Bearer ", "Bearer  ", "bearer", "Basic " + base64.b64encode(TOKEN.encode()).decode(),
                "Basic " + TOKEN, TOKEN, "Token " + TOKEN, "Bearer" + TOKEN, "Bearer\t" + TOKEN,
                f"Bearer {TOKEN} ", f"Bearer {TOKEN}\t", f'Bearer "{TOKEN}"', f"Bearer {TOKEN},{ACCESS_TOKENS[1]}",
                f"Bearer {TOKEN} {ACCESS_TOKENS[1]}", f"Bearer {TOKEN.upper()}", f"Bearer {TOKEN.lower()}",
                f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x", f"Bearer x{TOKEN}", f"Bearer {TOKEN[1:]}",
                f"Bearer {base64.b64encode(TOKEN.encode()).decode()}", f"Bearer {TOKEN.replace('-', '%2D')}",
                f"Bearer {TOKEN.replace('a', 'а')}", f"Bearer {TOKEN * 2}",
                f"Bearer {','.join(ACCESS_TOKENS)}", "Bearer null", "Bearer undefined", "Bearer *", "Bearer .*",
                f"Bearer {TOKEN[:4]}", "Bearer " + "a" * 5000, "Digest username=x", "Negotiate x", "Bearer ="]
    for _ in range(120):  # one-character edits of the real token
        position = rng.randrange(len(TOKEN))
        replacement = rng.choice(string.ascii_letters + string.digits + "-_.~+/=")
        edited = TOKEN[:position] + replacement + TOKEN[position + 1:]
        if edited not in ACCESS_TOKENS:
            variants.append(f"Bearer {edited}")
    for _ in range(100):
        variants.append("Bearer " + "".join(rng.choice(string.ascii_letters + string.digits + "-_")
                                            for _ in range(rng.randrange(1, 64))))
    for value in variants:
        try:
            encoded = value.encode("latin-1")
        except UnicodeEncodeError:
            encoded = value.encode("utf-8")
        cases.append(denied([("Authorization", encoded)], note=value[:40]))
    cases.append(denied([]))
    # A NUL in a header value: workerd's HTTP parser refuses the request itself.
    cases.append(Case("bearer tokens (gated)", ("400 text",), call, [*legacy_headers(), ("Authorization",
                      f"Bearer {TOKEN}\u0000")], worker="gated", auth=False, by_runtime=True))
    for elsewhere in [("X-Api-Key", TOKEN), ("Cookie", f"token={TOKEN}"), ("Proxy-Authorization", f"Bearer {TOKEN}"),
                      ("X-Prefect-Api-Key", TOKEN), ("Authorization-Bearer", TOKEN)]:
        cases.append(denied([elsewhere]))
    cases.append(Case("bearer tokens (gated)", (UNAUTHORIZED,), call, legacy_headers(), worker="gated", auth=False,
                      target=f"/mcp?access_token={TOKEN}", check=challenge))
    cases.append(denied([("Authorization", f"Bearer {TOKEN}"), ("Authorization", f"Bearer {TOKEN}")]))
    cases.append(denied([("Authorization", "Bearer wrong"), ("Authorization", f"Bearer {TOKEN}")]))
    # The gate comes before the body: garbage without a token is still a 401, not a parse error.
    for body in [b"", b"{", b"[1,2]", b"\xff\xfe", dumps(message("tools/list")), b"[" * 10_000]:
        cases.append(denied([], body=body))
    for method in ["GET", "DELETE", "PUT"]:
        cases.append(Case("bearer tokens (gated)", (UNAUTHORIZED,), None, legacy_headers(), method=method,
                          worker="gated", auth=False, check=challenge))
    # The right token, any scheme case: in.
    for scheme in ["Bearer", "bearer", "BEARER", "Bearer  "]:
        for token in ACCESS_TOKENS:
            cases.append(Case("bearer tokens (gated)", (OK,), dumps(message("tools/list")),
                              [*legacy_headers(), ("Authorization", f"{scheme} {token}")], worker="gated", auth=False))
    return cases


def hostile_tool_arguments(rng: random.Random, tools: list[dict], ids: dict[str, str]) -> list[Case]:
    """Every tool, every argument: wrong types, out-of-range numbers, oversize and hostile
    strings, unknown keys, malformed filters. Type-valid hostile strings reach Prefect."""
    cases = []

    def call(name, arguments, expect, era="legacy", note=""):
        if era == "modern":
            return modern_case("hostile tool arguments", "tools/call", {"name": name, "arguments": arguments},
                               (expect,), note=note)
        return Case("hostile tool arguments", (expect,), dumps(tool_call(name, arguments)), legacy_headers(),
                    note=note)

    type_samples = {"string": ["x", "", "😀"], "integer": [3], "number": [1.5], "boolean": [True], "null": [None],
                    "array": [[], ["x"]], "object": [{}, {"a": 1}]}
    for tool in tools:
        name, schema = tool["name"], tool["inputSchema"]
        properties = schema.get("properties", {})
        required = schema.get("required", [])
        base = {key: ids.get(key) for key in required}
        for era in ("legacy", "modern"):
            for unknown in ["zzz", "Filter", "LIMIT", "__proto__", "limit ", "", "filter.name", "$where"]:
                cases.append(call(name, {**base, unknown: 1}, TOOL_ERROR, era))
        for key, prop in properties.items():
            types = prop.get("type", [])
            types = [types] if isinstance(types, str) else types
            for kind, samples in type_samples.items():
                if kind in types or (kind == "integer" and "number" in types):
                    continue
                if kind == "number" and "integer" in types:
                    samples = [1.5, -0.5]
                for sample in samples:
                    cases.append(call(name, {**base, key: sample}, TOOL_ERROR, note=f"{key}={sample!r}"))
            if "integer" in types:
                low, high = prop.get("minimum", 1), prop.get("maximum", 200)
                # Numeric strings ("3", "1e2") are accepted, like the reference does.
                for value in [low - 1, -1, 0, high + 1, 2**31, 2**63, -(2**63), 1e300, "abc", "", "-0.5", "1e9"]:
                    if isinstance(value, (int, float)) and low <= value <= high:
                        continue
                    cases.append(call(name, {**base, key: value}, TOOL_ERROR, note=f"{key}={value!r}"))
            if "string" in types:
                for size in [4097, 5000, 100_000]:
                    cases.append(call(name, {**base, key: "a" * size}, TOOL_ERROR, note=f"{key} {size} chars"))
                if prop.get("format") == "uuid":  # workspace_id: Cloud only, so refused either way on OSS
                    for value in INJECTIONS + [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(5)]:
                        if value == "":
                            continue
                        cases.append(call(name, {**base, key: value}, TOOL_ERROR, note=f"{key}={value[:20]!r}"))
                elif "const" in prop:
                    for value in INJECTIONS + [prop["const"].upper(), prop["const"] + " "]:
                        cases.append(call(name, {**base, key: value}, TOOL_ERROR, note=f"{key}={value[:20]!r}"))
        if "filter" in properties:
            for filter_, note in [
                ({"bogus": {}}, "unknown key"), ({"name": {"like": "x"}}, "unknown operator"),
                ({"name": {"regex_": ".*"}}, "unknown operator"), ({"id": {"any_": ["../../admin"]}}, "non-UUID id"),
                ({"id": {"any_": "x"}}, "not a list"), ({"id": {"any_": [1]}}, "number id"),
                ({"name": "x"}, "leaf for object"), ({"operator": "xor_"}, "operator"), ({"operator": 1}, "operator"),
                ({"$where": "1"}, "mongo"), ({"__proto__": {"x": 1}}, "proto"), ({"name": {"any_": [1, 2]}}, "types"),
                ({"name": {"any_": ["x"], "like_": 1}}, "like_ type"),
                ({"name": {"any_": ["x" * 5000]}}, "huge string"),
                ({"tags": {"all_": ["x"] * 300}}, "too many values"),
                ({f"k{i}": None for i in range(300)}, "too many keys"),
            ]:
                cases.append(call(name, {**base, "filter": filter_}, TOOL_ERROR, note=note))
            for _ in range(12):
                key = "".join(rng.choice(string.ascii_lowercase + "_") for _ in range(rng.randrange(1, 12)))
                cases.append(call(name, {**base, "filter": {key + "_zz": {"any_": ["x"]}}}, TOOL_ERROR))
            for bad_filter in [[], "x", 1, True, [{"name": {}}]]:
                cases.append(call(name, {**base, "filter": bad_filter}, TOOL_ERROR))
    # Type-valid hostile values: they reach the real Prefect server, which finds nothing.
    lists = {"get_flows": "name", "get_deployments": "name", "get_flow_runs": "name", "get_task_runs": "name",
             "get_work_pools": "name", "get_automations": "name"}
    for tool, key in lists.items():
        for value in rng.sample(INJECTIONS, 8):
            cases.append(call(tool, {"filter": {key: {"any_": [value]}}, "limit": 1}, OK, note=f"{value[:20]!r}"))
    for value in rng.sample(INJECTIONS, 8):
        if value:
            cases.append(call("read_events", {"event_type_prefix": value, "limit": 1}, OK, note=f"{value[:20]!r}"))
        # Prefect parses the bounds (numbers as Unix times); these are not dates: Prefect's 422.
        bound = value if value.strip() else "x"  # a blank bound means "no bound"
        if not bound.strip().lstrip("-").isdigit():
            cases.append(call("read_events", {"occurred_after": bound}, TOOL_ERROR, note=f"{bound[:20]!r}"))
        cases.append(call("get_flow_run_logs", {"flow_run_id": value or "x"}, TOOL_ERROR, note=f"{value[:20]!r}"))
    for _ in range(6):  # unknown but well-formed ids: empty answers, not errors
        cases.append(call("get_flow_run_logs", {"flow_run_id": str(uuid.UUID(int=rng.getrandbits(128)))}, OK))
        cases.append(call("get_flow_runs", {"filter": {"id": {"any_": [str(uuid.UUID(int=rng.getrandbits(128)))]}}},
                          OK))
    return cases


# --- running ---------------------------------------------------------------------------

def classify(reply: Reply, head: bool = False) -> str:
    if reply.failure == "hang":
        return "HANG"
    if reply.failure or reply.status is None:
        return "CONNECTION FAILURE"
    status = reply.status
    if status >= 500:
        return f"5xx {status}"
    if status in (202, 204):
        return f"{status} empty" if not reply.body else f"{status} WITH BODY"
    if head:
        return f"{status} head"
    content_type = reply.headers.get("content-type", "")
    prefix = ""
    if content_type.startswith("text/event-stream"):
        data = [line[5:].strip() for line in reply.body.decode(errors="replace").splitlines() if line.startswith("data:")]
        try:
            parsed = json.loads(data[0]) if len(data) == 1 else None
        except ValueError:
            parsed = None
        prefix = "sse "
    elif content_type.startswith("application/json"):
        parsed = reply.json()
    else:
        return f"{status} text" if reply.body.strip() else f"{status} EMPTY"
    if not isinstance(parsed, dict) or parsed.get("jsonrpc") != "2.0":
        return f"{status} BAD JSON-RPC"
    if "error" in parsed:
        error = parsed["error"]
        precise = (isinstance(error, dict) and isinstance(error.get("code"), int)
                   and isinstance(error.get("message"), str) and error["message"].strip())
        return f"{prefix}{status} rpc {error['code']}" if precise else f"{status} IMPRECISE ERROR"
    result = parsed.get("result")
    if isinstance(result, dict) and result.get("isError") is True:
        content = result.get("content") or [{}]
        text = content[0].get("text", "") if isinstance(content[0], dict) else ""
        return f"{prefix}{status} tool error" if text.strip() else f"{status} IMPRECISE TOOL ERROR"
    return f"{prefix}{status} ok" if isinstance(result, dict) else f"{status} BAD JSON-RPC"


def run(case: Case, ports: dict[str, int]) -> tuple[Case, Reply, str]:
    port = ports[case.worker]
    if case.method == "RAW":
        request = case.body.replace(b"Host: 127.0.0.1\r\n", b"Host: 127.0.0.1:%d\r\n" % port, 1)
        reply = send(port, request, TIMEOUT, half_close=case.half_close)
        return case, reply, classify(reply)
    headers = list(JSON_HEADERS if case.headers is None else case.headers)
    if case.worker == "gated" and case.auth:
        headers.append(("Authorization", f"Bearer {TOKEN}"))
    host = f"127.0.0.1:{port}" if case.host == "default" else case.host
    request = build(case.method, case.target, host, headers, case.body, case.chunked)
    reply = send(port, request, TIMEOUT, head=case.method == "HEAD", half_close=case.half_close)
    return case, reply, classify(reply, head=case.method == "HEAD")


REPORT = WORK / "adversarial-report.json"


class SummaryPlugin:
    """Prints the per-category table at the end of the session (no `-s` needed)."""

    def __init__(self, report: dict):
        self.report = report

    def pytest_terminal_summary(self, terminalreporter):
        write = terminalreporter.write_line
        terminalreporter.section("adversarial suite")
        write(f"{'category':<44}{'requests':>9}  answers")
        for category, row in self.report["categories"].items():
            answers = ", ".join(f"{label} ×{count}" for label, count in row["answers"].items())
            write(f"{category:<44}{row['requests']:>9}  {answers}")
        totals = self.report["totals"]
        write(f"{'total':<44}{totals['requests']:>9}  unexpected {totals['unexpected']}, Worker 5xx "
              f"{totals['worker_5xx']}, hangs {totals['hangs']}, connection failures {totals['connection_failures']}, "
              f"answered by workerd before the Worker {totals['answered_by_workerd']}")
        write(f"report: {REPORT}")


@pytest.fixture(scope="module")
def ports(worker_with_secrets, gated_worker) -> dict[str, int]:
    return {"open": urlsplit(worker_with_secrets).port, "gated": urlsplit(gated_worker).port}


def test_thousands_of_hostile_requests_get_precise_answers(ports, worker_with_secrets, gated_worker, prefect,
                                                           request):
    rng = random.Random(SEED)
    _, _, listing = post_json(worker_with_secrets, message("tools/list"))
    tools = listing["result"]["tools"]
    run_id = prefect.rest("POST", "flow_runs/filter", {"limit": 1})[0]["id"]
    cases = (json_syntax(rng) + encoding(rng) + jsonrpc_types(rng) + batches(rng) + body_limits(rng) + nesting(rng)
             + methods_and_paths(rng) + content_types(rng) + header_injection(rng) + protocol_versions(rng)
             + origins_and_hosts(rng) + bearer_tokens(rng)
             + hostile_tool_arguments(rng, tools, {"flow_run_id": run_id, "object_type": "automation"}))
    assert len(cases) >= 3000, len(cases)

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda c: run(c, ports), cases))

    categories: dict[str, dict] = defaultdict(lambda: {"requests": 0, "answers": Counter()})
    unexpected, leaks = [], []
    totals = Counter()
    for case, reply, label in results:
        row = categories[case.category]
        row["requests"] += 1
        row["answers"][label] += 1
        totals["requests"] += 1
        totals["hangs"] += label == "HANG"
        totals["connection_failures"] += label == "CONNECTION FAILURE"
        totals["answered_by_workerd"] += case.by_runtime
        totals["worker_5xx"] += label.startswith("5xx") and not case.by_runtime
        problem = None if label in case.expect else f"got {label}, expected {' or '.join(case.expect)}"
        if problem is None and case.check is not None:
            problem = case.check(reply)
        if problem:
            unexpected.append(f"[{case.category}] {case.note or (case.body or b'')[:100]!r}: {problem}; "
                              f"answer {reply.body[:200]!r}")
        text = reply.body.decode("utf-8", errors="replace") + json.dumps(reply.headers)
        if any(secret in text for secret in SECRETS):
            leaks.append(f"[{case.category}] {case.note}: secret in the answer")
    totals["unexpected"] = len(unexpected) + len(leaks)

    report = {
        "measured": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seed": SEED,
        "timeout_seconds": TIMEOUT,
        "totals": dict(totals),
        "categories": {name: {"requests": row["requests"], "answers": dict(row["answers"].most_common())}
                       for name, row in categories.items()},
    }
    WORK.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    request.config.pluginmanager.register(SummaryPlugin(report), "adversarial-summary")

    # Both Workers still serve a valid call with Prefect data.
    for url, headers in ((worker_with_secrets, {}), (gated_worker, {"Authorization": f"Bearer {TOKEN}"})):
        status, _, body = post_json(url, tool_call("get_flows", {"limit": 1}), {"MCP-Protocol-Version": LEGACY,
                                                                                **headers})
        assert status == 200 and body["result"]["structuredContent"]["success"] is True, body

    (WORK / "adversarial-unexpected.txt").write_text("\n".join(unexpected + leaks) + "\n")
    assert not leaks, leaks[:20]
    assert not unexpected, f"{len(unexpected)} unexpected answers:\n" + "\n".join(unexpected[:60])
    assert totals["hangs"] == 0 and totals["connection_failures"] == 0 and totals["worker_5xx"] == 0
