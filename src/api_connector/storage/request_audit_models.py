"""The request audit's bodies table: one row per request of a project whose ``audit.payloads`` is sanitized.

Imported at the end of ``storage.models`` so that ``Base.metadata`` knows it. A request's metadata (who,
what, outcome, the caller's address) is its usage row; this row holds only what the usage row lacks:
the bodies, already masked, redacted and cut to size. It joins its usage row on (project_id,
request_id, created_at): the request id alone may repeat (callers may send their own), the usage row's
timestamp is the same value written in the same transaction. Like usage rows it has no foreign key.
``expires_at`` is fixed when the row is written, so the retention job deletes with one indexed range.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from api_connector.storage.models import ID_LEN, Base, BigIntPK, UTCDateTime

TYPE_LEN = 128


class RequestAuditRow(Base):
    __tablename__ = "request_audits"
    __table_args__ = (Index("ix_request_audits_project_id_created_at", "project_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(128))
    project_id: Mapped[str] = mapped_column(String(ID_LEN))
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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())  # its usage row's, to the microsecond
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
