"""Content the guard models cannot judge: the fail-closed error and the explicit opt-out.

Framework-free (it sits in the core so every adapter can import it); used by the LangChain
and LlamaIndex adapters. The guard models judge text and images. A message block of another
kind (audio, video, a binary file, a provider-specific block) is never passed on silently:
the adapter raises :class:`~guard_core.errors.ContentError` (or withholds it, where the
adapter withholds), unless its type is named in the adapter's ``allow_unscreened``.

>>> allowed_types(["audio"], frozenset({"audio", "video"}), "GuardRunnable")
frozenset({'audio'})
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
from collections.abc import Collection
from io import IOBase

from guard_core.errors import ConfigurationError, ContentError

__all__ = ["allowed_types", "decode_text", "is_text_mime", "raw_bytes", "refuse", "sniff_mime"]

_HINTS = {
    "audio": "transcribe the audio to text before it reaches the agent",
    "video": "transcribe or describe the video as text (or send frames as images) before "
    "it reaches the agent",
    "file": "extract its text (or send its pages as images) before it reaches the agent",
    "document": "extract its text (or send its pages as images) before it reaches the agent",
    "text-plain": "send its text inline (a text or base64 field) so the guard can read it",
    "image": "send it as a URL or base64 content block so the guard can see it",
}
_BY_REFERENCE = frozenset({"image", "text-plain"})  # unscreenable only when given by reference
_DEFAULT_HINT = "convert it to text or image blocks before it reaches the agent"
_TEXT_MIMES = (
    "application/json",
    "application/xml",
    "application/yaml",
    "application/x-yaml",
    "application/x-ndjson",
    "application/javascript",
    "application/csv",
)


def allowed_types(value: Collection[str], known: Collection[str], owner: str) -> frozenset[str]:
    """Validate an ``allow_unscreened`` value: block type names this adapter knows."""
    if isinstance(value, str | bytes):
        raise ConfigurationError(
            f"{owner} allow_unscreened takes a collection of block types, e.g. "
            f"allow_unscreened={{{str(value)!r}}}, not a bare string"
        )
    try:
        names = frozenset(value)
    except TypeError:
        raise ConfigurationError(
            f"{owner} allow_unscreened must be a collection of block type "
            f"names, got {type(value).__name__}"
        ) from None
    unknown = sorted(repr(n) for n in names if n not in known)
    if unknown:
        raise ConfigurationError(
            f"{owner} allow_unscreened: unknown block type {', '.join(unknown)}; "
            f"the types that can be let through unscreened are {', '.join(sorted(known))}"
        )
    return names


def refuse(
    kind: str,
    where: str,
    allow: Collection[str],
    *,
    what: str | None = None,
    allowable: bool = True,
) -> None:
    """Fail closed on a block the guard cannot read, unless ``kind`` is in ``allow``."""
    if allowable and kind in allow:
        return
    shown = what or f"{kind!r} content block"
    why = (
        "guard-core never fetches provider files or remote documents"
        if kind in _BY_REFERENCE
        else "the guard models judge text and images only"
    )
    message = f"{where}: cannot screen this {shown}: {why}; {_HINTS.get(kind, _DEFAULT_HINT)}"
    if allowable:
        message += (
            f", or pass allow_unscreened={{{kind!r}}} to the guard adapter to let "
            f"such blocks through unjudged"
        )
    raise ContentError(message)


def is_text_mime(mime: str | None) -> bool:
    """Whether a MIME type names text the guard can read as it is."""
    if not mime:
        return False
    base = mime.split(";", 1)[0].strip().lower()
    return base.startswith("text/") or base in _TEXT_MIMES or base.endswith(("+json", "+xml"))


def sniff_mime(name: str | None) -> str | None:
    """The MIME type a file name's suffix suggests (``notes.txt`` -> ``text/plain``)."""
    return mimetypes.guess_type(name)[0] if name else None


def decode_text(data: bytes) -> str | None:
    """``data`` as UTF-8 text, or None when it is not text (invalid UTF-8, NUL bytes)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text


def raw_bytes(value: bytes | IOBase | str) -> bytes | None:
    """The bytes a framework sends for ``value``: base64 is decoded (LlamaIndex keeps binary
    block data base64-encoded and decodes what looks like base64), anything else is taken
    as it is. None for a stream that cannot be read without consuming it."""
    read: object = value
    if isinstance(value, IOBase):
        if not value.seekable():
            return None
        start = value.tell()
        value.seek(0)
        read = value.read()
        value.seek(start)
    if isinstance(read, str):
        data = read.encode()
    elif isinstance(read, bytes | bytearray | memoryview):
        data = bytes(read)
    else:
        return None
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return data
