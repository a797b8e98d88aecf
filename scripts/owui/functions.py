"""Function files: what the Open WebUI function editor does with a pasted file."""

from __future__ import annotations

import re
import unicodedata


def parse_frontmatter(content: str) -> dict[str, str]:
    """The editor's `extractFrontmatter`: `key: value` lines of the opening docstring.

    Only if the very first line is `\"\"\"`; stops at the next line containing `\"\"\"`.
    """
    lines = content.split("\n")
    if not lines or lines[0].strip() != '"""':
        return {}
    found: dict[str, str] = {}
    for line in lines[1:]:
        if '"""' in line:
            break
        match = re.match(r"^\s*([a-z_]+):\s*(.*)\s*$", line, re.IGNORECASE)
        if match:
            found[match.group(1)] = match.group(2).strip()
    return found


def name_to_id(name: str) -> str:
    """The editor's `nameToId`: "OpenAI Manifold Pipe" -> "openai_manifold_pipe"."""
    ascii_name = "".join(
        char
        for char in unicodedata.normalize("NFD", name)
        if not unicodedata.combining(char)
    )
    return re.sub(r"[^\w]+", "_", ascii_name, flags=re.ASCII).strip("_").lower()


def format_title(title: str) -> str:
    """The editor's `formatSkillName`: `-`/`_` become spaces, words capitalised."""
    spaced = re.sub(r"[-_]", " ", title)
    return re.sub(r"\b\w", lambda match: match.group(0).upper(), spaced)


def function_form(
    content: str,
    function_id: str | None = None,
    name: str | None = None,
    description: str | None = None,
) -> dict:
    """The body the function editor saves for a pasted file."""
    frontmatter = parse_frontmatter(content)
    title = frontmatter.get("title", "")
    function_id = function_id or name_to_id(title)
    if not function_id:
        raise ValueError(
            "no function id: pass one, or give the file a frontmatter title"
        )
    return {
        "id": function_id,
        "name": name or (format_title(title) if title else function_id),
        "content": content,
        "meta": {"description": description or frontmatter.get("description", "")},
    }
