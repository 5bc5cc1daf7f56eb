"""The request audit's table: one row per API request of a project whose ``audit.payloads`` is not none.

Imported at the end of ``storage.models`` so that ``Base.metadata`` knows it. Like usage rows it has no
foreign key (written in bulk off the request path, it outlives the key it names until it expires).
Bodies are kept only for projects in ``sanitized`` mode, already masked, redacted and cut to size;
``expires_at`` is fixed when the row is written, so the retention job deletes with one indexed range.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Float, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from api_connector.storage.models import ID_LEN, NAME_LEN, Base, BigIntPK, UTCDateTime

CLIENT_LEN = 64  # an IPv6 address with its zone fits
TYPE_LEN = 128


class RequestAuditRow(Base):
    __tablename__ = "request_audits"
    __table_args__ = (
        Index("ix_request_audits_project_id_created_at", "project_id", "created_at"),
        Index("ix_request_audits_project_id_key_id", "project_id", "key_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(128))
    project_id: Mapped[str] = mapped_column(String(ID_LEN))
    key_id: Mapped[str | None] = mapped_column(String(ID_LEN))  # NULL: the embedded Connector
    client: Mapped[str | None] = mapped_column(String(CLIENT_LEN))  # the caller's address, when over HTTP
    provider: Mapped[str] = mapped_column(String(NAME_LEN))
    model: Mapped[str] = mapped_column(String(NAME_LEN))
    capability: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(64))
    latency_ms: Mapped[float] = mapped_column(Float)
    payloads: Mapped[str] = mapped_column(String(16))  # "metadata" | "sanitized": what the row holds
    # Each body: its media type, its size as it passed (bytes), the stored text (NULL: not kept, e.g.
    # audio), and whether the text was cut to the project's max_body_bytes.
    request_type: Mapped[str | None] = mapped_column(String(TYPE_LEN))
    request_bytes: Mapped[int | None] = mapped_column(BigInteger)
    request_body: Mapped[str | None] = mapped_column(Text)
    request_truncated: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    response_type: Mapped[str | None] = mapped_column(String(TYPE_LEN))
    response_bytes: Mapped[int | None] = mapped_column(BigInteger)
    response_body: Mapped[str | None] = mapped_column(Text)
    response_truncated: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
