"""The distributable openai_manifold_pipe.py, as admins paste it into Open WebUI.

Each test holds the committed file (or scripts/build.py, which writes it) to one
rule of SPEC.md "The distributable". Open WebUI's own parsing and loading steps
are reproduced from open_webui 0.12.4 (HOST.md section 1) rather than imported,
because importing open_webui.utils.plugin boots its configuration and database.
"""

import ast
import inspect
import re
import shutil
import subprocess
import sys
import tomllib
import unicodedata
from pathlib import Path

import black
import pytest
from pydantic import BaseModel

from scripts.hosts import HOSTS
from tests.owhost import REWRITTEN_TEXTS, load_pipe, replace_imports

ROOT = Path(__file__).resolve().parent.parent
BUILT = ROOT / "openai_manifold_pipe.py"
NEWEST_SUPPORTED_HOST = (0, 12, 4)
THIRD_PARTY = {"aiohttp", "pydantic"}


# --- Open WebUI 0.12.4, reproduced ---------------------------------------------


def extract_frontmatter(content: str) -> dict[str, str]:
    """open_webui/utils/plugin.py:extract_frontmatter (the editor's is the same)."""
    lines = content.splitlines()
    if not lines or lines[0].strip() != '"""':
        return {}
    pattern = re.compile(r"^\s*([a-z_]+):\s*(.*)\s*$", re.IGNORECASE)
    frontmatter = {}
    for line in lines[1:]:
        if '"""' in line:
            break
        if match := pattern.match(line):
            frontmatter[match[1].strip()] = match[2].strip()
    return frontmatter


def name_to_id(name: str) -> str:
    """The editor's nameToId, which turns a pasted file's title into its id."""
    name = unicodedata.normalize("NFD", name)
    name = re.sub(r"[\u0300-\u036f]", "", name)
    name = re.sub(r"[^\w]+", "_", name, flags=re.ASCII)
    return name.strip("_").lower()


# --- helpers ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def built() -> str:
    return BUILT.read_text(encoding="utf-8")


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of everything the build reads, free to break."""
    for name in ("pyproject.toml", BUILT.name):
        shutil.copy2(ROOT / name, tmp_path / name)
    for name in ("scripts", "src"):
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / name, tmp_path / name, ignore=ignore)
    return tmp_path


def run_build(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = root / "scripts" / "build.py"
    command = [sys.executable, str(script), *args]
    return subprocess.run(command, cwd=root, capture_output=True, text=True)


def package_modules(root: Path) -> list[Path]:
    package = root / "src" / "openai_manifold_pipe"
    return sorted(p for p in package.glob("*.py") if p.name != "__init__.py")


def append(path: Path, code: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + code, encoding="utf-8")


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


# --- the build -------------------------------------------------------------------


def test_committed_file_is_current():
    result = run_build(ROOT, "--check")
    assert result.returncode == 0, result.stderr


def test_build_is_deterministic(tmp_path: Path):
    first, second = tmp_path / "first.py", tmp_path / "second.py"
    for output in (first, second):
        result = run_build(ROOT, "--output", str(output))
        assert result.returncode == 0, result.stderr
    assert first.read_bytes() == second.read_bytes() == BUILT.read_bytes()


def test_check_fails_when_sources_change(project_copy: Path):
    assert run_build(project_copy, "--check").returncode == 0
    append(
        package_modules(project_copy)[0],
        '\n\ndef added_by_staleness_test() -> None:\n    """Harmless."""\n',
    )
    result = run_build(project_copy, "--check")
    assert result.returncode == 1
    assert "out of date" in result.stderr


def test_duplicate_top_level_name_fails(project_copy: Path, tmp_path: Path):
    first, second = package_modules(project_copy)[:2]
    for module in (first, second):
        append(module, '\n\ndef defined_twice() -> None:\n    """Clash."""\n')
    result = run_build(project_copy, "--output", str(tmp_path / "out.py"))
    assert result.returncode != 0
    assert "defined_twice" in result.stderr
    assert first.name in result.stderr and second.name in result.stderr
    assert not (tmp_path / "out.py").exists()


@pytest.mark.parametrize(
    "code, named",
    [
        ("\nimport requests\n", "requests"),
        ("\nfrom .{other} import not_defined_there\n", "not_defined_there"),
        ('\n\ndef shout() -> None:\n    print("x")\n', "print("),
        ('\nHINT = "Read it from config"\n', "from config"),
    ],
    ids=["foreign import", "unknown local name", "print", "rewritten text"],
)
def test_build_refuses(project_copy: Path, tmp_path: Path, code: str, named: str):
    module, other = package_modules(project_copy)[:2]
    append(module, code.format(other=other.stem))
    result = run_build(project_copy, "--output", str(tmp_path / "out.py"))
    assert result.returncode != 0
    assert named in result.stderr
    assert module.stem in result.stderr


# --- the file as Open WebUI sees it -----------------------------------------------


def test_frontmatter(built: str):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert built.split("\n", 1)[0] == '"""'
    frontmatter = extract_frontmatter(built)
    assert frontmatter["title"] == "OpenAI Manifold Pipe"
    assert frontmatter["author"]
    assert frontmatter["version"] == project["version"]
    assert frontmatter["license"]
    assert frontmatter["description"] == project["description"]
    required = version_tuple(frontmatter["required_open_webui_version"])
    assert required <= NEWEST_SUPPORTED_HOST
    # The oldest release the host matrix (tests/hosts) starts: tested, not hoped.
    assert frontmatter["required_open_webui_version"] == HOSTS[0]


def test_function_id_from_title(built: str):
    assert name_to_id(extract_frontmatter(built)["title"]) == "openai_manifold_pipe"


def _imported(nodes) -> set[str]:
    imported = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            imported |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"relative import at line {node.lineno}"
            imported.add((node.module or "").partition(".")[0])
    return imported


def test_imports_only_stdlib_pydantic_aiohttp(built: str):
    """At module level; Open WebUI and SQLAlchemy only inside functions (SPEC "Imports")."""
    tree = ast.parse(built)
    top = _imported(tree.body)
    assert not top - set(sys.stdlib_module_names) - THIRD_PARTY
    nested = _imported(ast.walk(tree)) - top
    assert nested == {"open_webui", "sqlalchemy"}


def test_a_nested_import_of_anything_else_fails_the_build(project_copy: Path):
    module = project_copy / "src" / "openai_manifold_pipe" / "lazy.py"
    module.write_text('"""Lazy."""\n\n\ndef f():\n    import yaml\n\n    return yaml\n')
    result = run_build(project_copy)
    assert result.returncode != 0
    assert "lazy.py line 5: move this import" in result.stderr


def test_no_print_and_nothing_open_webui_rewrites(built: str):
    assert "print(" not in built
    for text in REWRITTEN_TEXTS:
        assert text not in built
    assert replace_imports(built) == built


def test_black_leaves_it_unchanged(built: str):
    assert black.format_str(built, mode=black.Mode()) == built


def test_loads_like_open_webui(built: str):
    pipe = load_pipe(built)
    assert not hasattr(pipe, "name")
    assert issubclass(pipe.Valves, BaseModel)
    assert issubclass(pipe.UserValves, BaseModel)
    for method in (pipe.pipes, pipe.pipe):
        assert inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method)
