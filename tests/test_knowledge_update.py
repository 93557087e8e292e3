"""`clicksift knowledge update` against vendors' lists served over loopback HTTP."""

from __future__ import annotations

import functools
import http.server
import ipaddress
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from clicksift.classify.knowledge import load_knowledge
from clicksift.cli import main
from tests.support import FIXTURES

LISTS = FIXTURES / "knowledge"


@pytest.fixture
def vendor_site() -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(LISTS))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_update_fetches_vendor_networks_into_a_folder(vendor_site: str, tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    result = CliRunner().invoke(main, [
        "knowledge", "update", "--to", str(folder),
        "--source", f"microsoft365={vendor_site}/microsoft365-endpoints.json",
        "--source", f"zscaler={vendor_site}/zscaler-cenr.json"])
    assert result.exit_code == 0, result.output
    assert "updated microsoft-exchange-online-protection: 8 address blocks" in result.stderr
    assert "updated zscaler: 4 address blocks" in result.stderr
    kb = load_knowledge(str(folder))
    entry = kb.match_network(ipaddress.ip_address("185.46.212.10"))
    assert entry is not None and entry.id == "zscaler"
    assert kb.match_network(ipaddress.ip_address("165.225.200.1")) is None  # not in the new list
    raw = {e["id"]: e for e in kb.raw_networks}
    assert raw["zscaler"]["source"].startswith(vendor_site)
    assert raw["microsoft-365-service"]["cidrs"][0] == "13.107.6.152/31"
    shown = CliRunner().invoke(main, ["knowledge", "show"],
                               env={"CLICKSIFT_KNOWLEDGE_DIR": str(folder)})
    assert shown.exit_code == 0 and "zscaler" in shown.stdout


def test_update_keeps_entries_when_a_source_fails(vendor_site: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, [
        "knowledge", "update", "--to", str(tmp_path / "kb"),
        "--source", f"microsoft365={vendor_site}/missing.json",
        "--source", f"zscaler={vendor_site}/zscaler-cenr.json"])
    assert result.exit_code == 0
    assert "microsoft365 not updated" in result.stderr and "404" in result.stderr
    kb = load_knowledge(str(tmp_path / "kb"))
    entry = kb.match_network(ipaddress.ip_address("40.92.4.17"))
    assert entry is not None and entry.id == "microsoft-exchange-online-protection"


def test_update_needs_a_folder_and_known_sources(tmp_path: Path) -> None:
    assert "say where" in CliRunner().invoke(main, ["knowledge", "update"]).stderr
    bad = CliRunner().invoke(main, ["knowledge", "update", "--to", str(tmp_path),
                                    "--source", "nobody=http://x"])
    assert bad.exit_code == 2 and "NAME=URL" in bad.stderr
