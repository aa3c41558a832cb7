"""What the Worker keeps: after grants in both modes (and whatever the other OAuth tests of the session
did before this module, which is named to run after them), a dump of every OAuth Worker's local
storage (the KV namespace OAUTH_KV as workerd persists it: SQLite files and value blobs) and of its
request log holds none of the secrets, tokens, codes or Prefect credentials used, in plain text or
in the obvious encodings."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import quote

from oauth_support import (
    OAUTH_WORKERS,
    SECRETS,
    AuthorizationServer,
    kv_entries,
    personal_credentials,
    remember,
    storage_files,
    team_credentials,
)


def encodings(secret: str) -> set[bytes]:
    raw = secret.encode()
    return {raw, base64.b64encode(raw), base64.urlsafe_b64encode(raw).rstrip(b"="), base64.b64encode(raw).rstrip(b"="),
            raw.hex().encode(), quote(secret, safe="").encode()}


def make_grants(server: AuthorizationServer, credentials: dict[str, str]) -> list[str]:
    """A public and a confidential client, each with a refreshed grant; returns their client ids."""
    public = server.register()
    confidential = server.register(token_endpoint_auth_method="client_secret_post")
    assert confidential.client_secret
    for client in (public, confidential):
        tokens = server.tokens(client, credentials)
        refreshed = server.refresh(client, tokens["refresh_token"])
        assert refreshed.status_code == 200, refreshed.text
    return [public.client_id, confidential.client_id]


def test_storage_and_logs_hold_no_secret(oauth_team_worker, oauth_personal_worker, prefect):
    client_ids = make_grants(AuthorizationServer(oauth_team_worker), team_credentials())
    client_ids += make_grants(AuthorizationServer(oauth_personal_worker), personal_credentials(prefect))
    remember(prefect.auth_string, prefect.auth_string.split(":", 1)[1])
    assert len(SECRETS) >= 12, sorted(SECRETS)
    needles = {needle: secret for secret in SECRETS for needle in encodings(secret)}

    storage = {str(path): path.read_bytes() for worker in OAUTH_WORKERS for path in storage_files(worker)}
    # The dump is the real storage: the registered clients are in it.
    stored = b"".join(storage.values())
    assert all(client_id.encode() in stored for client_id in client_ids), sorted(storage)
    logs = {f"{worker.log_path} (structured lines)": json.dumps(worker.log_entries()).encode()
            for worker in OAUTH_WORKERS}
    dumped = {**storage, **logs}

    leaks = sorted({(name, secret[:12] + "...") for name, content in dumped.items()
                    for needle, secret in needles.items() if needle in content})
    assert leaks == [], leaks


def test_every_record_expires(oauth_team_worker, oauth_personal_worker, prefect):
    """Codes, tokens, grants and clients carry a storage TTL; only the Worker's own configuration
    (the consent-form signing key) is kept without one."""
    make_grants(AuthorizationServer(oauth_team_worker), team_credentials())
    make_grants(AuthorizationServer(oauth_personal_worker), personal_credentials(prefect))
    horizon_ms = (time.time() + 400 * 24 * 3600) * 1000
    for worker in (oauth_team_worker, oauth_personal_worker):
        entries = kv_entries(worker)
        assert len(entries) >= 6, entries
        without_ttl = sorted(key for key, expiration in entries.items() if expiration is None)
        assert all(key.startswith("config:") for key in without_ttl), without_ttl
        assert all(expiration <= horizon_ms for expiration in entries.values() if expiration is not None), entries
