"""A hardened YAML reader for stack files: a document built from PyYAML's event stream, bounded in
nesting and number size, with no tags, anchors, aliases or merge keys, and every duplicate or
non-string key reported with its line. A stack file is user input that may come from anywhere."""

from __future__ import annotations

from typing import Any, NoReturn

import yaml

# The model nests 7 levels deep in a file; pydantic, json and the checks here recurse per level.
MAX_DEPTH = 32
# Longer numbers are typos or attacks: int() of 4,300+ digits raises, sexagesimal ints grow quadratically.
MAX_NUMBER_CHARS = 100


class YamlProblems(Exception):
    """A document that cannot be read at all: its first problem, with its line and column."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def shown(key: object) -> str:
    """A key as it may appear in a one-line message."""
    text = str(key)
    return text if text.isprintable() and len(text) <= 80 else repr(text[:80])


def _doc_path(parts: list[Any]) -> str:
    """A position in the document as a config key path: [config, gir-lb:tenants, 0, id] ->
    gir-lb:tenants[0].id."""
    if len(parts) >= 2 and parts[0] == "config":
        parts = parts[1:]
    if not parts:
        return "document"
    out = shown(parts[0])
    for p in parts[1:]:
        out += f"[{p}]" if isinstance(p, int) else f".{shown(p)}"
    return out


# libyaml's parser when present: the pure-Python one takes about 15 s on a 1 MiB file.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_TYPED = {f"tag:yaml.org,2002:{t}" for t in ("int", "float", "bool", "null")}
_MERGE = "tag:yaml.org,2002:merge"
_AWAIT_KEY, _SKIP = object(), object()


class _Frame:
    def __init__(self, container: dict | list, path: list[Any], mark: Any):
        self.container, self.path, self.mark = container, path, mark
        self.key: Any = _AWAIT_KEY
        self.lines: dict[str, int] = {}  # key -> line it was first seen at


def parse_yaml(text: str) -> tuple[Any, list[str]]:
    """A YAML document built from PyYAML's event stream, which is iterative, instead of its
    composer, which recurses per level and expands aliases (a few hundred bytes can expand to
    billions of nodes). Tags, anchors, aliases, several documents and nesting beyond MAX_DEPTH are
    refused at once; duplicate and non-string keys and unreadable numbers are collected."""
    problems: list[str] = []
    stack: list[_Frame] = []
    root: list[Any] = []

    def at(mark: Any) -> str:  # a yaml.Mark (the C loader's is another type)
        return f"line {mark.line + 1}, column {mark.column + 1}"

    def fail(mark: Any, problem: str) -> NoReturn:
        raise YamlProblems([f"{at(mark)}: {problem}"])

    def put(value: Any, mark: Any, merge: bool = False) -> None:
        if not stack:
            root.append(value)
            return
        top = stack[-1]
        if isinstance(top.container, list):
            top.container.append(value)
        elif top.key is _AWAIT_KEY:
            line = mark.line + 1
            if merge:
                problems.append(f"{_doc_path(top.path)}: merge keys (<<) at line {line} are not supported in stack files")
            elif not isinstance(value, str):
                text = "{…}" if isinstance(value, dict) else "[…]" if isinstance(value, list) else repr(value)
                problems.append(f"{_doc_path(top.path)}: key {shown(text)} at line {line} is not a string")
            elif value in top.lines:
                first = top.lines[value]
                problems.append(f"{_doc_path([*top.path, value])}: duplicate key at line {line} (first at line {first})")
            else:
                top.lines[value] = line
                top.key = value
                return
            top.key = _SKIP
        else:
            if top.key is not _SKIP:
                top.container[top.key] = value
            top.key = _AWAIT_KEY

    def child_path() -> list[Any]:
        if not stack:
            return []
        top = stack[-1]
        if isinstance(top.container, list):
            return [*top.path, len(top.container)]
        return [*top.path, top.key] if isinstance(top.key, str) else top.path

    def scalar(ev: yaml.ScalarEvent) -> tuple[Any, bool]:
        tag = _RESOLVER.resolve(yaml.ScalarNode, ev.value, ev.implicit)
        if tag not in _TYPED:  # strings; timestamps stay text, as the Pulumi CLI reads them
            return ev.value, tag == _MERGE
        if len(ev.value) > MAX_NUMBER_CHARS:
            problems.append(f"{_doc_path(child_path())}: a number of {len(ev.value)} characters at {at(ev.start_mark)}")
            return None, False
        node = yaml.ScalarNode(tag, ev.value)
        try:
            return _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, node), False
        except ValueError:  # the resolver's patterns admit some, e.g. 0x_ or ._
            problems.append(f"{_doc_path(child_path())}: {shown(ev.value)!r} at {at(ev.start_mark)} is not a number")
            return None, False

    documents = 0
    try:
        for ev in yaml.parse(text, Loader=_LOADER):
            if isinstance(ev, yaml.AliasEvent) or getattr(ev, "anchor", None):
                fail(ev.start_mark, "anchors and aliases (&, *) are not supported in stack files")
            tag = getattr(ev, "tag", None)
            if tag is not None:
                fail(ev.start_mark, f"YAML tags ({shown(tag)}) are not supported in stack files")
            if isinstance(ev, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    fail(ev.start_mark, "a stack file holds one YAML document")
            elif isinstance(ev, yaml.ScalarEvent):
                value, merge = scalar(ev)
                put(value, ev.start_mark, merge)
            elif isinstance(ev, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                if len(stack) >= MAX_DEPTH:
                    fail(ev.start_mark, f"nested deeper than {MAX_DEPTH} levels")
                container: dict | list = {} if isinstance(ev, yaml.MappingStartEvent) else []
                stack.append(_Frame(container, child_path(), ev.start_mark))
            elif isinstance(ev, yaml.CollectionEndEvent):
                done = stack.pop()
                put(done.container, done.mark)
    except yaml.MarkedYAMLError as e:
        mark, context = e.problem_mark or e.context_mark, e.context_mark
        what = e.problem or e.context or "invalid YAML"
        if e.problem and e.context:
            what += f" ({e.context}" + (f" from {at(context)})" if context else ")")
        where = f"{at(mark)}: " if mark else ""
        raise YamlProblems([f"{where}YAML syntax: {what}".replace("\n", " ")]) from None
    except yaml.reader.ReaderError as e:
        # libyaml gives a byte offset, PyYAML a character index
        pos = e.position if e.encoding == "unicode" else len(text.encode()[: e.position].decode(errors="ignore"))
        line, column = text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)
        raise YamlProblems([f"line {line}, column {column}: unacceptable character #x{e.character:04x}: {e.reason}"]) from None
    return (root[0] if root else None), problems
