"""``application/x-www-form-urlencoded`` bodies and query strings -> flat parameters.

Rules (AWS Query protocol):

* ``&`` separates pairs; empty pairs (``a=1&&b=2``) are skipped; a name without ``=`` gets ``""``.
* ``+`` is a space; ``%XX`` is a byte.  A ``%`` not followed by two hex digits stays literal
  (urllib's leniency; SigV4 verification sees the raw bytes anyway).
* Names and values must be UTF-8 once decoded: otherwise :class:`MalformedQueryString`.
* A parameter name given twice is refused with :class:`MalformedQueryString` (AWS rejects
  duplicated parameters on its query APIs; the request is ambiguous, not merely invalid), and so
  is a name given both in the query string and in the body of a POST (:func:`merge_params`).
* Control characters are kept: refusing them is the model patterns' business (query_parser).
* More than :data:`MAX_BODY` bytes: :class:`RequestEntityTooLarge`.

A ``str`` argument is the raw query string as the ASGI layer hands it over (bytes decoded as
latin-1); if it holds characters above U+00FF it is taken as text and encoded to UTF-8.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from iamd.core.errors import MalformedQueryString, RequestEntityTooLarge

MAX_BODY = 1024 * 1024


def parse_form(raw: bytes | str) -> dict[str, str]:
    if isinstance(raw, str):
        try:
            data = raw.encode("latin-1")
        except UnicodeEncodeError:
            data = raw.encode("utf-8", "surrogatepass")
    else:
        data = bytes(raw)
    if len(data) > MAX_BODY:
        raise RequestEntityTooLarge()
    params: dict[str, str] = {}
    if not data:
        return params
    for pair in data.split(b"&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition(b"=")
        name = _decode(raw_name, None)
        if name in params:
            raise MalformedQueryString(f"The request contains the parameter {name} more than once.")
        params[name] = _decode(raw_value, name)
    return params


def _decode(part: bytes, name: str | None) -> str:
    if b"%" in part or b"+" in part:
        part = unquote_to_bytes(part.replace(b"+", b" "))
    try:
        return part.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = "a parameter name" if name is None else f"the value of parameter {name}"
        raise MalformedQueryString(
            f"The request contains an invalid UTF-8 byte sequence in {where} "
            f"(byte 0x{part[exc.start]:02X} at offset {exc.start})."
        ) from None


def merge_params(query: dict[str, str], body: dict[str, str]) -> dict[str, str]:
    """A POST's query-string and body parameters as one set; a name in both is refused."""
    if not query:
        return body
    for name in body:
        if name in query:
            raise MalformedQueryString(f"The request contains the parameter {name} more than once.")
    return {**query, **body}
