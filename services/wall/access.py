"""Who may look at the wall: the viewer token, given once (`?token=` or a bearer header),
then an HttpOnly cookie; and the headers every answer carries.

The cookie holds an HMAC of the token, not the token: a cookie read off a screen's
browser profile does not give the token, and a new token (secrets.toml) ends every
cookie. Comparisons are constant-time. The token is never logged (uvicorn's access log
is off, and a `?token=` request is answered with a redirect to the same page without it,
so it leaves the address bar and the history).
"""

from __future__ import annotations

import hashlib
import hmac
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

COOKIE = "qb_wall"
COOKIE_MAX_AGE = 30 * 24 * 3600  # a wall screen stays signed in for a month
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
]


def cookie_value(token: str) -> str:
    return hmac.new(token.encode(), b"quotaboard wall cookie v1", hashlib.sha256).hexdigest()


class Access:
    def __init__(self, token: str) -> None:
        self._token = token.encode()
        self._cookie = cookie_value(token).encode()

    def token_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self._token)

    def cookie_ok(self, headers: dict[str, str]) -> bool:
        jar = SimpleCookie()
        try:
            jar.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed Cookie header is no cookie
            return False
        morsel = jar.get(COOKIE)
        return morsel is not None and hmac.compare_digest(morsel.value.encode(), self._cookie)

    def check(self, query: str, headers: dict[str, str]) -> tuple[str, str | None]:
        """("cookie"|"bearer"|"query", None) when admitted, ("", why) when not."""
        if self.cookie_ok(headers):
            return "cookie", None
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            return (
                ("bearer", None)
                if self.token_ok(auth[7:].strip())
                else ("", "the bearer token is not the viewer token")
            )
        given = dict(parse_qsl(query)).get("token")
        if given is not None:
            return (
                ("query", None)
                if self.token_ok(given)
                else ("", "the token in the address is not the viewer token")
            )
        return "", "no viewer token was given and no wall cookie is set"

    def set_cookie(self, secure: bool) -> tuple[bytes, bytes]:
        value = f"{COOKIE}={self._cookie.decode()}; Path=/wall; Max-Age={COOKIE_MAX_AGE}; HttpOnly; SameSite=Strict"
        return b"set-cookie", (value + ("; Secure" if secure else "")).encode()


def without_token(path: str, query: str) -> str:
    """The address to redirect to once the token is in a cookie: the same, less `token`."""
    rest = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "token"]
    return path + ("?" + urlencode(rest) if rest else "")
