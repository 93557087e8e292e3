"""Reports: raw and human metrics from the rollups, as dataclasses that the CLI, the JSON
API and the dashboard render (none of them computes a metric itself)."""

from __future__ import annotations

from clicksift.reports.compute import campaign_report, domain_report, link_report, overview
from clicksift.reports.explorer import EventQuery, event_page, iter_events, message_events
from clicksift.reports.model import to_json
from clicksift.reports.rollup import RefreshStats, counted_again, mark_dirty, refresh

__all__ = ["EventQuery", "RefreshStats", "campaign_report", "counted_again", "domain_report",
           "event_page",
           "iter_events", "link_report", "mark_dirty", "message_events", "overview", "refresh",
           "to_json"]
