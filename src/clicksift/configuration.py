"""The whole settings table, loaded and checked: the core settings (:mod:`clicksift.settings`)
and those each ESP adapter declares (``Adapter.settings``, :mod:`clicksift.ingest`).

Later sources win: default < TOML file < environment < explicit overrides (command-line
flags). ESP settings keep their flat names (``sendgrid_public_key``,
``CLICKSIFT_SENDGRID_PUBLIC_KEY``) and land in ``Settings.esp``, every declared one filled
in with its default when no source gives it.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clicksift.classify import check_settings as check_classifier_settings
from clicksift.ingest import ESP_SETTINGS, esp_value
from clicksift.ingest import check_settings as check_esp_settings
from clicksift.settings import (
    CONFIG_ENV,
    CORE_SETTINGS,
    ENV_PREFIX,
    SettingInfo,
    Settings,
    as_text,
    config_path,
    convert,
    read_toml,
    validate,
)

#: Every setting, core first, then each ESP's in the order of the adapters.
SETTINGS_TABLE: dict[str, SettingInfo] = {**CORE_SETTINGS, **ESP_SETTINGS}


@dataclass(frozen=True)
class LoadedSettings:
    settings: Settings
    sources: dict[str, str]          # setting name -> "default", "file PATH", "env VAR", "option"
    unknown_env: tuple[str, ...]     # CLICKSIFT_* variables that name no setting


def load_settings(config_file: str | os.PathLike[str] | None = None,
                  env: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> LoadedSettings:
    """Build the effective settings from every source, remember where each came from, and
    check them (ConfigError naming the setting and the source)."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    sources = {name: "default" for name in SETTINGS_TABLE}
    path = config_path(config_file, env)
    if path is not None:
        for key, raw in read_toml(path, SETTINGS_TABLE).items():
            values[key] = convert(SETTINGS_TABLE[key], raw, f"config file {path}")
            sources[key] = f"file {path}"
    for name, info in SETTINGS_TABLE.items():
        if info.env_var in env:
            values[name] = convert(info, env[info.env_var], f"environment {info.env_var}")
            sources[name] = f"env {info.env_var}"
    for name, raw in (overrides or {}).items():
        if raw is None:
            continue
        values[name] = convert(SETTINGS_TABLE[name], raw, "command-line option")
        sources[name] = "option"
    esp = {name: values.pop(name, copy.copy(info.default))    # a list default is not shared
           for name, info in ESP_SETTINGS.items()}
    settings = Settings(**values, esp=esp)
    check(settings)
    known = {info.env_var for info in SETTINGS_TABLE.values()} | {CONFIG_ENV}
    unknown = tuple(sorted(k for k in env if k.startswith(ENV_PREFIX) and k not in known))
    return LoadedSettings(settings, sources, unknown)


def check(settings: Settings) -> None:
    """Every check of the settings: the core constraints, the ESP names they mention, the
    classifier's rule weights and disabled rules."""
    validate(settings)
    check_esp_settings(settings)
    check_classifier_settings(settings)


def value_of(settings: Settings, name: str) -> Any:
    """The value of setting NAME, core or ESP."""
    return esp_value(settings, name) if name in ESP_SETTINGS else getattr(settings, name)


def redacted(settings: Settings, name: str) -> str:
    """The value of setting NAME as text, with secrets masked."""
    value = value_of(settings, name)
    if SETTINGS_TABLE[name].secret and value:
        return "********"
    return as_text(value)


def settings_to_env(settings: Settings) -> dict[str, str]:
    """The environment that reproduces SETTINGS in another process (server workers)."""
    return {info.env_var: as_text(value_of(settings, name))
            for name, info in SETTINGS_TABLE.items()}
