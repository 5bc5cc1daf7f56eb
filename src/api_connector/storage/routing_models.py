"""Tables of the routing layer: routes defined through the admin API, and the dead-letter queue.

Imported at the end of ``storage.models`` so that ``Base.metadata`` knows them. Dead letters carry no
foreign key, like usage and audit rows: they are written in bulk off the request path and must
outlive what they describe. Their payloads never hold a credential: the request is kept as the caller
sent it (before the service added one), and scrubbed of every known secret value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api_connector.storage.models import ID_LEN, NAME_LEN, Base, JSONType, UTCDateTime

MESSAGE_LEN = 1024


class RouteRow(Base):
    __tablename__ = "routes"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(ID_LEN), ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    config: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DeadLetterRow(Base):
    __tablename__ = "dead_letters"
    __table_args__ = (Index("ix_dead_letters_project_id_created_at", "project_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(128))
    project_id: Mapped[str] = mapped_column(String(ID_LEN))
    key_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    kind: Mapped[str] = mapped_column(String(16))  # "chat" | "request"
    capability: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(NAME_LEN))  # the model or route asked for, or the provider
    error_code: Mapped[str] = mapped_column(String(64))
    error_message: Mapped[str] = mapped_column(String(MESSAGE_LEN))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    attempts: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16))  # "pending" | "replayed" (a replay succeeded)
    replays: Mapped[int] = mapped_column(Integer)
    last_replay_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_replay_outcome: Mapped[str | None] = mapped_column(String(64))
    last_replay_request_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
