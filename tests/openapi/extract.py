"""Cut the schemas the tests need out of OpenAI's published OpenAPI description.

The full spec (github.com/openai/openai-openapi, openapi.yaml) is ~3 MB; the tests
only need the request bodies and stream events of POST /responses and
POST /chat/completions. This script finds those schemas through `paths` (so a
rename upstream is followed, not hard-coded), copies every schema reachable from
them through `$ref`, and writes one self-contained JSON file whose `$ref`s still
read `#/components/schemas/...`, exactly as in the spec.

The schemas are copied unchanged except that `example`, `examples` and `x-oaiMeta`
(documentation only, never validated) are dropped. OpenAPI quirks (`nullable`,
`oneOf`, `$recursiveRef`) are handled when loading, in tests/openapi_check.py, so
this file stays a faithful subset of the spec.

Usage (stdlib; PyYAML only when reading a .yaml file):

    python tests/openapi/extract.py --git-dir /path/to/openai-openapi.git [--rev main]
    python tests/openapi/extract.py path/to/openapi.yaml --commit SHA --date YYYY-MM-DD
"""

import argparse
import datetime
import json
import pathlib
import subprocess

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "openai-subset.json"
SPEC_PATH = "openapi.yaml"  # path of the spec inside the openai-openapi repository

# name -> (path, where in the operation the schema sits)
ROOTS = {
    "responses_request": ("/responses", "requestBody", "application/json"),
    "responses_object": ("/responses", "200", "application/json"),
    "responses_stream_event": ("/responses", "200", "text/event-stream"),
    "chat_request": ("/chat/completions", "requestBody", "application/json"),
    "chat_stream_chunk": ("/chat/completions", "200", "text/event-stream"),
}
DROP = {"example", "examples", "x-oaiMeta"}
# Keywords whose value maps arbitrary names (not keywords) to schemas.
NAME_MAPS = {"properties", "patternProperties", "$defs", "dependentSchemas"}
PREFIX = "#/components/schemas/"


def load_spec(text: str, name: str) -> dict:
    if name.endswith(".json"):
        return json.loads(text)
    import yaml  # only needed for the YAML spec

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def root_schema(spec: dict, path: str, where: str, media: str) -> str:
    op = spec["paths"][path]["post"]
    holder = op["requestBody"] if where == "requestBody" else op["responses"][where]
    ref = holder["content"][media]["schema"]["$ref"]
    assert ref.startswith(PREFIX), ref
    return ref[len(PREFIX) :]


def refs_in(node, found: set) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                assert value.startswith(PREFIX), f"non-local $ref {value}"
                found.add(value[len(PREFIX) :])
            elif key not in DROP:
                refs_in(value, found)
    elif isinstance(node, list):
        for value in node:
            refs_in(value, found)


def clean(node, in_name_map: bool = False):
    """Drop documentation-only keys at schema level (never a property *named* example)."""
    if isinstance(node, list):
        return [clean(v) for v in node]
    if not isinstance(node, dict):
        return node
    if in_name_map:
        return {k: clean(v) for k, v in node.items()}
    return {k: clean(v, k in NAME_MAPS) for k, v in node.items() if k not in DROP}


def extract(spec: dict, source: dict) -> dict:
    schemas = spec["components"]["schemas"]
    roots = {name: root_schema(spec, *where) for name, where in ROOTS.items()}
    keep, todo = set(), list(roots.values())
    while todo:
        name = todo.pop()
        if name not in keep:
            keep.add(name)
            found = set()
            refs_in(schemas[name], found)
            todo.extend(found - keep)
    return {
        "openapi": spec["openapi"],
        "info": {"title": spec["info"]["title"], "version": spec["info"]["version"]},
        "x-source": source,
        "x-roots": roots,
        "components": {"schemas": {n: clean(schemas[n]) for n in sorted(keep)}},
    }


def git(git_dir: str, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", git_dir, *args], check=True, capture_output=True, text=True
    ).stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("spec", nargs="?", help="openapi.yaml or openapi.json on disk")
    ap.add_argument("--git-dir", help="a clone of github.com/openai/openai-openapi")
    ap.add_argument("--rev", default="HEAD", help="revision to read (with --git-dir)")
    ap.add_argument(
        "--commit", default="unknown", help="commit of SPEC (without --git-dir)"
    )
    ap.add_argument("--date", default="unknown", help="commit date of SPEC")
    args = ap.parse_args()
    if args.git_dir:
        commit, date = git(
            args.git_dir, "log", "-1", "--format=%H %cI", args.rev
        ).split()
        text, name = git(args.git_dir, "show", f"{commit}:{SPEC_PATH}"), SPEC_PATH
    elif args.spec:
        commit, date = args.commit, args.date
        text, name = pathlib.Path(args.spec).read_text(), args.spec
    else:
        ap.error("give a spec file or --git-dir")
    source = {
        "repository": "https://github.com/openai/openai-openapi",
        "path": SPEC_PATH if args.git_dir else pathlib.Path(name).name,
        "commit": commit,
        "commit_date": date,
        "extracted": datetime.date.today().isoformat(),
    }
    subset = extract(load_spec(text, name), source)
    OUT.write_text(json.dumps(subset, indent=1, ensure_ascii=False, default=str) + "\n")
    n = len(subset["components"]["schemas"])
    print(
        f"wrote {OUT} ({n} schemas, {OUT.stat().st_size} bytes) from {commit[:12]} ({date})"
    )


if __name__ == "__main__":
    main()
