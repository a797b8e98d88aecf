"""No key, in whole or in part, survives redaction."""

import logging

from hypothesis import given
from hypothesis import strategies as st

from openai_manifold_pipe.redact import KEY_PIECE, Redactor, log

KEY = "sk-proj-Abc123XyZ987qwertyuiopLKJ"


def test_whole_key_and_masked_echo_are_removed():
    redact = Redactor([KEY])
    text = redact(f"Incorrect API key provided: {KEY[:8]}*************{KEY[-4:]}. Key {KEY}!")
    assert KEY[:8] not in text and KEY not in text and "[redacted]" in text


@given(start=st.integers(min_value=0, max_value=len(KEY) - KEY_PIECE), prefix=st.text(max_size=20))
def test_every_eight_character_piece_is_removed(start, prefix):
    piece = KEY[start : start + KEY_PIECE]
    assert piece not in Redactor([KEY])(prefix + piece + " tail")


def test_unknown_key_shaped_text_is_removed():
    redact = Redactor()
    for secret in ("sk-abcdefghijklmnop1234", "gsk_abcdefgh12345678", "Bearer abc.def",
                   "AIzaSyA1234567890abcdefghij", "sk-ant-api03-abcdefgh"):
        assert secret not in redact(f"error: {secret} rejected")


def test_plain_text_is_untouched():
    assert Redactor([KEY])("Rate limit reached for gpt-4o.") == "Rate limit reached for gpt-4o."


def test_logger_filter_removes_key_shaped_text(caplog):
    with caplog.at_level(logging.INFO, logger=log.name):
        log.warning("upstream said %s", "Incorrect API key provided: sk-abcdefghijklmn")
    assert "sk-abcdefghijklmn" not in caplog.text and "[redacted]" in caplog.text
