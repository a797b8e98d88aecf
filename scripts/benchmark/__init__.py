"""The benchmark behind `scripts/bench.py`: the pipe against Open WebUI's own OpenAI
connection (issue #6). `scripts/bench.py` is the command and says what is measured.

Its parts, each its own concern:

- `settings`: paths, ids and the `Plan` (how much a run does, `--quick` or full);
- `hostcode`: the source text handed to Open WebUI (the minimal reference pipe,
  the garbage-collection probe);
- `stats` and `figures`: the statistics, and a table row with its verdict;
- `processes` and `upstream`: the fake upstream and the `/health` prober, each in a
  process of its own, the dead endpoint, the RSS of a process tree;
- `client`: the API path (SSE) and the web path (socket.io) as a browser uses them;
- `core`: the `Bench`, which starts everything, holds the figures and runs phases;
- `phases`: one module per phase (or per pair of phases that share their code);
- `verdicts` and `report`: the PASS/FAIL lines, the table, the JSON;
- `cli`: the command line, its internal modes, the exit status.
"""
