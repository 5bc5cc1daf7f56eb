"""Record factories shared by the storage tests."""

from __future__ import annotations

from api_connector.storage.record_writer import AuditRecord, UsageRecord


def usage(i: int, project: str = "proj_a", **overrides: object) -> UsageRecord:
    fields: dict[str, object] = {
        "request_id": f"req_{i}",
        "project_id": project,
        "key_id": "key_1",
        "provider": "openai-main",
        "model": "gpt-4o-mini",
        "capability": "chat",
        "status": "success",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "latency_ms": 12.5,
    }
    fields.update(overrides)
    return UsageRecord(**fields)  # type: ignore[arg-type]


def audit(i: int, **overrides: object) -> AuditRecord:
    fields: dict[str, object] = {
        "action": "key.create",
        "target_type": "key",
        "outcome": "success",
        "target_id": f"key_{i}",
        "details": {"i": i},
    }
    fields.update(overrides)
    return AuditRecord(**fields)  # type: ignore[arg-type]
