"""HTTP GET for metrics endpoints and Prometheus, failing with one line that says why."""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request

from .settings import CompareError


def fetch(url: str, what: str) -> bytes:
    request = urllib.request.Request(url, headers={"Accept": "text/plain;version=0.0.4"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as exc:
        with exc:
            detail = exc.read(2000).decode("utf-8", "replace")
        with contextlib.suppress(ValueError, AttributeError):  # Prometheus explains in JSON
            detail = json.loads(detail).get("error") or detail
        where = url.partition("?")[0]
        raise CompareError(
            f"{what} {where!r} answered HTTP {exc.code} {exc.reason}: {detail.strip()[:300]}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CompareError(f"{what} {url!r} is unreachable ({reason})") from None
