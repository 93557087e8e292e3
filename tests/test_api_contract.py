"""The API against its own OpenAPI document: schemathesis generates requests from it (valid
and invalid, every operation, with real campaign and message ids as well as made-up ones)
and checks every answer: no server error, only documented status codes and content types,
bodies that match their schemas, valid requests accepted and invalid ones refused."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from clicksift import access
from clicksift.settings import Settings
from clicksift.storage import open_store
from tests.support import running_server

CLI = [sys.executable, "-m", "clicksift"]
EXAMPLES = int(os.environ.get("CLICKSIFT_API_EXAMPLES", "30"))


@pytest.mark.slow
def test_the_api_keeps_its_openapi_contract(tmp_path: Path) -> None:
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st, "schemathesis is a dev dependency: pip install '.[dev]'"
    events, db = tmp_path / "events.jsonl", tmp_path / "contract.db"
    subprocess.run([*CLI, "simulate", "--recipients", "150", "-o", str(events)], check=True,
                   capture_output=True)
    subprocess.run([*CLI, "load", str(events), "--db", str(db)], check=True,
                   capture_output=True)
    store = open_store(Settings(database=str(db)))
    key = access.create_key(store, "contract").secret
    store.close()
    with running_server({"CLICKSIFT_DATABASE": str(db)}, tmp_path) as server:
        api = f"{server.base_url}/api/v1"
        auth = {"authorization": f"Bearer {key}"}
        campaign = httpx.get(f"{api}/campaigns", headers=auth).json()["campaigns"][0]["id"]
        message = httpx.get(f"{api}/events", params={"type": "click"}, headers=auth
                            ).json()["items"][0]["message_id"]
        config = tmp_path / "schemathesis.toml"
        config.write_text(f'headers = {{ Authorization = "Bearer {key}" }}\n'
                          f'[parameters]\ncampaign = "{campaign}"\nmessage = "{message}"\n')
        run = subprocess.run([st, "--config-file", str(config), "run", f"{api}/openapi.json",
                              "--url", api, "--max-examples", str(EXAMPLES), "--seed", "1",
                              "--workers", "1"], capture_output=True, text=True, timeout=600,
                             cwd=tmp_path)
    report = run.stdout[-3000:]
    assert run.returncode == 0, report
    assert " passed" in report and "failed" not in report.split("Test cases:")[-1], report
