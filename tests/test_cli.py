"""The command line as people and scripts use it: exit codes, messages, files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from clicksift.cli import main
from tests.support import EMAILS


def run(*args: str, env: dict[str, str] | None = None, input: str | None = None):
    return CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)


def test_prepare_writes_html_headers_and_records_the_message(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    out, headers = tmp_path / "out.html", tmp_path / "h.json"
    result = run("prepare", str(EMAILS / "saas-product-update.html"), "--recipient",
                 "dana@example.com", "--campaign", "march", "--message-id", "m-1",
                 "--db", str(db), "-o", str(out), "--headers-out", str(headers))
    assert result.exit_code == 0, result.output
    assert "/c/" in out.read_text()
    assert json.loads(headers.read_text())["List-Unsubscribe-Post"] == (
        "List-Unsubscribe=One-Click")
    assert "plain http" in result.stderr and "7 links tracked" in result.stderr
    exported = run("events", "--db", str(db))
    event = json.loads(exported.stdout)
    assert event["type"] == "delivered" and event["message_id"] == "m-1"
    assert event["campaign_id"] == "march" and len(event["links"]) == 9


def test_prepare_errors_are_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.html"
    bad.write_bytes("<p>caf\xe9</p>".encode("latin-1"))
    result = run("prepare", str(bad), "--recipient", "a@b.example", "--campaign", "c",
                 "--db", str(tmp_path / "c.db"))
    assert result.exit_code == 2
    assert "is not utf-8 (byte 0xe9 at offset 6); convert it or pass --encoding" in result.stderr
    assert "Traceback" not in result.output
    assert run("prepare", str(bad), "--recipient", "a@b.example", "--campaign", "c",
               "--encoding", "latin-1", "--db", str(tmp_path / "c.db")).exit_code == 0
    missing = run("prepare", str(tmp_path / "nope.html"), "--recipient", "a@b.example",
                  "--campaign", "c", "--db", str(tmp_path / "c.db"))
    assert missing.exit_code == 2 and "cannot read" in missing.stderr
    recipient = run("prepare", str(bad), "--recipient", "nobody", "--campaign", "c",
                    "--encoding", "latin-1", "--db", str(tmp_path / "c.db"))
    assert recipient.exit_code == 2 and "is not an email address" in recipient.stderr


def test_load_is_idempotent_and_reports_bad_lines(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    events = tmp_path / "e.jsonl"
    lines = [{"type": "delivered", "id": "d1", "message_id": "m1", "campaign_id": "c",
              "recipient": "a@b.example", "timestamp": "2026-01-01T00:00:00Z"},
             {"type": "click", "id": "k1", "message_id": "m1", "url": "https://x.example/",
              "timestamp": 1767225610}]
    events.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    first = run("load", str(events), "--db", db)
    assert first.exit_code == 0 and "stored 2 new" in first.stderr
    assert "stored 0 new, 2 already stored" in run("load", str(events), "--db", db).stderr
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(lines[1]) + '\n{"type": "open", "id": "x"}\n')
    failed = run("load", str(broken), "--db", db)
    assert failed.exit_code == 2
    assert f"{broken}, line 2, field 'message_id': is required" in failed.stderr
    skipped = run("load", str(broken), "--db", db, "--skip-invalid")
    assert skipped.exit_code == 0 and "skipped 1 invalid lines" in skipped.stderr


def test_load_judges_like_import_so_a_report_straight_after_counts_people(
        tmp_path: Path) -> None:
    """A person's click hours after delivery, loaded: the report counts a person at once
    (with --no-judge, only once `rescore` has run)."""
    lines = [{"type": "delivered", "id": "d1", "message_id": "m1", "campaign_id": "c",
              "recipient": "a@b.example", "timestamp": "2026-01-01T00:00:00Z"},
             {"type": "click", "id": "k1", "message_id": "m1", "url": "https://x.example/",
              "timestamp": 1767225600 + 7200, "ip": "73.1.2.3", "method": "GET",
              "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                            "(KHTML, like Gecko) Chrome/143.0.0.0 Safari/537.36"}]
    events = tmp_path / "e.jsonl"
    events.write_text("\n".join(json.dumps(line) for line in lines) + "\n")

    def human_clicks(db: str) -> int:
        report = json.loads(run("report", "c", "--db", db, "--format", "json").stdout)
        return int(report["totals"]["clicks"]["human"])

    judged = str(tmp_path / "judged.db")
    loaded = run("load", str(events), "--db", judged)
    assert loaded.exit_code == 0 and "judged the events of 1 messages" in loaded.stderr
    assert human_clicks(judged) == 1
    later = str(tmp_path / "later.db")
    assert run("load", str(events), "--db", later, "--no-judge").exit_code == 0
    assert human_clicks(later) == 0
    assert run("rescore", "--db", later).exit_code == 0
    assert human_clicks(later) == 1


def test_events_export_filters(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    events = tmp_path / "e.jsonl"
    events.write_text("".join(json.dumps({
        "type": kind, "id": f"e{i}", "message_id": "m1", "url": "https://x.example/",
        "timestamp": 1767225600 + i}) + "\n" for i, kind in enumerate(["open", "click", "open"])))
    run("load", str(events), "--db", db)
    out = tmp_path / "out.jsonl"
    result = run("events", "--db", db, "--type", "open", "--since", "2026-01-01T00:00:01Z",
                 "-o", str(out))
    assert result.exit_code == 0
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["e2"]
    bad = run("events", "--db", db, "--since", "yesterday")
    assert bad.exit_code == 2 and "--since" in bad.stderr


def test_config_shows_sources_and_masks_secrets(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('port = 9001\n')
    env = {"CLICKSIFT_SIGNING_KEYS": "k1:do-not-print-this-secret", "CLICKSIFT_HOST": "0.0.0.0"}
    result = run("--config", str(config), "config", "--format", "json", env=env)
    settings = json.loads(result.stdout)
    assert settings["port"] == {"value": "9001", "source": f"file {config}"}
    assert settings["host"]["source"] == "env CLICKSIFT_HOST"
    assert "do-not-print" not in result.output
    bad = run("config", env={"CLICKSIFT_PORT": "x"})
    assert bad.exit_code == 2 and "setting 'port'" in bad.stderr


@pytest.mark.slow
def test_demo_sends_simulated_traffic_through_the_real_server(tmp_path: Path) -> None:
    from tests.support import free_port

    folder = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "clicksift", "demo", "--dir", str(folder), "--no-serve",
         "--recipients", "40", "--port", str(free_port())],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    # In 80 columns every line fits, but a URL alone on its line; the password and the API
    # key are whole, so they can be copied.
    lines = result.stdout.splitlines()
    assert [line for line in lines if len(line) > 80 and " " in line.strip()] == []
    logins = dict(line.split(": ", 1) for line in
                  (folder / "logins.txt").read_text().splitlines())
    assert any(logins["dashboard password"] in line for line in lines)
    assert any(line.strip().endswith(f"KEY={logins['API key']}") for line in lines)
    messages = list((folder / "messages").glob("*.html"))
    assert len(messages) == 6
    assert all("/c/" in m.read_text() for m in messages)
    exported = [json.loads(line) for line in run("events", "--db", str(folder / "demo.db"))
                .stdout.splitlines()]
    recorded = [e for e in exported if e.get("source") == "tracker"]
    assert recorded, "the simulated traffic reached the tracking server"
    assert all(not e["ip"].startswith("127.") for e in recorded)  # X-Forwarded-For believed
    assert "final verdicts for 96 messages" in result.stderr     # 6 + 40 + 50 from SendGrid
    from_esp = [e for e in exported if e.get("source") == "sendgrid"]
    assert {e["campaign_id"] for e in from_esp if e["type"] == "delivered"} == {"autumn-digest"}
    assert "signed SendGrid webhook batches" in result.stderr
    from clicksift.settings import Settings
    from clicksift.storage import open_store
    store = open_store(Settings(database=str(folder / "demo.db")))
    verdicts = store.verdict_rows([e["id"] for e in recorded])
    store.close()
    assert len(verdicts) == len(recorded)
    assert all(v["final"] for v in verdicts.values())


def _judged_store(tmp_path: Path) -> str:
    from clicksift.simulate import SimulationConfig, events_and_truth, simulate

    raw, _ = events_and_truth(simulate(SimulationConfig(recipients=60, seed=4)))
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in raw))
    db = str(tmp_path / "r.db")
    assert run("load", str(events), "--db", db).exit_code == 0
    assert run("rescore", "--db", db).exit_code == 0
    return db


def test_report_as_tables_json_and_csv(tmp_path: Path) -> None:
    db = _judged_store(tmp_path)
    overview = run("report", "--db", db)
    assert overview.exit_code == 0 and "sim4-c1" in overview.stdout
    data = json.loads(run("report", "sim4-c1", "--db", db, "--format", "json").stdout)
    totals = data["totals"]
    assert totals["delivered"] == 60
    assert totals["clicks"]["raw"] == totals["clicks"]["human"] + totals["clicks"]["nhi"] > 0
    table = run("report", "sim4-c1", "--db", db, "--section", "summary").stdout
    assert f"{totals['clicks']['raw']:,}" in table and "unique clickers" in table
    rows = run("report", "sim4-c1", "--db", db, "--format", "csv", "--section", "links").stdout
    header, *lines = rows.splitlines()
    assert header.startswith("key,url,kind,clicks_raw") and len(lines) == len(data["links"])
    trust = run("report", "sim4-c1", "--db", db, "--section", "trust").stdout
    assert "machine recall" in trust and "person precision" in trust
    assert f"{data['trust']['machine_events']:,}" in trust
    assert max(len(line) for line in trust.splitlines()) <= 80
    listed = run("report", "--db", db, "--format", "csv").stdout.splitlines()
    assert listed[0].startswith("campaign,") and listed[1].startswith("sim4-c1,")
    missing = run("report", "nope", "--db", db)
    assert missing.exit_code == 2 and "no campaign 'nope'" in missing.stderr


def test_keys_and_users(tmp_path: Path) -> None:
    db = str(tmp_path / "k.db")
    made = run("keys", "create", "ci", "--db", db)
    key = made.stdout.strip()
    assert made.exit_code == 0 and key.startswith("csk_") and "shown once" not in key
    listed = run("keys", "list", "--db", db).stdout
    key_id = key.split("_")[1]
    assert key_id in listed and "active" in listed and key.split("_", 2)[2] not in listed
    assert run("keys", "revoke", key_id, "--db", db).exit_code == 0
    assert "revoked" in run("keys", "list", "--db", db).stdout
    assert run("keys", "revoke", key_id, "--db", db).exit_code == 2
    short = run("users", "create", "ann", "--db", db, "--password-stdin", input="short\n")
    assert short.exit_code == 2 and "too short" in short.stderr
    ok = run("users", "create", "ann", "--db", db, "--password-stdin",
             input="long enough password\n")
    assert ok.exit_code == 0 and "ann" in run("users", "list", "--db", db).stdout
    assert run("users", "delete", "ann", "--db", db).exit_code == 0
    assert run("users", "delete", "ann", "--db", db).exit_code == 2


def test_module_entry_point_and_help() -> None:
    result = subprocess.run([sys.executable, "-m", "clicksift", "--help"], capture_output=True,
                            text=True, check=True)
    for command in ("serve", "prepare", "load", "events", "config", "demo", "report", "keys",
                    "users"):
        assert command in result.stdout


@pytest.mark.parametrize("command", ["serve", "prepare", "load", "events", "config", "demo",
                                     "classify", "rescore", "report", "keys", "users",
                                     "simulate", "knowledge"])
def test_every_command_is_documented_in_the_readme_or_docs(command: str) -> None:
    docs = "".join(p.read_text() for p in (Path(__file__).parent.parent / "docs").glob("*.md"))
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert f"clicksift {command}" in readme + docs


def _gone(group: int, timeout: float = 25.0) -> bool:
    """Whether every process of the process group GROUP has ended within TIMEOUT."""
    import os
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_serve_stops_with_its_children_when_the_terminal_hangs_up(
        tmp_path: Path, server: str) -> None:
    """A closed terminal (SIGHUP) stops the server, its workers and its housekeeper, as
    Ctrl-C does (granian alone would restart its workers and run on)."""
    import os
    import signal as signals

    from tests.support import start_server

    running = start_server({"CLICKSIFT_DATABASE": str(tmp_path / "hup.db")}, tmp_path,
                           server=server)
    try:
        os.kill(running.process.pid, signals.SIGHUP)
        assert running.process.wait(timeout=25) is not None
        assert _gone(running.process.pid), running.log()
    finally:
        running.kill()


def test_the_demo_stops_its_server_when_the_terminal_hangs_up(tmp_path: Path) -> None:
    import os
    import signal as signals
    import time

    import httpx

    from tests.support import free_port

    port = free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "clicksift", "demo", "--dir", str(tmp_path / "demo"),
         "--recipients", "0", "--port", str(port)], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        os.kill(demo.pid, signals.SIGHUP)
        assert demo.wait(timeout=30) == 0
        with pytest.raises(httpx.HTTPError):         # its server went with it
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signals.SIGKILL)


def test_config_in_80_columns_shows_each_setting_whole() -> None:
    """No four-column table squeezed into 80 columns: each setting, its value and source on
    a line, its meaning whole (no "…") wrapped under it."""
    import os

    from clicksift.configuration import SETTINGS_TABLE

    shown = subprocess.run([sys.executable, "-m", "clicksift", "config"], capture_output=True,
                           text=True, timeout=60, check=True,
                           env={**os.environ, "COLUMNS": "80", "CLICKSIFT_PORT": "8123"})
    assert max(len(line) for line in shown.stdout.splitlines()) <= 80
    assert "…" not in shown.stdout and "port = 8123  (env CLICKSIFT_PORT)" in shown.stdout
    flowing = " ".join(shown.stdout.split())
    for info in SETTINGS_TABLE.values():
        assert " ".join(info.help.split()) in flowing, info.name


def test_reports_fit_an_80_column_terminal_and_say_what_is_not_judged(tmp_path: Path) -> None:
    """Every line of the overview and of a campaign report fits 80 columns; events not
    judged yet show as "not judged", never as a people's rate of 0.0 %."""
    import os

    db = _judged_store(tmp_path)
    env = {**os.environ, "COLUMNS": "80"}
    every_section = [word for name in ("summary", "vendors", "kinds", "timeline", "links",
                                       "domains", "gateways", "trust", "esp")
                     for word in ("--section", name)]
    for args in (["report"], ["report", "sim4-c1"], ["report", "sim4-c1", *every_section]):
        shown = subprocess.run([sys.executable, "-m", "clicksift", *args, "--db", db],
                               capture_output=True, text=True, env=env, timeout=60, check=True)
        # a line may be wider only when it is one piece: a link's URL, whole to copy
        wide = [line for line in shown.stdout.splitlines()
                if len(line) > 80 and " " in line.strip()]
        assert not wide, "\n".join(wide)
    # every link and every domain is whole on a line, never folded into a narrow column
    full = json.loads(subprocess.run(
        [sys.executable, "-m", "clicksift", "report", "sim4-c1", "--db", db, "--format",
         "json"], capture_output=True, text=True, env=env, timeout=60, check=True).stdout)
    lines = {line.strip() for line in shown.stdout.splitlines()}
    names = [link["url"] for link in full["links"] if link["url"]] + \
        [domain["domain"] for domain in full["domains"]]
    assert names and all(name in lines for name in names), names
    events = tmp_path / "later.jsonl"
    events.write_text(json.dumps({"type": "click", "id": "later-1", "message_id": "m-later",
                                  "campaign_id": "later", "url": "https://x.example/",
                                  "timestamp": 1767225600}) + "\n")
    assert run("load", str(events), "--db", db, "--no-judge").exit_code == 0
    overview = subprocess.run([sys.executable, "-m", "clicksift", "report", "--db", db],
                              capture_output=True, text=True, env=env, timeout=60, check=True)
    later = next(line for line in overview.stdout.splitlines() if "later" in line)
    assert "not judged" in later and "0.0%" not in later.split("│")[4]
    assert "1 opens, clicks and unsubscribes are not judged yet" in overview.stderr


