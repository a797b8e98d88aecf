"""Build openai_manifold_pipe.py, the one file admins paste into Open WebUI.

Open WebUI installs a function from a single pasted file, but the pipe is easier
to review and test as the package in src/openai_manifold_pipe/. This script joins
the package's modules into that file: Open WebUI's frontmatter first, then one
merged import block, then each module's code verbatim (comments included) under a
banner, in dependency order. Black formats the result, so the editor's "format"
button leaves it unchanged.

It refuses to build anything Open WebUI would run differently from the package:
two modules binding the same top-level name (the file has one namespace), imports
beyond the standard library, pydantic and aiohttp (all that a fresh Open WebUI is
guaranteed to have), `print(`, and the texts Open WebUI rewrites before running a
function (see FORBIDDEN_TEXTS).

Usage:
    python scripts/build.py            write openai_manifold_pipe.py if it changed
    python scripts/build.py --check    exit 1 if the committed file is out of date
    python scripts/build.py --output PATH
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "openai_manifold_pipe"
DISTRIBUTABLE = f"{PACKAGE}.py"

# Installed in every Open WebUI, so the file needs no `requirements:` line.
THIRD_PARTY = frozenset({"aiohttp", "pydantic"})
# Packages that ship with Open WebUI and may only be imported inside a function.
LAZY = frozenset({"open_webui", "sqlalchemy"})

# Open WebUI's replace_imports() rewrites these anywhere in the file, even in
# strings and comments, before running it (open_webui/utils/plugin.py).
FORBIDDEN_TEXTS = ("from utils", "from apps", "from main", "from config")

# pipe.py, which holds class Pipe, goes last when the order is otherwise free,
# so readers find what Open WebUI instantiates at the bottom of the file.
ENTRY_MODULE = "pipe"

FRONTMATTER_KEYS = (
    "title",
    "author",
    "author_url",
    "version",
    "license",
    "description",
    "required_open_webui_version",
)

HEADER = """\
# Generated file: please do not edit it by hand.
#
# This is the OpenAI Manifold Pipe as one file, ready to paste into Open WebUI
# (Admin Panel > Functions). scripts/build.py writes it from the Python package
# in src/openai_manifold_pipe/ of the project's repository, where the code is
# maintained and tested; each "# ----- name.py" banner below starts one of its
# modules. Change the package and rebuild: edits made here are lost with the
# next version."""

# Opens each module's section of the built file.
BANNER_PREFIX = "# ----- "
BANNER_WIDTH = 79

IMPORTS = (ast.Import, ast.ImportFrom)

# isort's sections, in the order it writes them.
SECTIONS = ("future", "stdlib", "third-party")


class BuildError(Exception):
    """The sources cannot become a file that Open WebUI runs like the package."""


@dataclass(frozen=True)
class Module:
    """One package module, split into the parts the built file arranges."""

    name: str
    summary: str
    details: list[str]
    body: str
    imports: list[ast.Import | ast.ImportFrom]
    local_imports: dict[str, list[str]]
    definitions: dict[str, int]


def read_frontmatter(pyproject: Path) -> dict[str, str]:
    """Return the frontmatter fields, in display order, from pyproject.toml."""
    import tomllib  # here, so that a Python 3.10 still reaches load_black's re-exec

    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    try:
        project = data["project"]
        fields = dict(data["tool"]["openai-manifold-pipe"]["frontmatter"])
        fields["version"] = project["version"]
        fields["description"] = project["description"]
    except KeyError as missing:
        raise BuildError(f"pyproject.toml: {missing} is missing") from None
    unknown = sorted(fields.keys() - set(FRONTMATTER_KEYS))
    if unknown:
        raise BuildError(f"pyproject.toml: unknown frontmatter keys {unknown}")
    for key, value in fields.items():
        # Open WebUI reads one `key: value` per line, up to the first `"""`.
        if not isinstance(value, str) or any(c in value for c in ('"""', "\\", "\n")):
            raise BuildError(f"frontmatter {key!r}: needs one line of plain text")
    return {key: fields[key] for key in FRONTMATTER_KEYS if key in fields}


