"""Safe YAML loading that remembers where every key stood, so errors can name the line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fashion_models.errors import UserError

KeyPath = tuple[str | int, ...]


class ConfigError(UserError):
    """A user error in a study or search-space file: one line naming file, key, line, rule."""

    def __init__(
        self, file: str | Path, key: KeyPath | str, message: str, line: int | None = None
    ) -> None:
        self.file = str(file)
        self.key = key if isinstance(key, str) else dotted(key)
        self.line = line
        self.message = message
        where = f"{self.file}:{line}" if line else self.file
        super().__init__(f"{where}: {self.key}: {message}" if self.key else f"{where}: {message}")


def dotted(path: KeyPath) -> str:
    """('pruner', 'kwargs', 0) -> 'pruner.kwargs[0]'."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def describe(value: Any) -> str:
    """How a found value reads in an error message: its repr and YAML-ish type name."""
    kind = {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "list",
        dict: "mapping",
        type(None): "null",
    }.get(type(value), type(value).__name__)
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{shown} ({kind})"


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML file plus the 1-based line of every key path in it."""

    path: Path
    data: Any
    lines: dict[KeyPath, int]

    def line(self, key: KeyPath) -> int | None:
        """Line of `key`, or of its nearest ancestor that has one."""
        for end in range(len(key), -1, -1):
            if key[:end] in self.lines:
                return self.lines[key[:end]]
        return None

    def error(self, key: KeyPath, message: str) -> ConfigError:
        return ConfigError(self.path, key, message, self.line(key))


def load_yaml(path: str | Path) -> YamlDocument:
    """Parse `path` with the safe loader; duplicate keys and non-string keys are errors."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "", f"cannot be read: {exc}") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(path, "", f"is not valid YAML: {problem}", line) from None
    lines: dict[KeyPath, int] = {}
    data = _convert(path, root, (), lines) if root is not None else None
    return YamlDocument(path, data, lines)


# Collections must be plain mappings and lists; scalars go through the safe constructor.
_DEFAULT_TAGS = {
    yaml.MappingNode: "tag:yaml.org,2002:map",
    yaml.SequenceNode: "tag:yaml.org,2002:seq",
}


def _convert(path: Path, node: yaml.Node, key: KeyPath, lines: dict[KeyPath, int]) -> Any:
    lines.setdefault(key, node.start_mark.line + 1)
    default_tag = _DEFAULT_TAGS.get(type(node))
    if default_tag is not None and node.tag != default_tag:
        raise ConfigError(path, key, f"unsupported tag {node.tag}", node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            name = yaml.SafeLoader(" ").construct_object(key_node)
            if isinstance(name, bool) and isinstance(key_node, yaml.ScalarNode):
                # YAML 1.1 reads the keys on/off/yes/no as booleans: a key is meant as its text.
                name = key_node.value
            line = key_node.start_mark.line + 1
            if not isinstance(name, str):
                raise ConfigError(path, key, f"keys must be strings, found {describe(name)}", line)
            if name in out:
                raise ConfigError(path, (*key, name), "duplicate key", line)
            lines[(*key, name)] = line
            out[name] = _convert(path, value_node, (*key, name), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(path, item, (*key, i), lines) for i, item in enumerate(node.value)]
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(path, key, f"bad value: {problem}", node.start_mark.line + 1) from None
