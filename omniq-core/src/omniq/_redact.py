"""Masking credentials before a URL or a message reaches an error, a repr or a log line.

:func:`mask_url` masks one URL; :func:`mask_secrets` masks every URL password (and every
``password=...`` style pair) inside free text, such as an exception message from a driver.
"""

from __future__ import annotations

import re

__all__ = ["MASK", "mask_secrets", "mask_url"]

MASK = "***"

# scheme://authority, where the authority ends at the path, query, fragment or whitespace
_URL_AUTHORITY = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<authority>[^/?#\s]*)")
# password=..., ?token=..., &secret=... (URL query strings and libpq-style DSNs)
_SECRET_PAIR = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd|secret|token|api_key)=)(?P<value>[^&#\s'\"]+)",
    re.IGNORECASE,
)


def _mask_authority(match: re.Match[str]) -> str:
    authority = match.group("authority")
    if "@" in authority:
        # the password may itself contain '@' or ':': the host is after the *last* '@'
        userinfo, host = authority.rsplit("@", 1)
        if ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            authority = f"{user}:{MASK}@{host}"
    return match.group("scheme") + authority


def mask_secrets(text: str) -> str:
    """``text`` with the password of every URL in it and every ``password=`` value masked."""
    text = _URL_AUTHORITY.sub(_mask_authority, text)
    return _SECRET_PAIR.sub(lambda m: m.group("head") + MASK, text)


def mask_url(url: str) -> str:
    """``url`` with its password (``user:password@`` or ``?password=``) replaced by ``***``."""
    return mask_secrets(url)
