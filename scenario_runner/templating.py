"""Jinja2 templates in scenario values: sandboxed, undefined names are errors, and the
values a template is given cannot be changed by it (``request.pop(...)`` is refused).

A string that is exactly one ``{{ expr }}`` keeps the type of the value (a number stays a
number, a dict stays a dict); any other string with ``{{`` or ``{%`` renders to a string.
A string in GripMock's Go dialect (:func:`scenario_runner.gotemplate.is_go_template`) is
handed to the ``go`` renderer the caller gives (stub outputs only); elsewhere it is an error.
Pure: no I/O beyond what the caller puts in the context.
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2

from .errors import ScenarioError
from .gotemplate import is_go_template

GoRenderer = Callable[[str], Any]

_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}\s*$", re.DOTALL)
_MARKERS = ("{{", "{%", "{#")


class TemplateProblem(ScenarioError):
    """A template failed; ``key_path`` says where inside the rendered value (keys, indexes).

    The caller knows the file and turns it into a ``TemplateError`` at that place."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.key_path: list[str | int] = []


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _uuid() -> str:
    import uuid  # only for templates that call uuid()

    return str(uuid.uuid4())


GLOBALS: Mapping[str, Callable[[], str]] = {"uuid": _uuid, "now": _now}


_MAX_POWER_DIGITS = 10_000  # `9**9**9` would compute for ever
_MAX_REPEAT = 1_000_000  # `'x' * 10**9` would fill memory


@functools.cache
def _sandbox_class() -> Any:
    """Jinja's immutable sandbox, and arithmetic that cannot be made to run away: a power
    with more than 10,000 digits, a string or list repeated to more than a million items,
    is a template error. Jinja is imported here, by the first template (a suite without
    any never pays for it)."""
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Sandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"**", "*"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "**" and _huge_power(left, right):
                raise SecurityError(f"{left!r} ** {right!r} is too large to compute")
            if operator == "*" and _huge_repeat(left, right):
                raise SecurityError(f"a repetition of more than {_MAX_REPEAT} items")
            return super().call_binop(context, operator, left, right)

    return Sandbox


def new_environment() -> Any:
    """A sandboxed Jinja environment: undefined names are errors, our globals are there."""
    import jinja2

    env = _sandbox_class()(undefined=jinja2.StrictUndefined, autoescape=False)
    env.globals.update(GLOBALS)
    return env


def _huge_power(base: Any, exponent: Any) -> bool:
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (base, exponent)):
        return False
    if isinstance(base, float) or isinstance(exponent, float) or abs(base) < 2:
        return False  # floats overflow to an error, not to a long computation
    return bool(exponent * math.log10(abs(base)) > _MAX_POWER_DIGITS)


def _huge_repeat(left: Any, right: Any) -> bool:
    for items, count in ((left, right), (right, left)):
        if isinstance(items, (str, list, tuple)) and isinstance(count, int):
            return len(items) * count > _MAX_REPEAT
    return False


