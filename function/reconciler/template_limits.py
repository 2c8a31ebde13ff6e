"""The limits of the template sandbox: what one tenant's template may allocate and compute.

Add-on templates come from tenants and render on the reconciler every tenant shares, so the
sandbox of `function.reconciler.templates` bounds, before Python does the work:

- **sizes**: ``*`` and ``+`` may not build a string over `MAX_TEXT` characters or a list over
  `MAX_ITEMS` items; ``~`` a string over `MAX_TEXT`; ``*`` and ``**`` an integer over
  `MAX_NUMBER_BITS` bits. Every operation whose single result can be far larger than its
  input — ``%`` and ``str.format`` (field widths), the ``format``, ``center``, ``indent``,
  ``nindent``, ``wordwrap``, ``replace``, ``join``, ``batch``, ``slice``, ``sum``,
  ``string``/``tojson``/``toJson``/``toYaml``/``pprint``/``b64enc``/``urlize``/``escape``
  filters, the same ``str`` methods and ``translate``, ``lipsum``, and printing a value — is
  estimated first and refused when its result would exceed `MAX_TEXT`; ``split``,
  ``splitlines`` and the ``list`` filter on a string may not make more than `MAX_ITEMS`
  items. Estimates count shared references as often as they are printed, so
  ``[s] * 100000`` cannot be joined into 100,000 copies of a long ``s``.
- **CPU time**: one render may use `RENDER_CPU_SECONDS` of its thread's CPU time. The clock
  is read (every `TICKS_PER_CHECK` ticks) in every loop iteration and loop filter, every call
  (macros included) and every filter, so the render that exceeds its budget fails on its own
  thread, at its template line, while renders on other threads go on.

Every refusal is a `TemplateLimitError`, which `function.reconciler.templates` reports as a
`RenderError` naming the add-on, file and line.
"""

from __future__ import annotations

import functools
import math
import re
import string
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from jinja2 import TemplateError, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import MAX_RANGE

MAX_TEXT = 4 * 1024 * 1024
"""Characters in a rendered text, and in any one string a template builds."""

MAX_ITEMS = MAX_RANGE
"""Items in a list a template builds with ``*`` or ``+``: as many as ``range`` may give."""

MAX_NUMBER_BITS = 4096
"""Bits of an integer a template computes with ``*`` or ``**`` (about 1,230 digits)."""

RENDER_CPU_SECONDS = 1.0
"""CPU time one render may use; ordinary add-on templates render in milliseconds."""

TICKS_PER_CHECK = 64
"""Loop iterations, calls and filters between two readings of the thread's CPU clock."""

MAX_LIPSUM_WORDS = 10_000
"""Words ``lipsum(n, max=...)`` may generate: ``n`` paragraphs of up to ``max`` words."""

_LIMITS = {
    "string": (MAX_TEXT, "characters"),
    "list": (MAX_ITEMS, "items"),
    "number": (MAX_NUMBER_BITS, "bits"),
}


class TemplateLimitError(TemplateError):
    """A template would build a value, or a text, beyond the limits, or ran out of CPU time."""


def within_limit(operator: str, kind: str, size: float) -> None:
    """Refuse ``operator`` if it would make a ``kind`` of ``size`` (characters, items, bits)."""
    limit, unit = _LIMITS[kind]
    if size > limit:
        raise TemplateLimitError(
            f"'{operator}' would make a {kind} of {size:,.0f} {unit}, over the limit of {limit:,}"
        )


def _kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    return None


def _is_integer(value: Any) -> bool:
    return isinstance(value, int)  # bool too: True * "x" repeats once


