"""Go ``text/template`` syntax: a lexer and a parser into a small node tree. Pure.

Supported: text and ``{{ }}`` actions with ``{{-`` / ``-}}`` trimming, comments, pipelines
(``a | b c``), variables (``$x := …``, ``$x = …``, ``$``), field chains (``.A.b``,
``$x.y``, ``(pipe).z``, ``fn.A.B``), string / raw string / number / bool / nil literals,
``if`` / ``else if`` / ``else`` / ``range`` (with ``$i, $v :=``) / ``with`` / ``end`` /
``break`` / ``continue``. ``define`` / ``template`` / ``block`` are refused: a stub value is
one self-contained template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Union

from .dialect import KEYWORDS
from .errors import GoTemplateSyntaxError

__all__ = ["GoTemplateSyntaxError", "Node", "parse"]


# -- nodes ---------------------------------------------------------------------------------


@dataclass
class Text:
    text: str


@dataclass
class Field:
    """``.A.b`` (on the dot) or a chain applied to another operand."""

    names: tuple[str, ...]


@dataclass
class Variable:
    name: str  # "$" or "$x"
    names: tuple[str, ...] = ()


@dataclass
class Identifier:
    """A function name, possibly followed by a field chain (``faker.Person.Name``)."""

    name: str
    names: tuple[str, ...] = ()


@dataclass
class Literal:
    value: object


@dataclass
class Chain:
    """``(pipeline).a.b``."""

    node: Pipeline
    names: tuple[str, ...]


@dataclass
class Dot:
    pass


Operand = Union[Field, Variable, Identifier, Literal, Chain, Dot, "Pipeline"]


@dataclass
class Command:
    args: list[Operand]


@dataclass
class Pipeline:
    commands: list[Command]
    declare: list[str] = field(default_factory=list)  # `$x :=` / `$i, $v :=`
    assign: bool = False  # `$x =` (assign an existing variable)


@dataclass
class Action:
    pipe: Pipeline


@dataclass
class Branch:
    kind: str  # "if" | "range" | "with"
    pipe: Pipeline
    body: list[Node]
    other: list[Node] = field(default_factory=list)


@dataclass
class Loop:
    kind: str  # "break" | "continue"


Node = Text | Action | Branch | Loop


# -- lexer ---------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\\n]|\\.)+')
  | (?P<declare>:=)
  | (?P<number>[+-]?(?:0[xX][0-9a-fA-F_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?))
  | (?P<variable>\$[A-Za-z0-9_]*)
  | (?P<field>\.[A-Za-z_][A-Za-z0-9_]*)
  | (?P<dot>\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[|()=,])
    """,
    re.VERBOSE,
)

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}


@dataclass
class _Token:
    kind: str
    text: str
    glued: bool  # no space before it (a field chain continues only when glued)


def _lex(source: str, where: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    glued = True
    while position < len(source):
        match = _TOKEN.match(source, position)
        if match is None:
            raise GoTemplateSyntaxError(f"unexpected {source[position]!r} in action {where}")
        kind = match.lastgroup or ""
        text = match.group()
        position = match.end()
        if kind == "space":
            glued = False
            continue
        if kind == "number" and tokens and glued and tokens[-1].kind in ("ident",):
            raise GoTemplateSyntaxError(f"unexpected number {text!r} in action {where}")
        tokens.append(_Token(kind, text, glued))
        glued = True
    return tokens


def _unquote(text: str) -> str:
    body = text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            if nxt in "xuU":
                size = {"x": 2, "u": 4, "U": 8}[nxt]
                digits = body[i + 2 : i + 2 + size]
                try:
                    out.append(chr(int(digits, 16)))
                except ValueError as exc:
                    raise GoTemplateSyntaxError(f"invalid escape in {text}") from exc
                i += 2 + size
                continue
            raise GoTemplateSyntaxError(f"invalid escape \\{nxt} in {text}")
        out.append(char)
        i += 1
    return "".join(out)


def _number(text: str) -> int | float:
    clean = text.replace("_", "")
    if clean.lower().lstrip("+-").startswith("0x"):
        return int(clean, 16)
    if re.fullmatch(r"[+-]?\d+", clean):
        return int(clean)
    return float(clean)


# -- parser --------------------------------------------------------------------------------

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)


def parse(source: str) -> list[Node]:
    """The node tree of a template; ``GoTemplateSyntaxError`` when it is not valid."""
    pieces: list[tuple[str, str]] = []  # ("text", …) | ("action", …)
    position = 0
    trim_next = False
    for match in _ACTION.finditer(source):
        text = source[position : match.start()]
        if trim_next:
            text = text.lstrip()
        if match.group(1):
            text = text.rstrip()
        if text:
            pieces.append(("text", text))
        pieces.append(("action", match.group(2)))
        trim_next = bool(match.group(3))
        position = match.end()
    rest = source[position:]
    if trim_next:
        rest = rest.lstrip()
    if "{{" in rest:
        raise GoTemplateSyntaxError("unclosed action: '{{' without '}}'")
    if rest:
        pieces.append(("text", rest))
    parser = _Parser(pieces)
    try:
        nodes, terminator = parser.block(top=True)
    except RecursionError as exc:  # ((((…)))) or {{if}} blocks thousands deep
        raise GoTemplateSyntaxError("the template nests too deeply") from exc
    if terminator is not None:
        raise GoTemplateSyntaxError(f"unexpected {{{{{terminator}}}}}")
    return nodes


