"""What goes wrong with an ESP's request: it is not proven to be the ESP's, or it is not
what the ESP sends."""

from __future__ import annotations

from clicksift.errors import ClicksiftError, InputError


class SignatureError(ClicksiftError):
    """A webhook request is not proven to come from the ESP (missing, wrong or stale)."""


class PayloadError(InputError):
    """A body is not what the ESP sends: the message names the record and the field."""
