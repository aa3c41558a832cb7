"""A raw HTTP/1.1 client for hostile requests: every byte of the request is ours (bad UTF-8,
CRLF, NUL, duplicate or missing headers, lying lengths), and reading the answer is bounded
by a deadline, so a server that never answers is reported as a hang instead of blocking."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field


@dataclass
class Reply:
    status: int | None  # None: no HTTP status line came back
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    failure: str | None = None  # "hang" or "connection: …" when there is no complete answer
    seconds: float = 0.0

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def build(method: str, target: str, host: str | None, headers: list[tuple[str, str | bytes]],
          body: bytes | None, chunked: bool = False) -> bytes:
    """The request bytes; `host=None` sends no Host header, `body=None` no Content-Length."""
    lines = [f"{method} {target} HTTP/1.1".encode()]
    if host is not None:
        lines.append(b"Host: " + host.encode("latin-1"))
    for name, value in headers:
        value = value if isinstance(value, bytes) else value.encode("latin-1")
        lines.append(name.encode("latin-1") + b": " + value)
    lines.append(b"Connection: close")
    payload = body or b""
    if chunked:
        lines.append(b"Transfer-Encoding: chunked")
        size = 64 * 1024
        pieces = [payload[i:i + size] for i in range(0, len(payload), size)]
        payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    elif body is not None:
        lines.append(b"Content-Length: %d" % len(payload))
    return b"\r\n".join(lines) + b"\r\n\r\n" + payload


def send(port: int, request: bytes, timeout: float, head: bool = False, half_close: bool = False) -> Reply:
    """Sends `request` on a fresh loopback connection and reads one response within `timeout`."""
    started = time.monotonic()
    deadline = started + timeout
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as error:
        return Reply(None, failure=f"connection: {error}", seconds=time.monotonic() - started)
    buffer = b""
    try:
        try:
            sock.sendall(request)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early (e.g. 413) and stopped reading: read what it said
        while True:
            parsed = _parse(buffer, head)
            if parsed is not None:
                return Reply(*parsed, seconds=time.monotonic() - started)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return Reply(None, body=buffer, failure="hang", seconds=time.monotonic() - started)
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                return Reply(None, body=buffer, failure="hang", seconds=time.monotonic() - started)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                parsed = _parse(buffer, head, closed=True)
                if parsed is not None:
                    return Reply(*parsed, seconds=time.monotonic() - started)
                return Reply(None, body=buffer, failure=f"connection: closed after {len(buffer)} bytes",
                             seconds=time.monotonic() - started)
            buffer += chunk
    finally:
        sock.close()


def _parse(buffer: bytes, head: bool, closed: bool = False):
    """(status, headers, body) once `buffer` holds a complete response, else None."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = buffer[:end].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return (None, {}, buffer) if closed else None
    status = int(parts[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    rest = buffer[end + 4:]
    if head or status in (204, 304) or 100 <= status < 200:
        return status, headers, b""
    if "content-length" in headers:
        length = int(headers["content-length"])
        return (status, headers, rest[:length]) if len(rest) >= length else None
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body, position = b"", 0
        while True:
            line_end = rest.find(b"\r\n", position)
            if line_end < 0:
                return None
            size = int(rest[position:line_end].split(b";")[0] or b"0", 16)
            if size == 0:
                return status, headers, body
            if len(rest) < line_end + 2 + size + 2:
                return None
            body += rest[line_end + 2:line_end + 2 + size]
            position = line_end + 2 + size + 2
    return (status, headers, rest) if closed else None
