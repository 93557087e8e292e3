"""The Spark engine (``--engine spark``) in local mode against the single-machine engine:
the same verdicts, field for field, whatever the partitioning and the input format."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from clicksift.classify import BatchClassifier, Engine
from clicksift.classify.rescore import rescore
from clicksift.cli import main
from clicksift.events import dumps, event_from_dict
from clicksift.simulate import SimulationConfig, events_and_truth, simulate
from clicksift.storage import SqlStore

REQUIRE_SPARK = os.environ.get("CLICKSIFT_REQUIRE_SPARK") == "1"


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """One local Spark session (two cores) for the module: the JVM takes seconds to start."""
    try:
        from clicksift.spark import spark_session
    except ImportError:
        if REQUIRE_SPARK:
            pytest.fail("PySpark is required (CLICKSIFT_REQUIRE_SPARK=1) but not installed")
        pytest.skip("PySpark is not installed (pip install 'clicksift[spark]')")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        if REQUIRE_SPARK:
            pytest.fail("Java is required (CLICKSIFT_REQUIRE_SPARK=1) but not installed")
        pytest.skip("Java is not installed")
    session = spark_session("local[2]")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def campaign() -> list[dict[str, Any]]:
    """Two campaigns to several hundred recipients: scanners that reach many recipients'
    mail, gateway domains with profiles, people behind shared addresses."""
    raw, _ = events_and_truth(simulate(SimulationConfig(recipients=400, campaigns=2, seed=11)))
    return raw


def write_jsonl(path: Path, events: list[dict[str, Any]]) -> str:
    path.write_text("".join(dumps(event) + "\n" for event in events), encoding="utf-8")
    return str(path)


def single_machine(events: list[dict[str, Any]]) -> dict[str, Any]:
    verdicts = BatchClassifier(Engine()).classify([event_from_dict(e) for e in events])
    return {v.id: v for v in verdicts}


def read_lines(folder: Path) -> dict[str, str]:
    lines: dict[str, str] = {}
    for part in sorted(folder.glob("part-*")):
        for line in part.read_text(encoding="utf-8").splitlines():
            lines[json.loads(line)["id"]] = line + "\n"
    return lines


@pytest.mark.parametrize("partitions", [1, 7])
def test_verdict_lines_equal_the_single_machines(spark: Any, campaign: list[dict[str, Any]],
                                                 tmp_path: Path, partitions: int) -> None:
    from clicksift.spark import EngineSpec, judge_on_spark

    # two files, the second half first: messages and sources are split across partitions
    half = len(campaign) // 2
    paths = [write_jsonl(tmp_path / "b.jsonl", campaign[half:]),
             write_jsonl(tmp_path / "a.jsonl", campaign[:half])]
    run = judge_on_spark(spark, paths, str(tmp_path / "out"), EngineSpec(),
                         partitions=partitions)
    expected = single_machine(campaign)
    lines = read_lines(tmp_path / "out")
    assert lines == {event_id: v.json_line() for event_id, v in expected.items()}
    machines = sum(1 for v in expected.values() if v.verdict == "nhi")
    assert run.stats.classified == len(expected) and run.stats.nhi == machines
    assert run.events == len(campaign) and run.invalid == 0
    # the cross-message rules fired, so the merged aggregates were put to the test
    rules = {r.rule for v in expected.values() for r in v.reasons}
    assert {"crossmsg.source-many-recipients", "crossmsg.source-many-domains",
            "crossmsg.domain-gateway-pattern"} & rules


def test_parquet_in_and_out_keep_every_field(spark: Any, campaign: list[dict[str, Any]],
                                            tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from clicksift.spark import EngineSpec, judge_on_spark

    # Events as a data team keeps them: typed columns, headers a map, one file per half.
    folder = tmp_path / "events"
    folder.mkdir()
    rows = [{**e, "headers": e.get("headers") and json.dumps(e["headers"])} for e in campaign]
    for index, part in enumerate((rows[:700], rows[700:])):
        names = sorted({name for row in part for name in row})    # each file its own columns
        table = pa.Table.from_pylist([{name: row.get(name) for name in names} for row in part])
        headers = pa.array([None if h is None else list(json.loads(h).items())
                            for h in table.column("headers").to_pylist()],
                           pa.map_(pa.string(), pa.string()))
        table = table.set_column(table.schema.get_field_index("headers"), "headers", headers)
        pq.write_table(table, folder / f"part-{index}.parquet")
    out = tmp_path / "verdicts"
    judge_on_spark(spark, [str(folder)], str(out), EngineSpec(), output_format="parquet")
    got = {row["id"]: row for row in pq.read_table(out).to_pylist()}
    expected = single_machine(campaign)
    assert got.keys() == expected.keys()
    for event_id, verdict in expected.items():
        row = got[event_id]
        assert (row["verdict"], row["score"], row["kind"], row["vendor"], row["final"]) == \
            (verdict.verdict, verdict.score, verdict.kind, verdict.vendor, verdict.final)
        assert [(r["rule"], r["detail"], r["weight"]) for r in row["reasons"]] == \
            [(f.rule, f.detail, f.weight) for f in verdict.reasons]


def test_an_invalid_event_is_named_or_counted(spark: Any, campaign: list[dict[str, Any]],
                                              tmp_path: Path) -> None:
    from clicksift.errors import InputError
    from clicksift.spark import EngineSpec, judge_on_spark

    path = tmp_path / "events.jsonl"
    write_jsonl(path, campaign[:200])
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"type": "click", "id": "x1"}\nnot json\n')
    with pytest.raises(InputError, match=r"events\.jsonl.*invalid"):
        judge_on_spark(spark, [str(path)], str(tmp_path / "out"), EngineSpec())
    run = judge_on_spark(spark, [str(path)], str(tmp_path / "out"), EngineSpec(),
                         skip_invalid=True)
    assert run.invalid == 2 and len(run.first_errors) == 2
    assert set(read_lines(tmp_path / "out")) == set(single_machine(campaign[:200]))


def test_the_cli_judges_on_spark(spark: Any, campaign: list[dict[str, Any]],
                                 tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "events.jsonl", campaign)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["classify", "--engine", "spark", path, "-o", str(out),
                                       "--explain"])
    assert result.exit_code == 0, result.output
    assert "verdicts from" in result.output and "on Spark" in result.output
    lines = read_lines(out)
    local = tmp_path / "local.jsonl"
    result = CliRunner().invoke(main, ["classify", path, "-o", str(local), "--explain"])
    assert result.exit_code == 0, result.output
    assert sorted(lines.values()) == sorted(local.read_text(encoding="utf-8").splitlines(
        keepends=True))
    result = CliRunner().invoke(main, ["classify", "--engine", "spark", path])
    assert result.exit_code == 2 and "-o FOLDER" in result.output


def test_rescore_on_spark_saves_what_rescore_saves(spark: Any, store: SqlStore,
                                                   campaign: list[dict[str, Any]]) -> None:
    from clicksift.spark import EngineSpec
    from clicksift.spark.rescore import rescore_on_spark

    events = [event_from_dict(e) for e in campaign]
    with store.transaction():
        store.add_events(events)
    messages = sorted({e.message_id for e in events})
    engine = Engine()
    rescore(store, engine, messages)
    ids = [e.id for e in events]
    local = store.verdict_rows(ids)
    with store.transaction():
        store.execute("DELETE FROM verdicts")
    run = rescore_on_spark(spark, store, EngineSpec(), messages, engine_version=engine.version)
    on_spark = store.verdict_rows(ids)
    assert run.stats.classified == len(local) > 0

    def fields(row: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in row.items() if k not in ("updated_at", "created_at")}

    assert {i: fields(r) for i, r in on_spark.items()} == {i: fields(r)
                                                           for i, r in local.items()}


def _archived_store(tmp_path: Path, campaign: list[dict[str, Any]]) -> tuple[str, Any]:
    """A SQLite store whose judged campaign has moved to its archive."""
    from clicksift import reports
    from clicksift.archive import Archive, archive_before
    from clicksift.reports.rollup import recount_uncounted
    from clicksift.settings import Settings
    from clicksift.storage import open_store

    database = str(tmp_path / "store.db")
    events = [event_from_dict(e) for e in campaign]
    with open_store(Settings(database=database)) as store:
        with store.transaction():
            store.add_events(events)
        rescore(store, Engine(), sorted({e.message_id for e in events}))
        reports.refresh(store)
        archive = Archive(tmp_path / "store.archive")
        archive_before(store, archive, max(e.ts for e in events) + 1,
                       lambda ids: recount_uncounted(store, ids))
        assert store.event_counts() == {}
    return database, archive


def test_spark_judges_an_archive_as_the_store_did(spark: Any, campaign: list[dict[str, Any]],
                                                  tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from clicksift.spark import EngineSpec, judge_on_spark

    _, archive = _archived_store(tmp_path, campaign)
    stored = {row.id: row for row in archive.read() if row.verdict is not None}
    out = tmp_path / "verdicts"
    run = judge_on_spark(spark, [str(archive.root)], str(out), EngineSpec(),
                         output_format="parquet")
    got = {row["id"]: row for row in pq.read_table(out).to_pylist()}
    assert run.events == len(campaign) and got.keys() == stored.keys()
    for event_id, row in stored.items():
        assert (got[event_id]["verdict"], got[event_id]["score"], got[event_id]["kind"],
                got[event_id]["vendor"]) == (row.verdict, row.score, row.kind, row.vendor)


def test_rescoring_the_archive_rewrites_its_files(spark: Any, campaign: list[dict[str, Any]],
                                                  tmp_path: Path) -> None:
    from clicksift import reports
    from clicksift.archive.move import REPLACING_KEY
    from clicksift.settings import Settings
    from clicksift.storage import open_store

    database, archive = _archived_store(tmp_path, campaign)
    before = {row.id: row for row in archive.read()}
    old_files = archive.files()
    with open_store(Settings(database=database)) as store:
        kept = reports.campaign_report(store, campaign[0]["campaign_id"]).totals
        # Mark every verdict a machine's in the files: the rescore must put them right.
        for path in old_files:
            import pyarrow as pa
            import pyarrow.parquet as pq
            table = pq.read_table(path)
            verdicts = pa.array(["nhi" if v else None for v in table["verdict"].to_pylist()])
            pq.write_table(table.set_column(table.schema.get_field_index("verdict"),
                                            "verdict", verdicts), path)
        with store.transaction():
            reports.mark_dirty(store, store.archived_message_ids())
        reports.refresh(store)
        spoiled = reports.campaign_report(store, campaign[0]["campaign_id"]).totals
        assert spoiled.clicks.human == 0 != kept.clicks.human
    env = {"CLICKSIFT_DATABASE": database, "COLUMNS": "80"}
    result = CliRunner().invoke(main, ["rescore", "--archive"], env=env)
    assert result.exit_code == 2 and "--engine spark" in result.output
    result = CliRunner().invoke(main, ["rescore", "--engine", "spark", "--archive"], env=env)
    assert result.exit_code == 0, result.output
    after = {row.id: row for row in archive.read()}
    assert after.keys() == before.keys()
    for event_id, row in before.items():
        new = after[event_id]
        assert (new.verdict, new.score, new.kind, new.vendor, new.reasons, new.final,
                new.event, new.ts, new.campaign_id) == \
            (row.verdict, row.score, row.kind, row.vendor, row.reasons, row.final,
             row.event, row.ts, row.campaign_id)
    assert not set(archive.files()) & set(old_files)            # every file replaced
    assert {p.parent for p in archive.files()} == {p.parent for p in old_files}
    assert not [p for p in archive.root.iterdir() if p.name.startswith(".rescore")]
    with open_store(Settings(database=database)) as store:
        assert store.get_meta(REPLACING_KEY) is None
        assert reports.campaign_report(store, campaign[0]["campaign_id"]).totals == kept


def test_archive_folders_are_named_as_spark_names_them(spark: Any, tmp_path: Path) -> None:
    from clicksift.archive import escape_value

    names = ["plain", "spring sale", "a/b", "50%=off?", "x:y#z", "ünïcode", "q'\"*[]^{}\\"]
    frame = spark.createDataFrame([(n, 1) for n in names], "campaign string, n int")
    frame.write.partitionBy("campaign").parquet(str(tmp_path / "spark"))
    written = sorted(p.name for p in (tmp_path / "spark").iterdir() if p.is_dir())
    assert written == sorted(f"campaign={escape_value(n)}" for n in names)