def check_operation(operator: str, left: Any, right: Any) -> None:
    """Refuse ``left <operator> right`` before Python computes it if its result is too big."""
    if operator == "**":
        if _is_integer(left) and _is_integer(right) and right > 0 and abs(left) > 1:
            within_limit("**", "number", math.log2(abs(left)) * right)
    elif operator == "*" and _is_integer(left) and _is_integer(right):
        within_limit("*", "number", left.bit_length() + right.bit_length())
    elif operator == "*":
        repeated, times = (right, left) if _is_integer(left) else (left, right)
        kind = _kind(repeated)
        if kind is not None and _is_integer(times):
            within_limit("*", kind, len(repeated) * times)
            if kind == "list" and times > 1:
                within_limit("*", "string", text_weight(repeated) * times)
    elif operator == "+":
        kind = _kind(left)
        if kind is not None and _kind(right) == kind:
            within_limit("+", kind, len(left) + len(right))
    elif operator == "%" and isinstance(left, str):
        check_printf(left, right)


# --- estimates --------------------------------------------------------------------------------


def text_weight(value: Any, limit: int = MAX_TEXT) -> int:
    """About how many characters ``value`` prints as, counted up to just past ``limit``.

    Shared references count every time (``[s] * 3`` weighs three ``s``), which is what
    printing or joining them costs; the walk stops as soon as the count exceeds ``limit``.
    """
    total = 0
    stack = [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item) + 2
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, float):
            total += 24
        elif isinstance(item, Mapping):
            total += 2 + 4 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            stack.extend(item)
        else:
            total += 64
    return total


def check_text(what: str, size: float) -> None:
    """Refuse an operation whose text result would be ``size`` characters, if over the limit."""
    if size > MAX_TEXT:
        raise TemplateLimitError(
            f"{what} would make a text of about {size:,.0f} characters, "
            f"over the limit of {MAX_TEXT:,}"
        )


_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


def check_printf(template: str, args: Any) -> None:
    """Refuse ``template % args`` if its field widths and arguments make too long a text."""
    size = len(template) + text_weight(args)
    for width, precision in _PRINTF.findall(template):
        if "*" in (width, precision):
            raise TemplateLimitError("'%' widths taken from arguments ('*') are not allowed")
        size += int(width or 0) + int(precision or 0)
        check_text("'%'", size)
    check_text("'%'", size)


_FORMATTER = string.Formatter()


def check_str_format(template: str, args: Any, kwargs: Any) -> None:
    """Refuse ``template.format(...)`` if its field widths and arguments make too long a text."""
    size = len(template) + text_weight(args) + text_weight(kwargs)
    try:
        fields = list(_FORMATTER.parse(template))
    except ValueError:
        return  # str.format raises the same error itself
    for _, _, spec, _ in fields:
        if spec and "{" in spec:
            raise TemplateLimitError("format specs taken from arguments are not allowed")
        size += sum(int(n) for n in re.findall(r"\d+", spec or ""))
        check_text("str.format", size)
    check_text("str.format", size)


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) else default


def _width(value: Any, default: int) -> int:
    if isinstance(value, str):
        return len(value)
    return _int(value, default)


def _lines(value: Any) -> int:
    return str(value).count("\n") + 1


def _replaced(text: str, old: Any, new: Any, count: Any) -> float:
    old, new = str(old), str(new)
    found = len(text) + 1 if not old else text.count(old)
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * (len(new) - len(old))


# --- the CPU budget ---------------------------------------------------------------------------


class _Budget(threading.local):
    deadline: float | None = None
    ticks: int = 0


_BUDGET = _Budget()


def start_budget() -> None:
    """Give the current thread's render `RENDER_CPU_SECONDS` from now."""
    _BUDGET.deadline = time.thread_time() + RENDER_CPU_SECONDS
    _BUDGET.ticks = 0


def stop_budget() -> None:
    """The render on this thread is over."""
    _BUDGET.deadline = None


def tick() -> None:
    """Count one step of the render; fail it once its thread has used up its CPU time."""
    budget = _BUDGET
    budget.ticks += 1
    if budget.ticks % TICKS_PER_CHECK or budget.deadline is None:
        return
    if time.thread_time() > budget.deadline:
        budget.deadline = None  # the error may be reported by template code that ticks too
        raise TemplateLimitError(
            f"the render used more than {RENDER_CPU_SECONDS:g} s of CPU time, its limit"
        )


