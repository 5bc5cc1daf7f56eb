"""Usage roll-ups per minute and per hour (observability queries over months stay fast), and the job's
watermark. Both tables hold the same sums; the hourly one lets a 30-day query read 720 rows a series
instead of 43,200."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from api_connector.storage.models import ID_LEN, METERED, NAME_LEN, Base, UTCDateTime

# What both roll-up tables hold besides their keys, in this order wherever they are handled together (the
# fold's sums, the queries' answers). All are added up across rows, except the latency peak, their maximum.
ROLLUP_SUMS = ("requests", "errors", *METERED, "cost_usd", "latency_ms_sum", "latency_ms_max")
ROLLUP_PEAKS = frozenset({"latency_ms_max"})
# The key columns of either table besides its time (``minute`` or ``hour``).
ROLLUP_KEYS = ("project_id", "provider", "model", "capability")


class _RollupSums:
    """What a roll-up row of either resolution holds, besides its time."""

    project_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    provider: Mapped[str] = mapped_column(String(NAME_LEN), primary_key=True)
    model: Mapped[str] = mapped_column(String(NAME_LEN), primary_key=True)
    capability: Mapped[str] = mapped_column(String(64), primary_key=True)
    requests: Mapped[int] = mapped_column(Integer)
    errors: Mapped[int] = mapped_column(Integer)
    # Sums of the usage rows' metered columns (``models.METERED``: input, output and cached tokens under
    # their wave-one names, then the units of migration 0007, whose default fills the older rows).
    prompt_tokens: Mapped[int] = mapped_column(BigInteger)
    completion_tokens: Mapped[int] = mapped_column(BigInteger)
    cached_tokens: Mapped[int] = mapped_column(BigInteger)
    characters: Mapped[int] = mapped_column(BigInteger, server_default=text("0"), default=0)
    audio_seconds: Mapped[float] = mapped_column(Float, server_default=text("0"), default=0.0)
    pages: Mapped[int] = mapped_column(BigInteger, server_default=text("0"), default=0)
    rows: Mapped[int] = mapped_column(BigInteger, server_default=text("0"), default=0)
    searches: Mapped[int] = mapped_column(BigInteger, server_default=text("0"), default=0)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    latency_ms_sum: Mapped[float] = mapped_column(Float)
    latency_ms_max: Mapped[float] = mapped_column(Float)


class UsageRollupRow(_RollupSums, Base):
    __tablename__ = "usage_rollups"
    __table_args__ = (Index("ix_usage_rollups_minute", "minute"),)

    minute: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)


class UsageRollupHourRow(_RollupSums, Base):
    __tablename__ = "usage_rollups_hourly"
    __table_args__ = (Index("ix_usage_rollups_hourly_hour", "hour"),)

    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)


class RollupWatermarkRow(Base):
    __tablename__ = "rollup_watermarks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger)