class _Parser:
    def __init__(self, pieces: list[tuple[str, str]]) -> None:
        self.pieces = pieces
        self.index = 0

    def block(self, top: bool = False) -> tuple[list[Node], str | None]:
        """Nodes up to an ``else`` / ``end`` (returned as the terminator)."""
        nodes: list[Node] = []
        while self.index < len(self.pieces):
            kind, content = self.pieces[self.index]
            self.index += 1
            if kind == "text":
                nodes.append(Text(content))
                continue
            stripped = content.strip()
            if stripped.startswith("/*"):
                if not stripped.endswith("*/"):
                    raise GoTemplateSyntaxError("unclosed comment")
                continue
            tokens = _lex(stripped, "{{" + stripped + "}}")
            if not tokens:
                raise GoTemplateSyntaxError("missing value for command: empty action {{}}")
            head = tokens[0]
            if head.kind == "ident" and head.text in KEYWORDS:
                word = head.text
                if word in ("end", "else"):
                    if top:
                        raise GoTemplateSyntaxError(f"unexpected {{{{{word}}}}}")
                    if word == "end" and len(tokens) > 1:
                        raise GoTemplateSyntaxError("unexpected words after {{end}}")
                    self.pending = tokens[1:]
                    return nodes, word
                if word in ("break", "continue"):
                    nodes.append(Loop(word))
                    continue
                if word in ("define", "template", "block"):
                    raise GoTemplateSyntaxError(f"{{{{{word}}}}} is not supported in stub values")
                nodes.append(self.branch(word, tokens[1:]))
                continue
            nodes.append(Action(_PipeParser(tokens).pipeline()))
        if not top:
            raise GoTemplateSyntaxError("unexpected end of template: missing {{end}}")
        return nodes, None

    def branch(self, kind: str, tokens: list[_Token]) -> Branch:
        if not tokens:
            raise GoTemplateSyntaxError(f"missing value for {kind}")
        pipe = _PipeParser(tokens, allow_two=kind == "range").pipeline()
        body, terminator = self.block()
        node = Branch(kind, pipe, body)
        if terminator == "else":
            rest = self.pending
            if rest and rest[0].kind == "ident" and rest[0].text in ("if", "with"):
                # `else if x` / `else with x`: a nested branch that shares our {{end}}.
                node.other = [self.branch(rest[0].text, rest[1:])]
                return node
            if rest:
                raise GoTemplateSyntaxError("unexpected words after {{else}}")
            node.other, terminator = self.block()
            if terminator != "end":
                raise GoTemplateSyntaxError(f"expected {{{{end}}}} after {{{{else}}}} of {kind}")
        return node

    pending: list[_Token] = []


class _PipeParser:
    def __init__(self, tokens: list[_Token], allow_two: bool = False) -> None:
        self.tokens = tokens
        self.position = 0
        self.allow_two = allow_two

    def peek(self, offset: int = 0) -> _Token | None:
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def pipeline(self, until: str | None = None) -> Pipeline:
        declare: list[str] = []
        assign = False
        first = self.peek()
        if first is not None and first.kind == "variable":
            second = self.peek(1)
            if (second is not None and second.kind in ("declare",)) or (
                second is not None and second.text == "="
            ):
                declare = [first.text]
                assign = second.text == "="
                self.position += 2
            elif second is not None and second.text == "," and self.allow_two:
                third, fourth = self.peek(2), self.peek(3)
                if third is None or third.kind != "variable" or fourth is None:
                    raise GoTemplateSyntaxError("range can only initialize variables")
                declare = [first.text, third.text]
                assign = fourth.text == "="
                self.position += 4
        commands = [self.command(until)]
        while True:
            token = self.peek()
            if token is None or (until is not None and token.text == until):
                break
            if token.text != "|":
                raise GoTemplateSyntaxError(f"unexpected {token.text!r} in pipeline")
            self.take()
            commands.append(self.command(until))
        return Pipeline(commands, declare, assign)

    def command(self, until: str | None) -> Command:
        args: list[Operand] = []
        while True:
            token = self.peek()
            if token is None or token.text == "|" or (until is not None and token.text == until):
                break
            args.append(self.operand())
        if not args:
            raise GoTemplateSyntaxError("missing value for command")
        return Command(args)

    def _chain(self) -> tuple[str, ...]:
        names: list[str] = []
        while True:
            token = self.peek()
            if token is None or token.kind != "field" or not token.glued:
                return tuple(names)
            names.append(self.take().text[1:])

    def operand(self) -> Operand:
        token = self.take()
        kind = token.kind
        if kind == "field":
            return Field((token.text[1:], *self._chain()))
        if kind == "dot":
            return Dot()
        if kind == "variable":
            return Variable(token.text, self._chain())
        if kind == "string":
            return Literal(_unquote(token.text))
        if kind == "raw":
            return Literal(token.text[1:-1])
        if kind == "char":
            text = _unquote('"' + token.text[1:-1] + '"')
            if len(text) != 1:
                raise GoTemplateSyntaxError(f"invalid character constant {token.text}")
            return Literal(ord(text))
        if kind == "number":
            return Literal(_number(token.text))
        if kind == "ident":
            if token.text in ("true", "false"):
                return Literal(token.text == "true")
            if token.text == "nil":
                return Literal(None)
            if token.text in KEYWORDS:
                raise GoTemplateSyntaxError(f"unexpected keyword {token.text!r} in operand")
            return Identifier(token.text, self._chain())
        if token.text == "(":
            inner = self.pipeline(until=")")
            closing = self.peek()
            if closing is None or closing.text != ")":
                raise GoTemplateSyntaxError("unclosed left paren")
            self.take()
            names = self._chain()
            return Chain(inner, names) if names else inner
        raise GoTemplateSyntaxError(f"unexpected {token.text!r} in operand")
