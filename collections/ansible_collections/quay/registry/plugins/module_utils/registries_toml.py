# -*- coding: utf-8 -*-
# Copyright: quay.registry contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Read and write the TOML subset used by containers-registries.conf(5) version 2.

Reading uses ``tomllib`` (Python 3.11+), then ``tomli``, and falls back to a small parser
for the subset that registries.conf files use (comments, tables, arrays of tables, strings,
integers, booleans, arrays, inline tables), so that hosts with Python 3.6-3.10 and no TOML
library (RHEL 8/9, ALT p10) work too.

Writing always uses :func:`dumps` below: ``tomli_w`` is not installed on most hosts, and the
output has to be stable (same input, same bytes) for idempotence.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

try:  # Python 3.11+
    import tomllib as _toml_reader  # type: ignore
except ImportError:  # pragma: no cover - depends on the host
    try:
        import tomli as _toml_reader  # type: ignore
    except ImportError:
        _toml_reader = None


class TomlError(ValueError):
    """The text is not TOML this module can read."""


def loads(text, use_library=True):
    """Parse TOML text into dicts/lists. ``use_library=False`` forces the built-in parser."""
    if use_library and _toml_reader is not None:
        try:
            return _toml_reader.loads(text)
        except Exception as exc:  # tomllib.TOMLDecodeError and friends
            raise TomlError(str(exc))
    return _Parser(text).parse()


def reader_name():
    return _toml_reader.__name__ if _toml_reader is not None else "builtin"


# ---------------------------------------------------------------------------------------------
# Built-in parser for the registries.conf subset.

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_INT = re.compile(r"[+-]?[0-9][0-9_]*")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


