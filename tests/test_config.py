"""The configuration file: validated at start-up, unknown keys refused, secrets only by reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from api_connector.config import load_config, parse_config
from api_connector.errors import ConfigError


def test_design_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("""
providers:
  openai-main:
    type: openai
    base_url: https://api.openai.com/v1
    credential: env:OPENAI_API_KEY
    timeout: 30
    rate_limit: {requests_per_minute: 500, tokens_per_minute: 200000}
    health_check: {interval: 30}
  anthropic-main: {type: anthropic, credential: env:ANTHROPIC_API_KEY}
routes:
  chat-default:
    strategy: priority
    targets:
      - {provider: openai-main, model: gpt-4o-mini}
      - {provider: anthropic-main, model: claude-3-5-haiku-latest}
""")
    config = load_config(path)
    assert config.providers["openai-main"].timeouts().total == 30
    assert [t.provider for t in config.routes["chat-default"].targets] == ["openai-main", "anthropic-main"]


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"providers": {"x": {"type": "openai", "credential": "env:K", "colour": "red"}}}, "providers.x.colour"),
        ({"providers": {"x": {"type": "nonesuch"}}}, "unknown provider type"),
        ({"providers": {"x": {"type": "openai", "credential": "sk-live-abcdef123456"}}}, "must be a reference"),
        ({"providers": {"x": {"type": "openai_compatible"}}}, "needs a base_url"),
        ({"providers": {"x": {"type": "openai"}}}, "needs a credential"),
        ({"routes": {"r": {"targets": [{"provider": "ghost", "model": "m"}]}}}, "unknown provider 'ghost'"),
        (
            {"routes": {"r": {"strategy": "random", "targets": [{"provider": "sandbox", "model": "m"}]}}},
            "routes.r.strategy",
        ),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_configuration_is_one_clear_error(raw: dict, fragment: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(raw)
    assert fragment in error.value.message
    assert "sk-live-abcdef123456" not in error.value.message


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("providers: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