def parse_module(path: Path) -> Module:
    """Parse a package module and cut its docstring and imports out of its text."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    docstring = ast.get_docstring(tree)
    if not docstring:
        raise BuildError(
            f"{path.name}: needs a module docstring (it titles its banner)"
        )
    summary, *details = docstring.splitlines()
    statements = [node for node in tree.body if isinstance(node, IMPORTS)]
    relative = [n for n in statements if isinstance(n, ast.ImportFrom) and n.level]
    local_imports: dict[str, list[str]] = {}
    for node in relative:
        module, names = _local_import(path.name, node)
        local_imports.setdefault(module, []).extend(names)
    _reject_nested_imports(path.name, tree)
    return Module(
        name=path.stem,
        summary=summary,
        details=details,
        body=_without_lines(source, [tree.body[0], *statements]),
        imports=[node for node in statements if node not in relative],
        local_imports=local_imports,
        definitions=dict(_definitions(tree.body)),
    )


def _imported_roots(node: ast.Import | ast.ImportFrom) -> set[str]:
    """The top-level packages an import statement reaches."""
    if isinstance(node, ast.ImportFrom):
        return {(node.module or "").split(".")[0]} if not node.level else {""}
    return {alias.name.split(".")[0] for alias in node.names}


def _local_import(filename: str, node: ast.ImportFrom) -> tuple[str, list[str]]:
    """Return the module and names of `from .module import a, b`.

    That is the one form the build can flatten: once the modules share a
    namespace, the names are simply there, with no module or alias to refer to.
    """
    if node.level != 1 or not node.module or any(a.asname for a in node.names):
        raise BuildError(
            f"{filename} line {node.lineno}: write `from .module import Name, ...` "
            "(no `as`, no `from . import`, no `..`): the built file has no modules"
        )
    return node.module, [alias.name for alias in node.names]


def _reject_nested_imports(filename: str, tree: ast.Module) -> None:
    """Refuse imports below the top level: they would stay behind in the built code.

    The host's own packages are the exception (LAZY): features that use Open
    WebUI's database or header builder import them inside the function that
    needs them, so the file still loads where they are missing.
    """
    for node in ast.walk(tree):
        if isinstance(node, IMPORTS) and node not in tree.body:
            if _imported_roots(node) <= LAZY:
                continue
            where = f"{filename} line {node.lineno}"
            raise BuildError(f"{where}: move this import to the module's top level")


def _definitions(statements: Iterable[ast.stmt]) -> Iterator[tuple[str, int]]:
    """Yield (name, line) for each name the statements bind at module level."""
    for node in statements:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.name, node.lineno
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        yield name.id, node.lineno
        else:  # if/try/with/for blocks at module level bind module names too
            for field in ("body", "orelse", "finalbody", "handlers"):
                yield from _definitions(getattr(node, field, []))


def _without_lines(source: str, nodes: Iterable[ast.stmt]) -> str:
    """Return source minus the lines the nodes span, everything else verbatim."""
    dropped = {
        line
        for node in nodes
        for line in range(node.lineno, (node.end_lineno or node.lineno) + 1)
    }
    lines = source.splitlines()
    kept = (line for number, line in enumerate(lines, 1) if number not in dropped)
    return "\n".join(kept).strip("\n")


def check_modules(modules: list[Module]) -> None:
    """Raise BuildError listing every reason the modules cannot share one file."""
    problems = [
        *_foreign_imports(modules),
        *_unknown_local_imports(modules),
        *_clashing_names(modules),
    ]
    if problems:
        raise BuildError("\n".join(problems))


def _foreign_imports(modules: list[Module]) -> Iterator[str]:
    """Yield imports that a stock Open WebUI install might not be able to satisfy."""
    for module in modules:
        for node in module.imports:
            for name in _imported_modules(node):
                if _section(name) == "third-party" and name not in THIRD_PARTY:
                    yield (
                        f"{module.name}.py line {node.lineno}: imports {name!r}; "
                        "only the standard library, pydantic and aiohttp are allowed"
                    )


def _unknown_local_imports(modules: list[Module]) -> Iterator[str]:
    """Yield `from .x import y` where package module x does not define y."""
    definitions = {module.name: module.definitions for module in modules}
    for module in modules:
        for source, names in module.local_imports.items():
            for name in names:
                if name not in definitions.get(source, {}):
                    yield f"{module.name}.py: {name!r} is not defined in {source}.py"


def _clashing_names(modules: list[Module]) -> Iterator[str]:
    """Yield top-level names that two modules bind differently.

    Module-level dunders (__all__ and the like) describe each module and are
    exempt; identical imports in several modules are merged, so they agree.
    """
    first: dict[str, tuple[str, str]] = {}
    for name, meaning, where in _bindings(modules):
        if name.startswith("__") and name.endswith("__"):
            continue
        earlier = first.setdefault(name, (meaning, where))
        if earlier[0] != meaning:
            yield f"{name!r} is defined twice: {earlier[1]} and {where}; rename one"


def _bindings(modules: list[Module]) -> Iterator[tuple[str, str, str]]:
    """Yield (name, what it refers to, where it is bound) for every top-level name."""
    for module in modules:
        for name, line in module.definitions.items():
            where = f"{module.name}.py line {line}"
            yield name, where, where
        for node in module.imports:
            where = f"`{ast.unparse(node)}` in {module.name}.py"
            for alias in node.names:
                yield *_imported_binding(node, alias), where


def _imported_binding(
    node: ast.Import | ast.ImportFrom, alias: ast.alias
) -> tuple[str, str]:
    """Return the name one imported alias binds and the dotted path it refers to."""
    if isinstance(node, ast.ImportFrom):
        return alias.asname or alias.name, f"{node.module}.{alias.name}"
    if alias.asname:
        return alias.asname, alias.name
    package = alias.name.partition(".")[0]  # `import os.path` binds os
    return package, package


def _imported_modules(node: ast.Import | ast.ImportFrom) -> list[str]:
    """Return the top-level package names an absolute import statement loads."""
    if isinstance(node, ast.ImportFrom):
        return [(node.module or "").partition(".")[0]]
    return [alias.name.partition(".")[0] for alias in node.names]


def _section(module: str) -> str:
    """Return the isort section of an imported module: one of SECTIONS."""
    top_level = module.partition(".")[0]
    if top_level == "__future__":
        return "future"
    if top_level in sys.stdlib_module_names:
        return "stdlib"
    return "third-party"


def order_modules(modules: list[Module]) -> list[Module]:
    """Order modules so each follows those it imports from; ties go alphabetically."""
    by_name = {module.name: module for module in modules}
    waiting = {module.name: set(module.local_imports) for module in modules}
    ordered: list[Module] = []
    while waiting:
        ready = [name for name, needs in waiting.items() if not needs]
        if not ready:
            raise BuildError(f"import cycle among: {', '.join(sorted(waiting))}")
        name = min(ready, key=lambda name: (name == ENTRY_MODULE, name))
        ordered.append(by_name[name])
        del waiting[name]
        for needs in waiting.values():
            needs.discard(name)
    return ordered


def render_imports(modules: list[Module]) -> str:
    """Merge all modules' imports into one block, grouped and sorted as isort does."""
    plain: set[tuple[str, str]] = set()
    from_names: dict[str, set[str]] = defaultdict(set)
    for node in (node for module in modules for node in module.imports):
        if isinstance(node, ast.ImportFrom):
            from_names[node.module or ""].update(map(_alias, node.names))
        else:
            plain.update(
                (alias.name, f"import {_alias(alias)}") for alias in node.names
            )
    statements = [(False, module, line) for module, line in plain]
    for module, names in from_names.items():
        line = f"from {module} import {', '.join(sorted(names, key=_name_key))}"
        statements.append((True, module, line))
    sections: dict[str, list[str]] = defaultdict(list)
    for _, module, line in sorted(statements, key=lambda s: (s[0], s[1].lower(), s[2])):
        sections[_section(module)].append(line)
    return "\n\n".join(
        "\n".join(sections[name]) for name in SECTIONS if name in sections
    )


