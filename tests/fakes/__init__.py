"""The parts of the fake upstreams the tests talk real HTTP to.

The faces are elsewhere: `tests/upstream.py` (`FakeOpenAI`, OpenAI's models and chat
completions), `tests/fake_responses.py` (its /v1/responses) and `tests/providers.py`
(`ProviderServer`, one profile per OpenAI-compatible provider). Here, one module per
concern:

- `server`: `FakeServer`, a real HTTP server in its own thread that records requests,
  injects faults and answers with JSON or SSE; `sending` holds the sending itself;
- `recorded`, `faults`, `text`: what it saw, what it will break, and the markers a
  test writes in the last user message;
- `openai_errors`, `openai_models`: OpenAI's error answers and model families;
- `chat_rules`, `chat_shapes`: what /v1/chat/completions accepts and sends;
- `responses_rules`, `responses_shapes`: the same for /v1/responses;
- `providers/`: each provider group's profiles and the ways its API differs.
"""
