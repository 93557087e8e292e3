"""Protect people from what machines do: subscriptions only people change, sunsetting on
human engagement, conversions, and outbound webhooks fed only by people (docs/protect.md)."""
