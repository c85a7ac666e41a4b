"""mkdocs hooks (mkdocs.yml ``hooks:``): the docstrings use Sphinx roles (``:class:`~a.B```),
which mkdocstrings renders as text; show them as the code they name (``B``)."""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:class|func|meth|attr|mod|data|exc|obj):<code>(~?)([^<]*)</code>")


def _short(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"<code>{target.rsplit('.', 1)[-1] if tilde else target}</code>"


def on_page_content(html: str, **_: Any) -> str:
    return _ROLE.sub(_short, html)