class Templates:
    """Compiles and caches templates; one instance per run. Jinja is imported by the first
    template (a suite without any never pays for it)."""

    def __init__(self) -> None:
        self._jinja: Any = None
        self._expressions: dict[str, Any] = {}
        self._templates: dict[str, jinja2.Template] = {}

    @property
    def _env(self) -> Any:
        if self._jinja is None:
            self._jinja = new_environment()
        return self._jinja

    @staticmethod
    def is_template(value: object) -> bool:
        # "{" first: most strings have none, and this runs for every string of a scenario.
        return isinstance(value, str) and "{" in value and any(m in value for m in _MARKERS)

    def render(self, value: Any, context: Mapping[str, Any], go: GoRenderer | None = None) -> Any:
        """Render every template string inside ``value`` (dicts, lists and scalars)."""
        if isinstance(value, str):
            if not self.is_template(value):
                return value
            if is_go_template(value):
                if go is None:
                    raise TemplateProblem(
                        f"template {value!r}: GripMock's Go templates ({{{{.Request…}}}}) are only "
                        "rendered in stub outputs"
                    )
                return go(value)
            return self.render_string(value, context)
        if isinstance(value, dict):
            rendered: dict[Any, Any] = {}
            for key, item in value.items():
                try:
                    rendered[key] = self.render(item, context, go)
                except TemplateProblem as exc:
                    exc.key_path.insert(0, key)
                    raise
            return rendered
        if isinstance(value, list):
            items = []
            for index, item in enumerate(value):
                try:
                    items.append(self.render(item, context, go))
                except TemplateProblem as exc:
                    exc.key_path.insert(0, index)
                    raise
            return items
        return value

    def render_string(self, text: str, context: Mapping[str, Any]) -> Any:
        import jinja2

        try:
            single = _SINGLE_EXPRESSION.match(text)
            if single:
                expression = self._expressions.get(text)
                if expression is None:
                    expression = self._env.compile_expression(
                        single.group("expr").strip(), undefined_to_none=False
                    )
                    self._expressions[text] = expression
                result = expression(**context)
                if isinstance(result, jinja2.Undefined):
                    str(result)  # raises UndefinedError with jinja's own message
                return result
            template = self._templates.get(text)
            if template is None:
                template = self._env.from_string(text)
                self._templates[text] = template
            return template.render(context)
        except jinja2.UndefinedError as exc:
            raise TemplateProblem(f"template {text!r}: {exc.message}") from exc
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateProblem(f"template {text!r}: syntax error: {exc.message}") from exc
        except jinja2.TemplateError as exc:
            raise TemplateProblem(f"template {text!r}: {exc}") from exc
        except Exception as exc:  # an expression may raise anything (1/0, bad filter arg, …)
            raise TemplateProblem(f"template {text!r}: {type(exc).__name__}: {exc}") from exc

    def undeclared_names(self, text: str) -> set[str]:
        """Top-level names a Jinja template uses that it does not define itself, its
        environment's globals aside (none for a Go template: its names are checked when it
        is parsed)."""
        if is_go_template(text):
            return set()
        return set(template_use(text).names)


@dataclass(frozen=True)
class TemplateUse:
    """What a Jinja template reads: the names it does not define itself (globals such as
    ``uuid`` or ``range`` aside), ``name.attribute`` reads of them, the filters and tests
    it applies."""

    names: frozenset[str]
    attributes: tuple[tuple[str, str], ...]
    filters: frozenset[str]
    tests: frozenset[str]


@functools.cache
def _parser() -> Any:
    return new_environment()


def filter_names() -> frozenset[str]:
    """The filters a template may use."""
    return frozenset(_parser().filters)


def test_names() -> frozenset[str]:
    """The tests (``is defined``, ...) a template may use."""
    return frozenset(_parser().tests)


@functools.lru_cache(maxsize=4096)
def template_use(text: str) -> TemplateUse:
    """What a Jinja template reads (cached); ``TemplateProblem`` for a syntax error."""
    import jinja2
    from jinja2 import meta, nodes

    try:
        parsed = _parser().parse(text)
        read = meta.find_undeclared_variables(parsed)  # compiles: an unknown filter fails
    except jinja2.TemplateAssertionError as exc:
        raise TemplateProblem(f"template {text!r}: {exc.message}") from exc
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateProblem(f"template {text!r}: syntax error: {exc.message}") from exc
    except Exception as exc:  # the lexer's and compiler's own limits (nesting too deep)
        raise TemplateProblem(f"template {text!r}: {type(exc).__name__}: {exc}") from exc
    names = frozenset(read) - frozenset(_parser().globals)
    attributes: list[tuple[str, str]] = []
    for access in parsed.find_all(nodes.Getattr):
        if isinstance(access.node, nodes.Name) and access.node.name in names:
            attributes.append((access.node.name, access.attr))
    for item in parsed.find_all(nodes.Getitem):
        key, target = item.arg, item.node
        if not isinstance(target, nodes.Name) or target.name not in names:
            continue
        if isinstance(key, nodes.Const) and isinstance(key.value, str):
            attributes.append((target.name, key.value))
    filters = frozenset(f.name for f in parsed.find_all(nodes.Filter))
    tests = frozenset(t.name for t in parsed.find_all(nodes.Test))
    return TemplateUse(names, tuple(attributes), filters, tests)


def template_strings(value: Any) -> list[str]:
    """Every template string inside a value."""
    found: list[str] = []
    if isinstance(value, str):
        if Templates.is_template(value):
            found.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            found.extend(template_strings(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(template_strings(item))
    return found


def slugify(text: str) -> str:
    """``"Café, Welt!"`` → ``"cafe-welt"``: ASCII only, so it can go into gRPC metadata."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug or "scenario"
