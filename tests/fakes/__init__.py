"""Local stand-ins for external services, for tests (they bind 127.0.0.1 only)."""

from tests.fakes.openai_server import FakeOpenAI

__all__ = ["FakeOpenAI"]