def _alias(alias: ast.alias) -> str:
    """Return an imported name as written, `name` or `name as other`."""
    return f"{alias.name} as {alias.asname}" if alias.asname else alias.name


def _name_key(name: str) -> tuple[int, str]:
    """Sort imported names like isort: CONSTANTS, then Classes, then functions."""
    if name.isupper() and len(name) > 1:
        return 0, name.lower()
    return (1 if name[0].isupper() else 2), name.lower()


def render_frontmatter(fields: dict[str, str]) -> str:
    """Return the opening docstring Open WebUI reads the function's metadata from."""
    lines = [f"{key}: {value}" for key, value in fields.items()]
    return '"""\n' + "\n".join(lines) + '\n"""'


def render_contents(modules: list[Module]) -> str:
    """Return a table of contents, so an admin reading the file knows where to look."""
    width = max(len(module.name) for module in modules) + len(".py") + 2
    lines = [
        "# Contents, in file order. The settings admins and users see are in",
        "# valves.py; Open WebUI loads the Pipe class at the end, in pipe.py.",
        "#",
    ]
    for module in modules:
        # Summaries open with their topic ("Errors: ..."), which the file name says.
        summary = module.summary.split(": ", 1)[-1]
        lines.append(f"#   {(module.name + '.py').ljust(width)}{summary}")
    return "\n".join(lines)


