"""Images for the local backend: from an OpenAI ``image_url`` part to a decoded PIL image.

Decoding is bounded: the pixel count is read from the header and checked before any pixel
is decoded, so a small file that claims 30,000 x 30,000 pixels is refused without touching
memory; corrupt or truncated data is a :class:`ContentError`, never a crash. Remote URLs are
not fetched unless the backend was built with ``fetch_images=True``.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import socket
import urllib.parse
import urllib.request
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from guard_core.content import MAX_IMAGE_BYTES, Image
from guard_core.errors import ContentError

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

__all__ = ["ImageLoader"]

# JPEGs larger than this are decoded at a reduced scale (the model sees 896 x 896 anyway).
_DRAFT_SIZE = (1792, 1792)


@dataclass(frozen=True)
class ImageLoader:
    """Turns image parts into RGB PIL images, within limits."""

    max_pixels: int = 50_000_000
    fetch: bool = False
    fetch_timeout: float = 10.0

    def from_part(self, part: Mapping[str, Any]) -> PILImage:
        """Decode one ``{"type": "image_url", "image_url": {"url": ...}}`` content part."""
        spec = part.get("image_url")
        url = spec.get("url") if isinstance(spec, Mapping) else spec
        if not isinstance(url, str) or not url:
            raise ContentError("an image_url part has no url")
        return self.decode(self._bytes(url))

    def _bytes(self, url: str) -> bytes:
        if url.startswith("data:"):
            decoded = Image(url=url).data
            assert decoded is not None
            return decoded
        if not url.startswith(("https://", "http://")):
            raise ContentError(
                f"image url scheme not allowed: {url[:40]!r}; pass bytes or a data: URL"
            )
        if not self.fetch:
            raise ContentError(
                f"LocalBackend does not download images ({url[:60]}); pass the bytes "
                "(Image(data=...) or a data: URL), or build LocalBackend(fetch_images=True)"
            )
        _refuse_internal_host(url)
        try:
            with _OPENER.open(url, timeout=self.fetch_timeout) as response:
                data: bytes = response.read(MAX_IMAGE_BYTES + 1)
        except OSError as exc:
            raise ContentError(f"could not download the image {url[:60]}: {exc}") from None
        if len(data) > MAX_IMAGE_BYTES:
            raise ContentError(f"the image at {url[:60]} is over {MAX_IMAGE_BYTES} bytes")
        return data

    def decode(self, data: bytes) -> PILImage:
        """An RGB image from encoded bytes; refuses oversized or undecodable data."""
        from PIL import Image as PIL
        from PIL import UnidentifiedImageError

        try:
            # PIL's own bomb check runs inside open() and only warns below 2x its global
            # limit; turn that warning into an error here without changing PIL's globals
            # (decoding runs on the backend's one worker thread).
            with warnings.catch_warnings():
                warnings.simplefilter("error", PIL.DecompressionBombWarning)
                image = PIL.open(io.BytesIO(data))
            width, height = image.size
            if width * height > self.max_pixels:
                raise ContentError(self._too_big(width, height))
            if image.format == "JPEG":
                image.draft("RGB", _DRAFT_SIZE)
            image.load()
            rgb = image.convert("RGB")
        except ContentError:
            raise
        except (PIL.DecompressionBombError, PIL.DecompressionBombWarning):
            raise ContentError(
                "the image is too large to decode safely (decompression bomb "
                "check); downscale it before screening"
            ) from None
        except UnidentifiedImageError:
            raise ContentError(
                "the image data is not a format PIL can read; send PNG, JPEG, GIF or WebP"
            ) from None
        except Exception as exc:  # corrupt or truncated data: PIL raises many kinds
            raise ContentError(
                f"the image could not be decoded ({type(exc).__name__}: "
                f"{exc}); send a valid PNG, JPEG, GIF or WebP"
            ) from None
        return rgb

    def _too_big(self, width: int, height: int) -> str:
        return (
            f"the image is {width} x {height} pixels ({width * height / 1e6:.0f} "
            f"megapixels), over this backend's {self.max_pixels / 1e6:.0f}-megapixel "
            "limit; downscale it (the model sees 896 x 896) or raise "
            "LocalBackend(max_image_pixels=...)"
        )


# -- fetching (only with fetch_images=True): public addresses only, no redirects -----------


def public_address(address: str) -> bool:
    """The only addresses images are fetched from (tests widen it to reach loopback)."""
    return ipaddress.ip_address(address.split("%", 1)[0]).is_global


def _refuse(host: str, address: str) -> ContentError:
    return ContentError(
        f"image URL host {host!r} is {address}, not a public address; guard-core never "
        "fetches images from this machine, private or link-local networks"
    )


def _refuse_internal_host(url: str) -> None:
    """Refuse before connecting when the name resolves to any non-public address."""
    host = urllib.parse.urlsplit(url).hostname
    if not host:
        raise ContentError(f"image URL has no host: {url[:60]!r}")
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise ContentError(f"could not resolve the image host {host!r}: {exc}") from None
    for info in infos:
        address = str(info[4][0])
        if not public_address(address):
            raise _refuse(host, address)


class _PublicPeerOnly:
    """Checks the address actually connected to, so a DNS answer that changes between the
    check above and the connection (rebinding) cannot reach an internal host either."""

    host: str
    sock: socket.socket | None

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        assert self.sock is not None
        peer = str(self.sock.getpeername()[0])
        if not public_address(peer):
            self.sock.close()
            raise _refuse(self.host, peer)


class _HTTPConnection(_PublicPeerOnly, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_PublicPeerOnly, http.client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPSConnection, req)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> None:
        raise ContentError(f"the image URL redirects ({code}); image redirects are not followed")


_OPENER = urllib.request.build_opener(
    urllib.request.ProxyHandler({}), _HTTPHandler, _HTTPSHandler, _NoRedirects
)
