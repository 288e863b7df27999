"""What every answer carries and every request must name: security headers and allowed hosts.

A token-less server on 127.0.0.1 is still reachable from a browser through DNS
rebinding (a page on ``evil.example`` whose name resolves to 127.0.0.1 next): the
request then names ``evil.example`` in its ``Host`` header, so a request whose host is
not on the allow-list gets 400 before any view runs. The page sends its one script and
one style sheet from ``/static``, so its Content-Security-Policy allows nothing else,
and no other site may frame it (its one-key review shortcuts could be clickjacked).
"""

from __future__ import annotations

import ipaddress

from flask import request

from service.errors import error_response

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
ANY_HOST = "*"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def bound_hosts(host: str) -> tuple[str, ...]:
    """The names a server bound to *host* answers to by default: loopback's and *host*'s own.

    A wildcard address (``0.0.0.0``, ``::``) answers to any name: such a server is open
    to the network already, and only the operator knows its names (set
    ``TAGSIM_ALLOWED_HOSTS``).
    """
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return (*LOOPBACK_NAMES, host.lower()) if host.lower() not in LOOPBACK_NAMES \
            else LOOPBACK_NAMES
    if address.is_unspecified:
        return (ANY_HOST,)
    name = f"[{address}]" if address.version == 6 else str(address)
    return LOOPBACK_NAMES if name in LOOPBACK_NAMES else (*LOOPBACK_NAMES, name)


def parse_hosts(value: str | None) -> tuple[str, ...]:
    """The allow-list of a ``TAGSIM_ALLOWED_HOSTS`` value (comma-separated); loopback's if unset."""
    if not value:
        return LOOPBACK_NAMES
    return tuple(_normalised(name) for name in value.split(",") if name.strip())


def _normalised(name):
    name = name.strip().lower()
    try:
        address = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return name.rstrip(".")
    return f"[{address}]" if address.version == 6 else str(address)


def _host_name(header: str) -> str:
    """The name in a ``Host`` header, without its port."""
    header = header.strip().lower()
    if header.startswith("["):
        return _normalised(header.split("]", 1)[0] + "]")
    return _normalised(header.rsplit(":", 1)[0] if header.count(":") == 1 else header)


def install(app, allowed_hosts: tuple[str, ...]):
    """Refuse requests naming another host; add the security headers to every answer."""
    allowed = frozenset(allowed_hosts)

    @app.before_request
    def check_host():
        if ANY_HOST in allowed:
            return None
        name = _host_name(request.headers.get("Host", ""))
        if name not in allowed:
            return error_response(400, "bad_host",
                                  "this server does not answer to the host named in the "
                                  "request's Host header; add it to TAGSIM_ALLOWED_HOSTS")
        return None

    @app.after_request
    def security_headers(response):
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response
