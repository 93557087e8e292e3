"""HTML pages the tracking server shows people."""

from __future__ import annotations

import html

_STYLE = ("body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;"
          "padding:0 1rem;color:#1f2328}button{font:inherit;padding:.6rem 1.2rem;"
          "border-radius:.4rem;border:1px solid #1f2328;background:#1f2328;color:#fff;"
          "cursor:pointer}")


def page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<meta name="robots" content="noindex"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body><main>{body}</main></body></html>")