class _Parser:
    def __init__(self, text):
        self.s = text.replace("\r\n", "\n")
        self.i = 0
        self.line = 1

    def error(self, msg):
        raise TomlError("line %d: %s" % (self.s.count("\n", 0, self.i) + 1, msg))

    def peek(self):
        return self.s[self.i] if self.i < len(self.s) else ""

    def skip_ws(self):
        while self.peek() in (" ", "\t") and self.peek():
            self.i += 1

    def skip_ws_comments_newlines(self):
        while True:
            c = self.peek()
            if c in (" ", "\t", "\n"):
                self.i += 1
            elif c == "#":
                while self.peek() not in ("\n", ""):
                    self.i += 1
            else:
                return

    def end_of_line(self):
        self.skip_ws()
        if self.peek() == "#":
            while self.peek() not in ("\n", ""):
                self.i += 1
        if self.peek() not in ("\n", ""):
            self.error("unexpected %r after value" % self.peek())

    def parse(self):
        root = {}
        current = root
        while True:
            self.skip_ws_comments_newlines()
            c = self.peek()
            if not c:
                return root
            if c == "[":
                array = self.s.startswith("[[", self.i)
                self.i += 2 if array else 1
                self.skip_ws()
                keys = self.key_path()
                self.skip_ws()
                closing = "]]" if array else "]"
                if not self.s.startswith(closing, self.i):
                    self.error("expected %s" % closing)
                self.i += len(closing)
                self.end_of_line()
                current = self.open_table(root, keys, array)
            else:
                self.key_value(current, "")
                self.end_of_line()

    def key_value(self, table, where):
        # `dotted.key = value` at the top level of a table or inside an inline table.
        keys = self.key_path()
        self.skip_ws()
        if self.peek() != "=":
            self.error("expected '='" + where)
        self.i += 1
        self.skip_ws()
        self.assign(table, keys, self.value())

    def open_table(self, root, keys, array):
        node = root
        for k in keys[:-1]:
            nxt = node.setdefault(k, {})
            if isinstance(nxt, list):
                nxt = nxt[-1]
            if not isinstance(nxt, dict):
                self.error("key %r is not a table" % k)
            node = nxt
        last = keys[-1]
        if array:
            lst = node.setdefault(last, [])
            if not isinstance(lst, list):
                self.error("key %r is not an array of tables" % last)
            table = {}
            lst.append(table)
            return table
        table = node.setdefault(last, {})
        if not isinstance(table, dict):
            self.error("key %r is not a table" % last)
        return table

    def assign(self, table, keys, value):
        for k in keys[:-1]:
            table = table.setdefault(k, {})
            if not isinstance(table, dict):
                self.error("key %r is not a table" % k)
        if keys[-1] in table:
            self.error("duplicate key %r" % keys[-1])
        table[keys[-1]] = value

    def key_path(self):
        keys = [self.key()]
        while True:
            self.skip_ws()
            if self.peek() != ".":
                return keys
            self.i += 1
            self.skip_ws()
            keys.append(self.key())

    def key(self):
        c = self.peek()
        if c == '"':
            return self.basic_string()
        if c == "'":
            return self.literal_string()
        m = _BARE_KEY.match(self.s, self.i)
        if not m:
            self.error("expected a key")
        self.i = m.end()
        return m.group(0)

    def value(self):
        c = self.peek()
        if c == '"':
            if self.s.startswith('"""', self.i):
                self.error("multi-line strings are not supported")
            return self.basic_string()
        if c == "'":
            return self.literal_string()
        if c == "[":
            return self.array()
        if c == "{":
            return self.inline_table()
        if self.s.startswith("true", self.i):
            self.i += 4
            return True
        if self.s.startswith("false", self.i):
            self.i += 5
            return False
        m = _INT.match(self.s, self.i)
        if m:
            self.i = m.end()
            return int(m.group(0).replace("_", ""))
        self.error("unsupported value")

    def basic_string(self):
        self.i += 1
        out = []
        while True:
            c = self.peek()
            if c in ("", "\n"):
                self.error("unterminated string")
            self.i += 1
            if c == '"':
                return "".join(out)
            if c == "\\":
                e = self.peek()
                self.i += 1
                if e in _ESCAPES:
                    out.append(_ESCAPES[e])
                elif e in ("u", "U"):
                    n = 4 if e == "u" else 8
                    out.append(chr(int(self.s[self.i:self.i + n], 16)))
                    self.i += n
                else:
                    self.error("bad escape \\%s" % e)
            else:
                out.append(c)

    def literal_string(self):
        end = self.s.find("'", self.i + 1)
        if end < 0 or "\n" in self.s[self.i:end]:
            self.error("unterminated string")
        value = self.s[self.i + 1:end]
        self.i = end + 1
        return value

    def array(self):
        self.i += 1
        items = []
        while True:
            self.skip_ws_comments_newlines()
            if self.peek() == "]":
                self.i += 1
                return items
            items.append(self.value())
            self.skip_ws_comments_newlines()
            if self.peek() == ",":
                self.i += 1
            elif self.peek() != "]":
                self.error("expected ',' or ']' in array")

    def inline_table(self):
        self.i += 1
        table = {}
        self.skip_ws()
        if self.peek() == "}":
            self.i += 1
            return table
        while True:
            self.skip_ws()
            self.key_value(table, " in inline table")
            self.skip_ws()
            if self.peek() == ",":
                self.i += 1
            elif self.peek() == "}":
                self.i += 1
                return table
            else:
                self.error("expected ',' or '}' in inline table")


# ---------------------------------------------------------------------------------------------
# Writer.


def _key(k):
    return k if _BARE_KEY.fullmatch(k) else _string(k)


def _string(s):
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join("%s = %s" % (_key(k), _scalar(x)) for k, x in v.items()) + "}"
    raise TomlError("cannot write a value of type %s" % type(v).__name__)


def _is_table_array(v):
    return isinstance(v, list) and v and all(isinstance(x, dict) for x in v)


def _emit_table(lines, prefix, table):
    simple = [(k, v) for k, v in table.items() if not isinstance(v, dict) and not _is_table_array(v)]
    for k, v in simple:
        lines.append("%s = %s" % (_key(k), _scalar(v)))
    for k, v in table.items():
        name = prefix + [_key(k)]
        if isinstance(v, dict):
            lines.append("")
            lines.append("[%s]" % ".".join(name))
            _emit_table(lines, name, v)
        elif _is_table_array(v):
            for item in v:
                lines.append("")
                lines.append("[[%s]]" % ".".join(name))
                _emit_table(lines, name, item)


def dumps(data, header=None):
    """Render ``data`` as TOML. Key order is kept; ``header`` lines are written as comments."""
    lines = []
    for h in header or ():
        lines.append(("# " + h).rstrip())
    if header:
        lines.append("")
    _emit_table(lines, [], data)
    while lines and lines[0] == "":
        lines.pop(0)
    return "\n".join(lines) + "\n"
