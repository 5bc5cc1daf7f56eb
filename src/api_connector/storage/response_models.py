"""The table of stored Responses API answers (kept only when the operator turns on RESPONSES_STORE).

Imported at the end of ``storage.models`` so that ``Base.metadata`` knows it. One row per response,
keyed by its project and id, so a project can only ever name its own; no foreign key, like usage rows:
a stored response outlives the key that created it until it expires.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from api_connector.storage.models import ID_LEN, NAME_LEN, Base, JSONType, UTCDateTime

RESPONSE_ID_LEN = 128


class StoredResponseRow(Base):
    __tablename__ = "stored_responses"

    project_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    id: Mapped[str] = mapped_column(String(RESPONSE_ID_LEN), primary_key=True)
    key_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    model: Mapped[str] = mapped_column(String(NAME_LEN))
    # The input items the response answered (a continued conversation's whole history), then the answer.
    input: Mapped[list[Any]] = mapped_column(JSONType)
    response: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
