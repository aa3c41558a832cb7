"""Claude Code against Workers whose only way in is OAuth (no `--header`): its health check
(`claude mcp list`) follows the 401 challenge and reports that the server needs authentication,
not a failure. Same isolated HOME and switched-off network features as test_claude_code.py."""

from __future__ import annotations

from test_claude_code import claude, server_status


def test_claude_code_sees_an_oauth_worker_as_needing_authentication(tmp_path, oauth_team_worker,
                                                                    oauth_personal_worker):
    servers = {"prefect-team": oauth_team_worker.url, "prefect-personal": oauth_personal_worker.url}
    for name, url in servers.items():
        claude(tmp_path, "mcp", "add", "--transport", "http", name, url)
    listing = claude(tmp_path, "mcp", "list")
    for name, url in servers.items():
        status = server_status(listing, name, url)
        assert "Needs authentication" in status and "Failed" not in status, status
