"""The SSE reader survives any byte-level split of a valid stream."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from openai_manifold_pipe.sse import SSEReader

CHUNKS = [
    {"choices": [{"delta": {"content": "Grüße, 世界 🌍"}}]},
    {"choices": [{"delta": {"reasoning_content": "line\u2028separator"}}]},
    {"choices": [], "usage": {"prompt_tokens": 1}},
]


def read_all(parts):
    reader = SSEReader()
    events = []
    for part in parts:
        events += reader.feed(part)
    return events + reader.close()


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]


def encode(newline: str, comments: bool, multiline: bool) -> tuple[bytes, list[str]]:
    lines, expected = [], []
    if comments:
        lines.append(": keep-alive" + newline)
    for chunk in CHUNKS:
        text = json.dumps(chunk, ensure_ascii=False)
        if multiline:
            head, tail = text[:10], text[10:]
            lines.append(f"data: {head}{newline}data:{tail}{newline}{newline}")
            expected.append(f"{head}\n{tail}")
        else:
            lines.append(f"data: {text}{newline}{newline}")
            expected.append(text)
    lines.append(f"data: [DONE]{newline}{newline}")
    return "".join(lines).encode(), [*expected, "[DONE]"]


@settings(max_examples=300, deadline=None)
@given(
    newline=st.sampled_from(["\n", "\r", "\r\n"]),
    comments=st.booleans(),
    multiline=st.booleans(),
    cuts=st.lists(st.integers(min_value=0), max_size=40),
)
def test_any_split_gives_the_same_events(newline, comments, multiline, cuts):
    data, expected = encode(newline, comments, multiline)
    assert read_all(split(data, cuts)) == expected


@settings(max_examples=300, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0), max_size=20), flips=st.lists(st.integers(min_value=0), max_size=5), junk=st.binary(max_size=8))
def test_corruption_never_raises(cuts, flips, junk):
    data, _ = encode("\n", True, False)
    corrupted = bytearray(data)
    for flip in flips:
        corrupted[flip % len(corrupted)] ^= 0xFF
    corrupted[len(corrupted) // 2 : len(corrupted) // 2] = junk
    events = read_all(split(bytes(corrupted), cuts))
    assert all(isinstance(event, str) for event in events)


def test_byte_order_mark_and_fields():
    data = b"\xef\xbb\xbfevent: message\nid: 1\nretry: 5\ndata: a\n\ndata\n\n"
    assert read_all([data[:1], data[1:]]) == ["a", ""]


def test_utf8_character_cut_between_reads():
    data = "data: é€😀\n\n".encode()
    assert read_all([bytes([b]) for b in data]) == ["é€😀"]


def test_last_event_without_blank_line_is_kept():
    assert read_all([b"data: x\n\ndata: [DONE]"]) == ["x", "[DONE]"]


def test_llama_server_error_line_becomes_an_error_event():
    """llama-server's non-standard `error:` field, split anywhere, is not lost."""
    error = {"code": 400, "message": "the request exceeds the available context size",
             "type": "exceed_context_size_error"}
    data = f"error: {json.dumps(error)}\n\ndata: [DONE]\n\n".encode()
    for cut in range(len(data) + 1):
        events = read_all([data[:cut], data[cut:]])
        assert [json.loads(events[0]), events[1]] == [{"error": error}, "[DONE]"]
    assert read_all([b"error: {\"error\": {\"message\": \"x\"}}\n\n"]) == ['{"error": {"message": "x"}}']
    assert read_all([b"error: model crashed\n\n"]) == ['{"error": {"message": "model crashed"}}']