# --- filters, methods and globals -------------------------------------------------------------

Check = Callable[..., None]


def _check_join(value: Any, d: Any = "", attribute: Any = None) -> None:
    if attribute is None:
        items = value if isinstance(value, list | tuple) else []
        check_text("join", text_weight(items) + len(str(d)) * len(items))


_FILTER_CHECKS: dict[str, Check] = {
    "center": lambda value, width=80: check_text("center", _int(width)),
    "indent": lambda value, width=4, *_, **__: check_text(
        "indent", len(str(value)) + _width(width, 4) * _lines(value)
    ),
    "nindent": lambda value, width=4: check_text(
        "nindent", len(str(value)) + _width(width, 4) * _lines(value)
    ),
    "wordwrap": lambda value, width=79, _b=True, wrapstring=None, *_, **kw: check_text(
        "wordwrap",
        len(str(value))
        + (len(str(value)) // max(_int(width, 79), 1) + str(value).count(" ") + 1)
        * len(str(kw.get("wrapstring", wrapstring) or "\n")),
    ),
    "format": lambda value, *args, **kwargs: check_printf(str(value), args or kwargs),
    "replace": lambda value, old, new, count=None: check_text(
        "replace", _replaced(str(value), old, new, count)
    ),
    "join": _check_join,
    "batch": lambda value, linecount, *_: check_text("batch", _int(linecount)),
    "slice": lambda value, slices, *_: check_text("slice", _int(slices)),
    "sum": lambda value, *_, **__: check_text("sum", text_weight(value)),
    "string": lambda value: check_text("string", text_weight(value)),
    "pprint": lambda value: check_text("pprint", text_weight(value)),
    "tojson": lambda value, indent=None: check_text(
        "tojson", text_weight(value) * (1 + _int(indent))
    ),
    "toJson": lambda value: check_text("toJson", text_weight(value)),
    "toYaml": lambda value: check_text("toYaml", 2 * text_weight(value)),
    "b64enc": lambda value: check_text("b64enc", 4 * text_weight(value) / 3),
    "urlize": lambda value, *_, **__: check_text("urlize", 8 * len(str(value))),
    "escape": lambda value: check_text("escape", 6 * len(str(value))),
    "e": lambda value: check_text("escape", 6 * len(str(value))),
    "forceescape": lambda value: check_text("forceescape", 6 * len(str(value))),
    "list": lambda value: _check_items("list", len(value) if isinstance(value, str) else 0),
}
"""Pre-checks of filters that may build a text much larger than their input, by name; they
take the filter's arguments as a template passes them."""

_MATERIALISED = frozenset({"join", "sum"})
"""Filters whose iterable input is made a list first, so it can be estimated and still used."""


def guard_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with a tick of the CPU budget and, for the filters above, a size pre-check."""
    check = _FILTER_CHECKS.get(name)
    passed = 1 if getattr(fn, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        tick()
        if check is not None:
            if name in _MATERIALISED and len(args) > passed:
                value = args[passed]
                if isinstance(value, Iterable) and not isinstance(value, str | Mapping):
                    args = (*args[:passed], _bounded_list(value), *args[passed + 1 :])
            check(*args[passed:], **kwargs)
        return fn(*args, **kwargs)

    return guarded


def _check_items(what: str, count: int) -> None:
    if count > MAX_ITEMS:
        raise TemplateLimitError(
            f"{what} would make a list of about {count:,} items, over the limit of {MAX_ITEMS:,}"
        )


_WHITESPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def _check_split(name: str, text: str | bytes, args: tuple[Any, ...]) -> None:
    separator = args[0] if args else None
    if isinstance(text, str):
        if isinstance(separator, str) and separator:
            pieces = text.count(separator)
        elif name == "splitlines":
            pieces = sum(text.count(c) for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
        else:
            pieces = sum(text.count(c) for c in _WHITESPACE)
    else:
        pieces = len(text) // 2
    limit = args[1] if len(args) > 1 and isinstance(args[1], int) and args[1] >= 0 else None
    _check_items(f"str.{name}", min(pieces, limit) if limit is not None else pieces)


def _bounded_list(items: Iterable[Any]) -> list[Any]:
    out = []
    for item in items:
        out.append(item)
        if len(out) > MAX_ITEMS:
            raise TemplateLimitError(f"an iterable of over {MAX_ITEMS:,} items")
    return out


def check_method(method: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Refuse a ``str`` (or ``bytes``) method call whose result would exceed `MAX_TEXT`;
    return its arguments (``join``'s iterable as a list)."""
    owner = getattr(method, "__self__", None)
    if not isinstance(owner, str | bytes):
        return args
    name = getattr(method, "__name__", "")
    if name in ("center", "ljust", "rjust", "zfill") and args:
        check_text(f"str.{name}", _int(args[0]))
    elif name == "expandtabs":
        tabsize = _int(args[0], 8) if args else 8
        tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
        check_text("str.expandtabs", len(owner) + tabs * tabsize)
    elif name == "replace" and len(args) >= 2 and isinstance(owner, str):
        check_text(
            "str.replace", _replaced(owner, args[0], args[1], args[2] if len(args) > 2 else -1)
        )
    elif name in ("split", "rsplit", "splitlines"):
        _check_split(name, owner, args)
    elif name == "translate" and args and isinstance(args[0], Mapping):
        longest = max((len(str(v)) for v in args[0].values() if v is not None), default=1)
        check_text("str.translate", len(owner) * longest)
    elif name == "join" and args:
        items = _bounded_list(args[0])
        check_text("str.join", text_weight(items) + len(owner) * len(items))
        return (items, *args[1:])
    return args


def bounded_lipsum(generate: Callable[..., str]) -> Callable[..., str]:
    """Jinja's ``lipsum`` global, refusing more than `MAX_LIPSUM_WORDS` words."""

    @functools.wraps(generate)
    def lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
        if _int(n, 5) * _int(max, 100) > MAX_LIPSUM_WORDS:
            raise TemplateLimitError(
                f"lipsum({n}, max={max}) would make over {MAX_LIPSUM_WORDS:,} words"
            )
        return generate(n, html, min, max)

    return lipsum


# --- code generation --------------------------------------------------------------------------


def _budget_call(name: str, lineno: int) -> nodes.Call:
    """``environment.<name>()``: a tick of the CPU budget in compiled template code."""
    return nodes.Call(nodes.EnvironmentAttribute(name), [], [], None, None, lineno=lineno)


def _is_tick(node: nodes.Node) -> bool:
    return (
        isinstance(node, nodes.ExprStmt)
        and isinstance(node.node, nodes.Call)
        and isinstance(node.node.node, nodes.EnvironmentAttribute)
        and node.node.node.name == "tick"
    )


class BoundedCodeGenerator(CodeGenerator):
    """Compiles templates as Jinja2 does, plus the calls the limits need.

    ``a ~ b`` becomes ``environment.bounded_concat(a ~ b)`` (``~`` is not among the operators
    a sandbox can intercept, yet a macro calling itself with ``s ~ s`` doubles a string at
    each call), and every loop body and loop filter ticks the CPU budget first.
    """

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:  # noqa: N802 (Jinja2 names it)
        self.write("environment.bounded_concat(")
        super().visit_Concat(node, frame)
        self.write(")")

    def visit_For(self, node: nodes.For, frame: Frame) -> None:  # noqa: N802
        if not (node.body and _is_tick(node.body[0])):
            tick = nodes.ExprStmt(_budget_call("tick", node.lineno), lineno=node.lineno)
            node.body = [tick, *node.body]
            if node.test is not None:
                ticked = _budget_call("ticked", node.lineno)
                node.test = nodes.And(ticked, node.test, lineno=node.lineno)
        super().visit_For(node, frame)