def render_module(module: Module) -> str:
    """Return a module's code under a banner carrying its docstring as comments."""
    title = f"{BANNER_PREFIX}{module.name}.py "
    banner = [title.ljust(BANNER_WIDTH, "-"), f"# {module.summary}"]
    banner += [f"# {line}".rstrip() for line in module.details]
    return "\n".join(banner) + "\n\n" + module.body


def _forbidden_texts(text: str) -> Iterator[str]:
    """Yield lines Open WebUI would rewrite or that print(), naming their module."""
    section = "header"
    for line in text.splitlines():
        if line.startswith(BANNER_PREFIX):
            section = line.removeprefix(BANNER_PREFIX).rstrip(" -")
        for forbidden in (*FORBIDDEN_TEXTS, "print("):
            if forbidden in line:
                yield f"{section}: {forbidden!r} in {line.strip()!r}"


def build(root: Path, black: ModuleType) -> str:
    """Return the distributable built from root's pyproject.toml and src/ package."""
    package = root / "src" / PACKAGE
    paths = sorted(path for path in package.glob("*.py") if path.name != "__init__.py")
    if not paths:
        raise BuildError(f"no modules in {package}")
    modules = [parse_module(path) for path in paths]
    check_modules(modules)
    modules = order_modules(modules)
    parts = [
        render_frontmatter(read_frontmatter(root / "pyproject.toml")),
        HEADER,
        render_contents(modules),
        render_imports(modules),
        *map(render_module, modules),
    ]
    text = black.format_str("\n\n".join(parts), mode=black.Mode())
    problems = list(_forbidden_texts(text))
    if problems:
        raise BuildError("\n".join(problems))
    compile(text, DISTRIBUTABLE, "exec")  # Black's parser is not CPython's
    return text


def load_black() -> ModuleType:
    """Import Black, re-running this script with the project's .venv if needed.

    The built file must match Black's output byte for byte, so `python3
    scripts/build.py --check` from a system Python without Black should still
    work when the virtualenv exists.
    """
    try:
        import black
    except ImportError:
        venv_python = ROOT / ".venv" / "bin" / "python"
        if venv_python.exists() and Path(sys.executable).absolute() != venv_python:
            script = str(Path(__file__).resolve())
            os.execv(venv_python, [str(venv_python), script, *sys.argv[1:]])
        sys.stderr.write(
            "build.py needs Black: run `python3 scripts/test.py` once (it creates "
            ".venv) or `pip install black==26.5.1`\n"
        )
        raise SystemExit(2) from None
    return black


def main() -> int:
    """Build, or with --check compare, the distributable; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if OUTPUT is stale")
    parser.add_argument("--output", type=Path, default=ROOT / DISTRIBUTABLE)
    args = parser.parse_args()
    try:
        built = build(ROOT, load_black()).encode("utf-8")
    except BuildError as error:
        print(f"build failed:\n{error}", file=sys.stderr)
        return 1
    output: Path = args.output
    shown = os.path.relpath(output)
    current = output.read_bytes() if output.exists() else None
    if current == built:
        print(f"{shown} is up to date")
        return 0
    if args.check:
        state = "is out of date" if current else "does not exist"
        print(f"{shown} {state}: run `python scripts/build.py`", file=sys.stderr)
        return 1
    output.write_bytes(built)
    print(f"wrote {shown} ({len(built.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
