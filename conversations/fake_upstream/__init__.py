"""The product's own fake upstream: a real HTTP server speaking the relay's Responses API, for
tests (behaviours chosen per request), demo mode and benchmarks."""

from conversations.fake_upstream.server import FakeUpstream

__all__ = ["FakeUpstream"]
