"""The table of caller limits set through the admin API (``/admin/limits``).

Imported at the end of ``storage.models`` so that ``Base.metadata`` knows it. One row per subject (a
gateway key or a project); it replaces the configuration file's entry for that subject. No foreign
key: a limit of a key that is later revoked is harmless and keeps its audit trail readable.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from api_connector.storage.models import ID_LEN, Base, UTCDateTime


class LimitRow(Base):
    __tablename__ = "limits"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # "key" | "project"
    subject_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    # The project the subject belongs to (a key's project); NULL for a global key. Scopes who may edit.
    project_id: Mapped[str | None] = mapped_column(String(ID_LEN), index=True)
    requests_per_minute: Mapped[int | None] = mapped_column(Integer)
    requests_per_hour: Mapped[int | None] = mapped_column(Integer)
    tokens_per_minute: Mapped[int | None] = mapped_column(Integer)
    concurrent: Mapped[int | None] = mapped_column(Integer)
    # Set by a global administrator: a project administrator may not loosen or remove it.
    set_by_global: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
