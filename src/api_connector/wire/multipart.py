"""``multipart/form-data`` around an uploaded file, as a streamed request body (``core.exchange.BodyStream``).

The text fields and the file part's header go first, then the file in pieces as it is read, then the
closing boundary; the size is known in advance, so the body is sent with a ``Content-Length``. The
boundary is random per body: the audio cannot contain it by chance in any practical sense, which is
how every multipart client decides it.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence

from api_connector.core.transcription import AudioUpload


def _quoted(value: str) -> str:
    # A field name or file name inside a quoted header parameter: quotes and line breaks escaped (as
    # browsers do), so a caller's file name cannot end the part's header early.
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class MultipartBody:
    __slots__ = ("_head", "_tail", "_upload", "content_type")

    def __init__(self, fields: Sequence[tuple[str, str]], file_field: str, upload: AudioUpload) -> None:
        boundary = "apc-" + secrets.token_hex(16)
        self.content_type = f"multipart/form-data; boundary={boundary}"
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(name)}"\r\n\r\n{value}\r\n'
            for name, value in fields
        ]
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(file_field)}"; '
            f'filename="{_quoted(upload.filename)}"\r\nContent-Type: {upload.content_type}\r\n\r\n'
        )
        self._head = "".join(parts).encode("utf-8")
        self._tail = f"\r\n--{boundary}--\r\n".encode()
        self._upload = upload

    @property
    def size(self) -> int:
        return len(self._head) + self._upload.size + len(self._tail)

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self._head
        async for piece in self._upload.chunks():
            yield piece
        yield self._tail
