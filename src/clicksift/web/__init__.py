"""The reports' web side: the JSON API (/api/v1) and the dashboard (/dashboard/), mounted by
the tracking server. Both render the dataclasses of :mod:`clicksift.reports`."""
