"""The core settings: each a field of :class:`Settings` with its type, default, help text
and constraint, so the table, its documentation (``docs/settings.md``) and ``clicksift
config`` come from one place. Each ESP adapter declares its own settings beside its code
(``Adapter.settings``); :mod:`clicksift.configuration` joins the two tables and loads them
from defaults, a TOML file, ``CLICKSIFT_*`` variables and command-line options (later
sources win).
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from clicksift.errors import ConfigError
from clicksift.tokens import parse_keys

ENV_PREFIX = "CLICKSIFT_"
CONFIG_ENV = "CLICKSIFT_CONFIG"
DEFAULT_CONFIG_FILE = "clicksift.toml"


T = TypeVar("T")
#: A constraint on one setting's value: what is wrong with it, in words, or None.
Check = Callable[[Any], "str | None"]


def setting(default: T, help: str, *, secret: bool = False,
            choices: tuple[str, ...] | None = None, check: Check | None = None) -> T:
    """Declare one setting: its default (whose type mypy checks against the field's), one
    line of help, whether it is a secret, and the constraint its value must meet (checked
    when the settings are loaded: :func:`validate`)."""
    meta = {"help": help, "secret": secret, "choices": choices, "check": check}
    if isinstance(default, list):
        items = list(default)
        return cast(T, field(default_factory=lambda: list(items), metadata=meta))
    return field(default=default, metadata=meta)


def at_least(low: float, meaning: str = "") -> Check:
    """The value is LOW or more (MEANING says what LOW means, as in "0 (never)")."""
    return lambda value: None if value >= low else f"must be {meaning or low} or more"


def above(low: float, unit: str = "") -> Check:
    return lambda value: None if value > low else f"must be above {low:g}{unit}"


def between(low: int, high: int, unit: str = "") -> Check:
    return lambda value: None if low <= value <= high else f"must be between {low} and " \
        f"{high}{unit}"


def _base_url(value: str) -> str | None:
    return None if value.startswith(("http://", "https://")) else \
        f"must start with http:// or https://, not {value!r}"


def _signing_keys(value: str) -> str | None:
    if value:
        try:
            parse_keys(value)
        except ConfigError as exc:
            return str(exc).removeprefix("setting 'signing_keys': ")
    return None


def _file(value: str) -> str | None:
    return None if not value or os.path.isfile(value) else f"{value} is not a file"


def _nameserver(text: str) -> str | None:
    if not text:
        return None
    host, _, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "53")
    if not host.strip("[]") or not port.isdigit() or not 0 < int(port) < 65536:
        return f"{text!r} is not HOST or HOST:PORT"
    return None


def _networks(entries: list[str]) -> str | None:
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return f"{entry!r} is not an address or network (CIDR)"
    return None


def _colour(value: str) -> str | None:
    if re.fullmatch(r"#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?", value):
        return None
    return f"must be a CSS hex colour such as #0b5fff, not {value!r}"


def _topics(entries: list[str]) -> str | None:
    for entry in entries:
        topic, _, label = entry.partition(":")
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", topic) or not label.strip():
            return (f"{entry!r} must be 'id:Label' with a short lower-case id, for example "
                    "news:Newsletter")
    return None


def _mailbox(value: str) -> str | None:
    return None if not value or "@" in value else f"must be an email address, not {value!r}"


@dataclass(frozen=True)
class Settings:
    # Storage
    database: str = setting(
        "clicksift.db",
        "Where events are stored: a SQLite file path (created on first use) or a "
        "postgresql:// URL.")
    sqlite_synchronous: str = setting(
        "normal", "SQLite durability in WAL mode: 'normal' keeps every committed event when "
        "clicksift crashes or is killed; 'full' also through a power loss or OS crash, at "
        "about a third less tracking throughput (benchmarks/redirect.py).",
        choices=("full", "normal"))
    archive_dir: str = setting(
        "", "Folder of the Parquet archive that clicksift archive (and keep_events_days) "
        "moves old events into (docs/archive.md). Empty: NAME.archive beside a SQLite "
        "database; PostgreSQL needs one set.")
    keep_events_days: int = setting(
        0, "Days of events the store keeps: the tracking server moves messages whose events "
        "are all older into the archive once an hour, and the reports keep counting them. "
        "0 keeps every event in the store.", check=at_least(0, "0 (keep every event)"))
    store_timeout_ms: int = setting(
        5000, "How long a write waits for a busy store before the tracking server spools the "
        "events and answers anyway.", check=at_least(1))
    # Tracking links
    base_url: str = setting(
        "http://127.0.0.1:8000",
        "Public base URL of the tracking server, used in every tracking link. Use https in "
        "production.", check=_base_url)
    signing_keys: str = setting(
        "", "Token signing keys as 'id:secret' pairs separated by commas; the first signs, "
        "all verify. Empty: a key is generated once and kept in the store.", secret=True,
        check=_signing_keys)
    honeypot_links: int = setting(
        1, "Hidden honeypot links added to each message (0 turns them off). People cannot "
        "see or reach them; a fetch of one is a machine.", check=between(0, 5))
    honeypot_url: str = setting(
        "", "Where a honeypot link redirects. Empty: the home page of the message's first "
        "link, or the tracking server's root.")
    open_pixel: bool = setting(True, "Add an open-tracking pixel to each message.")
    unsubscribe_mailto: str = setting(
        "", "Mailbox for the mailto: List-Unsubscribe entry (for example "
        "unsubscribe@example.com). Empty: the header has only the https URL.",
        check=_mailbox)
    # Server
    host: str = setting("127.0.0.1", "Address the tracking server listens on.")
    port: int = setting(8000, "Port the tracking server listens on.", check=between(1, 65535))
    server: str = setting(
        "granian", "ASGI server that runs the tracking app: 'granian' (faster, see "
        "benchmarks/redirect.py) or 'uvicorn'.", choices=("granian", "uvicorn"))
    workers: int = setting(1, "Server worker processes.", check=at_least(1))
    tls_certificate: str = setting(
        "", "PEM certificate (chain) for serving HTTPS directly, without a TLS proxy in "
        "front (with tls_key). Answers over HTTPS carry HSTS.", check=_file)
    tls_key: str = setting("", "PEM private key file of tls_certificate.", check=_file)
    trusted_proxies: list[str] = setting(
        [], "Addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For header is "
        "believed. Requests from anywhere else are recorded with their own address.",
        check=_networks)
    commit_batch_size: int = setting(
        1000, "Most requests written in one group commit.", check=at_least(1))
    spool_dir: str = setting(
        "", "Where events wait when the store fails (retried in the background). Empty: "
        "a folder beside the SQLite file, or ./clicksift-spool.")
    commit_on_loop: bool = setting(
        False, "SQLite only: let the event loop commit a batch itself when the store is free "
        "(faster under load, but a disk that stalls then stalls every request, the health "
        "check included). Off: every commit runs in the writer thread.")
    spool_reserve_mb: int = setting(
        64, "Disk space each tracking process reserves in the spool folder, so that events "
        "can still be spooled when the disk fills up (0: none). At about 1 KB an event, "
        "64 MB holds some 60,000 clicks.", check=between(0, 1 << 20, " (1 TB)"))
    # Classifier
    nhi_threshold: float = setting(
        0.5, "Score (0..1) at or above which an event is judged non-human.")
    rule_weights: str = setting(
        "", "Weights that replace the defaults of docs/rules.md, as 'rule=weight' pairs "
        "separated by commas (log-odds; positive points to a machine).")
    disabled_rules: list[str] = setting(
        [], "Rules or whole families that do not count (for example 'context.honeypot' or "
        "'network' or 'ua.*'), for instance to stay clear of a patent (docs/patents.md).")
    classify_workers: int = setting(
        0, "Processes that classify large batches (clicksift classify, rescore, import) "
        "in parallel: 0 means one per CPU core.", check=at_least(0, "0 (one per core)"))
    online_verdicts: bool = setting(
        True, "Store a provisional verdict with every tracked request (final ones follow: "
        "settle_after_seconds). Off: the server only records.")
    settle_after_seconds: float = setting(
        60.0, "The server judges again, with their message's and one another's context, the "
        "messages whose provisional verdicts are this old, and makes them final (0: never; "
        "clicksift rescore does it on demand).", check=at_least(0, "0 (never)"))
    knowledge_dir: str = setting(
        "", "Folder of an updated knowledge base (written by clicksift knowledge update). "
        "Empty: the knowledge base shipped with clicksift.")
    hold_unsubscribe_score: float = setting(
        0.999, "An unsubscribe (from the preference page or reported by an ESP) judged "
        "non-human is held for review only when its score is at least this; below it, it is "
        "applied as the person's (a person's unsubscribe held is worse than a scanner's "
        "applied).")
    webhook_machine_score: float = setting(
        0.999, "A people-only outbound webhook keeps back an event judged non-human only when "
        "its score is at least this; below it, the event is delivered as a person's.")
    sunset_machine_score: float = setting(
        0.999, "Sunsetting ignores an open or click judged non-human only when its score is "
        "at least this; below it, it counts as the person's engagement.")
    audit_mode: bool = setting(
        False, "Compute and store verdicts, but let none of them change anything (unsubscribe "
        "holds, human-only webhooks, sunsetting treat every event as a person's).")
    accept_simulated_time: bool = setting(
        False, "Let requests set the recorded time with an X-Clicksift-Simulated-Time header "
        "(RFC 3339), so simulated traffic keeps its timeline. For demos and tests only: "
        "never on a public server.")
    demo_folder: str = setting(
        "", "Folder of prepared demo messages that the server shows at /demo/ (set by "
        "clicksift demo; empty: no demo pages).")
    # Reports, API and dashboard
    report_refresh_seconds: float = setting(
        5.0, "How often the server counts new events into the report rollups in the "
        "background (0: only when a report is asked for).")
    session_hours: float = setting(
        12.0, "How long a dashboard login lasts.")
    session_secret: str = setting(
        "", "Key that signs dashboard session cookies. Empty: one is generated once and kept "
        "in the store, shared by every server of that database.", secret=True)
    # Protect: preference center, conversions, outbound webhooks (docs/protect.md)
    sender_name: str = setting(
        "", "The sender's name on the preference center. Empty: the tracking host's name.")
    brand_color: str = setting(
        "#1f2328", "The preference center's accent colour (CSS hex, for example #0b5fff).",
        check=_colour)
    topics: list[str] = setting(
        [], "Topics people can choose on the preference center, as 'id:Label' (for example "
        "news:Newsletter, offers:Special offers). Empty: only all mail.", check=_topics)
    click_id_param: str = setting(
        "csclid", "Query parameter added to the destination of a click on the sender's own "
        "site (click_id_domains) with the click's id, so a conversion can name the click it "
        "came from. Empty: destinations are left as they are.")
    replace_unsubscribe_merge_tags: bool = setting(
        False, "Replace an ESP's unsubscribe merge tag used as a link ({{unsubscribe_url}}, "
        "*|UNSUB|*, %unsubscribe_url%...) with clicksift's unsubscribe link. Off: it is left "
        "for the ESP (which needs it to accept the campaign and handle its unsubscribes); "
        "data-clicksift=\"unsubscribe\" on a link asks for clicksift's link either way.")
    click_id_domains: list[str] = setting(
        [], "The sender's own domains: only destinations on them (or their subdomains) get "
        "the click id, so no other site is handed it and signed or strict third-party URLs "
        "stay whole. Empty: the domain of base_url's host (t.example.com gives example.com); "
        "none when base_url's host is an address or a single name.")
    hook_settle_seconds: float = setting(
        120.0, "How long an event waits before it goes to outbound webhooks, so later "
        "context (a honeypot hit, a burst) can still change its verdict.")
    hook_retry_seconds: float = setting(
        10.0, "First wait before an outbound webhook delivery is retried; each retry waits "
        "three times longer, up to an hour.")
    hook_max_attempts: int = setting(
        12, "Deliveries of one event to one webhook before it is marked failed.")
    hook_poll_seconds: float = setting(
        2.0, "How often the server looks for events to send and deliveries due "
        "(0: never; run clicksift hooks deliver instead).")
    # Ingest (ESP webhooks, see docs/esps/)
    allow_unsigned_webhooks: list[str] = setting(
        [], "ESPs whose webhooks are accepted without a configured secret ('all' for every "
        "ESP). Anyone who knows the URL can then post events; the server warns at start.")
    webhook_max_mb: float = setting(
        32.0, "Largest webhook body accepted, in megabytes (SendGrid, SparkPost and Mandrill "
        "post hundreds of events at once).")
    ip_retention: str = setting(
        "keep", "What becomes of a request's address once its verdict is final: keep it, "
        "truncate it to its /24 (IPv4) or /48 (IPv6) network, or hash it with a key kept "
        "in the store (docs/privacy.md says what each costs in accuracy).",
        choices=("keep", "truncate", "hash"))
    nameserver: str = setting(
        "", "DNS resolver for clicksift doctor and clicksift gateways, as HOST or HOST:PORT "
        "(empty: the machine's resolvers).", check=_nameserver)
    mx_lookups: bool = setting(
        True, "clicksift gateways may look recipient domains' MX records up in DNS (off: it "
        "answers from the cache in the store only, as with --offline).")
    mx_lookup_rate: float = setting(
        20.0, "MX lookups per second at most (clicksift gateways).",
        check=above(0, " (lookups a second)"))
    log_level: str = setting(
        "info", "Server log level.", choices=("debug", "info", "warning", "error"))
    #: The settings each ESP adapter declares (its secrets and options, docs/esps/), by name;
    #: clicksift.configuration fills in every declared one.
    esp: dict[str, Any] = field(default_factory=dict, metadata={"table": False})


@dataclass(frozen=True)
class SettingInfo:
    name: str
    type: str
    default: Any
    help: str
    secret: bool
    choices: tuple[str, ...] | None

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.name.upper()


def _describe_fields() -> dict[str, SettingInfo]:
    table = {}
    for f in dataclasses.fields(Settings):
        if f.metadata.get("table", True) is False:
            continue
        if f.default is not dataclasses.MISSING:
            default: Any = f.default
        else:
            default = cast(Callable[[], Any], f.default_factory)()
        type_name = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        table[f.name] = SettingInfo(f.name, type_name, default, f.metadata["help"],
                                    f.metadata["secret"], f.metadata["choices"])
    return table


#: The core settings (the ESPs' own are added by clicksift.configuration).
CORE_SETTINGS: dict[str, SettingInfo] = _describe_fields()


def convert(info: SettingInfo, raw: Any, where: str) -> Any:
    """Turn RAW (text from the environment, or a TOML value) into the setting's type."""
    kind = info.type
    try:
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError("expected true or false")
        if kind == "float":
            if isinstance(raw, bool):
                raise ValueError("expected a number")
            return float(str(raw).strip()) if isinstance(raw, str) else float(raw)
        if kind == "int":
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError("expected a whole number")
            return int(str(raw).strip()) if isinstance(raw, str) else int(raw)
        if kind == "list[str]":
            items = raw if isinstance(raw, list) else str(raw).split(",")
            return [str(item).strip() for item in items if str(item).strip()]
        if not isinstance(raw, str | int | float):
            raise ValueError("expected text")
        value = str(raw)
    except ValueError as exc:
        raise ConfigError(f"{where}: setting '{info.name}' has value {raw!r}: {exc}") from None
    if info.choices and value not in info.choices:
        raise ConfigError(f"{where}: setting '{info.name}' is {value!r}; "
                          f"choose one of {', '.join(info.choices)}")
    return value


def read_toml(path: Path, known: Mapping[str, SettingInfo]) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    section = data.get("clicksift", data)
    if not isinstance(section, dict):
        raise ConfigError(f"config file {path}: [clicksift] must be a table")
    for key in section:
        if key not in known:
            near = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            raise ConfigError(f"config file {path}: unknown setting '{key}'{hint}")
    return section


def config_path(explicit: str | os.PathLike[str] | None,
                env: Mapping[str, str]) -> Path | None:
    """The TOML file to read: explicit, then $CLICKSIFT_CONFIG, then ./clicksift.toml if present."""
    if explicit:
        return Path(explicit)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    local = Path(DEFAULT_CONFIG_FILE)
    return local if local.is_file() else None


def validate(settings: Settings) -> None:
    """Check every setting against the constraint declared beside it, then the settings
    that only make sense together (ConfigError naming the setting)."""
    for f in dataclasses.fields(Settings):
        check = f.metadata.get("check")
        problem = check(getattr(settings, f.name)) if check is not None else None
        if problem:
            raise ConfigError(f"setting '{f.name}' {problem}"
                              if problem.startswith("must") else
                              f"setting '{f.name}': {problem}")
    if (settings.keep_events_days and not settings.archive_dir
            and settings.database.startswith(("postgresql://", "postgres://"))):
        raise ConfigError("setting 'keep_events_days' moves events into the archive: on "
                          "PostgreSQL, set 'archive_dir' to a folder as well")
    if bool(settings.tls_certificate) != bool(settings.tls_key):
        raise ConfigError("settings 'tls_certificate' and 'tls_key' go together: give both "
                          "files, or neither")


def as_text(value: Any) -> str:
    """A setting's value as a CLICKSIFT_* variable holds it: lists joined by commas,
    booleans true or false."""
    if isinstance(value, list):
        return ",".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def topic_table(settings: Settings) -> list[tuple[str, str]]:
    """The preference center's topics: (id, label) of each 'id:Label' in ``topics``."""
    return [(entry.partition(":")[0], entry.partition(":")[2].strip())
            for entry in settings.topics]
