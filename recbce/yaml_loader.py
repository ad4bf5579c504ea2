"""YAML read with limits: every YAML file recbce reads goes through `load`.

yaml.safe_load runs no code, but a few hundred bytes of anchors and aliases can expand to
10^8 values that validation and error messages then walk (a "billion laughs"). This loader
caps the text's size, the nesting depth, the number of aliases and the number of values
the document expands to, refuses a key given twice in one mapping (YAML keeps the last
silently), and its errors name the line, never echo a whole value.
"""

from __future__ import annotations

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, SequenceNode

MAX_BYTES = 1 << 20  # a config is a few KB; 1 MB leaves room for long comments or lists
MAX_DEPTH = 64
MAX_ALIASES = 1000
MAX_VALUES = 100_000  # after aliases are expanded
MAX_MESSAGE = 200  # characters of a parser message kept in an error


class YamlError(ValueError):
    """The text is not YAML, or breaks a limit; the message is one line."""


class _Loader(yaml.SafeLoader):
    def __init__(self, stream):
        super().__init__(stream)
        self.depth = 0
        self.aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise YamlError(f"more than {MAX_ALIASES} aliases{_line(self.peek_event())}")
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise YamlError(f"nested deeper than {MAX_DEPTH} levels{_line(self.peek_event())}")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def compose_document(self):
        node = super().compose_document()
        if _expanded_size(node, {}) > MAX_VALUES:
            raise YamlError(f"expands to more than {MAX_VALUES:,} values (aliases repeat their anchor)")
        return node

    def construct_mapping(self, node, deep=False):
        if isinstance(node, MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:  # an unhashable key: SafeConstructor names it below
                    continue
                if duplicate:
                    raise YamlError(f"duplicate key {_short(key)}{_line(key_node)}")
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _expanded_size(node: Node, sizes: dict) -> int:
    """Values in the document with every alias expanded; shared nodes are counted once per use
    but computed once (an alias can only name an earlier, finished node: no cycles)."""
    if id(node) in sizes:
        return sizes[id(node)]
    size = 1
    if isinstance(node, SequenceNode):
        size += sum(_expanded_size(child, sizes) for child in node.value)
    elif isinstance(node, MappingNode):
        size += sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    sizes[id(node)] = min(size, MAX_VALUES + 1)  # saturate: the total never needs to get huge
    return sizes[id(node)]


def _line(item) -> str:
    mark = getattr(item, "start_mark", None)
    return f" at line {mark.line + 1}" if mark is not None else ""


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def load(text: str):
    """The one document in `text`; YamlError with a one-line message if it is not acceptable."""
    if len(text.encode("utf-8", errors="replace")) > MAX_BYTES:
        raise YamlError(f"invalid YAML: larger than {MAX_BYTES >> 20} MB")
    loader = None
    try:
        loader = _Loader(text)  # its reader already checks the characters
        return loader.get_single_data()
    except YamlError as err:
        raise YamlError(f"invalid YAML: {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]  # ReaderError: no .problem
        if isinstance(err, ConstructorError) and getattr(err, "context", None):
            problem = f"{err.context}: {problem}"
        raise YamlError(f"invalid YAML{where}: {problem[:MAX_MESSAGE]}") from None
    except RecursionError:
        raise YamlError(f"invalid YAML: nested deeper than {MAX_DEPTH} levels") from None
    finally:
        if loader is not None:
            loader.dispose()


def load_file(path) -> object:
    """`load` of a file's text; OSError and UnicodeDecodeError are the caller's to name."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read(MAX_BYTES + 1)
    if len(text) > MAX_BYTES:
        raise YamlError(f"invalid YAML: larger than {MAX_BYTES >> 20} MB")
    return load(text)