#: Commands that read or write the store, as a user would type them (--db is added).
STORE_COMMANDS = [
    ["events"], ["report"], ["rescore"], ["load", "{events}"],
    ["import", "--esp", "sendgrid", "{events}"], ["ingest", "problems"],
    ["ingest", "reparse"], ["keys", "list"], ["users", "list"], ["reviews", "list"],
    ["subscriptions", "a@b.example"], ["suppressions"], ["sunset", "--days", "30"],
    ["hooks", "list"],
    ["prepare", "{html}", "--recipient", "a@b.example", "--campaign", "c"]]


def _one_line_error(args: list[str], env: dict[str, str] | None = None) -> str:
    """Run the installed command; it must fail with one line on stderr and no traceback."""
    import os

    done = subprocess.run([sys.executable, "-m", "clicksift", *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})})
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode in (1, 2), (args, done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and len(lines) == 1, (args, done.stderr)
    assert lines[0].startswith("error: "), (args, lines)
    return lines[0]


@pytest.mark.parametrize("store", ["damaged", "unreachable"])
@pytest.mark.parametrize("command", STORE_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_every_store_command_fails_in_one_line_on_a_bad_store(
        tmp_path: Path, command: list[str], store: str) -> None:
    """A damaged SQLite file or an unreachable PostgreSQL: one line that says what and
    where, never a traceback."""
    events = tmp_path / "e.jsonl"
    events.write_text(json.dumps({"type": "open", "id": "x", "message_id": "m",
                                  "timestamp": 1}) + "\n")
    html = tmp_path / "e.html"
    html.write_text("<html><body><a href='https://x.example/'>x</a></body></html>")
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"not a database, only text " * 20)
    database = (str(damaged) if store == "damaged"
                else "postgresql://nobody:x@127.0.0.1:1/none")
    args = [part.format(events=events, html=html) for part in command]
    line = _one_line_error([*args, "--db", database])
    assert ("damaged.db" in line) if store == "damaged" else ("PostgreSQL" in line)


@pytest.mark.parametrize(("args", "env", "names"), [
    (["report"], {"CLICKSIFT_WORKERS": "zero"}, "CLICKSIFT_WORKERS"),
    (["--config", "{bad}", "report"], {}, "port"),
    (["load", "{missing}"], {}, "missing.jsonl"),
    (["classify", "{missing}"], {}, "missing.jsonl"),
    (["import", "--esp", "braze", "{missing}"], {}, "missing.jsonl"),
    (["prepare", "{missing}", "--recipient", "a@b.example", "--campaign", "c"], {},
     "missing.jsonl"),
])
def test_bad_settings_and_missing_files_fail_in_one_line(
        tmp_path: Path, args: list[str], env: dict[str, str], names: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('port = "eighty"\n')
    values = {"bad": bad, "missing": tmp_path / "missing.jsonl"}
    line = _one_line_error([part.format(**values) for part in args] + (
        ["--db", str(tmp_path / "ok.db")] if args[0] != "classify" and args[0] != "--config"
        else []), env)
    assert names in line


def test_cli_modules_share_helpers_through_common_only() -> None:
    """No CLI module reaches into another's private helpers: shared ones live in
    cli/common.py."""
    import ast

    from tests.support import SOURCE

    for path in sorted((SOURCE / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "clicksift.cli."):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name} imports {private} from {node.module}"


def test_a_table_too_narrow_for_its_words_becomes_records_with_keys_whole() -> None:
    from rich.console import Console
    from rich.table import Table

    from clicksift.cli.common import show_table

    def shown(width: int) -> str:
        table = Table("event", "recipient", "url", "why", title="Held")
        table.add_row("01a23ea060534f463856496ce9c0bed3", "person328@trey-micros.example",
                      "http://127.0.0.1:45749/automation", "the same source fetched most "
                      "links within seconds")
        out = Console(width=width, record=True, color_system=None)
        show_table(table, out=out)
        return out.export_text()

    narrow, wide = shown(80), shown(200)
    assert "…" not in narrow and "┃" not in narrow
    assert "01a23ea060534f463856496ce9c0bed3\n" in narrow
    assert "recipient: person328@trey-micros.example" in " ".join(narrow.split())
    assert max(len(line) for line in narrow.splitlines()) <= 80
    assert "┃ event" in wide and "01a23ea060534f463856496ce9c0bed3" in wide   # it fits


def test_every_command_list_reads_whole_in_80_columns() -> None:
    """`clicksift --help` and each group's help list their commands with a summary that is
    never cut off with "..."."""
    import os

    env = {**os.environ, "COLUMNS": "80"}
    groups = [[]] + [[name] for name, command in main.commands.items()
                     if getattr(command, "commands", None)]
    assert len(groups) > 4
    for words in groups:
        shown = subprocess.run([sys.executable, "-m", "clicksift", *words, "--help"],
                               capture_output=True, text=True, env=env, timeout=60,
                               check=True).stdout
        listing = shown.split("Commands:", 1)[1].splitlines()
        assert listing and not [line for line in listing if line.rstrip().endswith("...")]
        assert max(len(line) for line in shown.splitlines()) <= 80
