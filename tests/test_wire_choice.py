"""Which wire a chat takes: RESPONSES_API `never` keeps v1.x exactly.

`never` is the setting for admins who want today's behaviour, so the proof is the
whole suite written before the Responses API existed: it runs again here, every
pipe in it set to `never` the way an admin would (PIPE_TEST_VALVES, read by
tests/owhost.py). Tests of the Responses wire set RESPONSES_API themselves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.whole_suite
def test_the_suite_passes_with_responses_api_never():
    env = {**os.environ, "PIPE_TEST_VALVES": json.dumps({"RESPONSES_API": "never"})}
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
               "-m", "not e2e and not bench and not whole_suite", "tests"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=1200)
    tail = result.stdout[-4000:]
    assert result.returncode == 0, tail
    assert " passed" in tail and "failed" not in tail, tail
