"""Template limits: a tenant's template cannot build strings, lists, numbers or texts big
enough to exhaust the shared reconciler; each limit fails as a `RenderError` at its line."""

from __future__ import annotations

import pytest

from function.errors import RenderError, SourceLocation
from function.reconciler.templates import (
    MAX_ITEMS,
    MAX_NUMBER_BITS,
    MAX_TEXT,
    TemplateContext,
    render_template,
)

HERE = SourceLocation("tenant-addon", "manifests")
CONTEXT = TemplateContext(cluster={"metadata": {"name": "llama-eu", "namespace": "team-a"}})


def render(source: str) -> str:
    return render_template(source, CONTEXT, HERE)


def render_error(source: str) -> RenderError:
    with pytest.raises(RenderError) as caught:
        render(source)
    return caught.value


def test_limits_are_a_few_mib_of_text_and_as_many_items_as_range_gives() -> None:
    assert (MAX_TEXT, MAX_ITEMS, MAX_NUMBER_BITS) == (4 * 1024 * 1024, 100_000, 4096)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        (
            '("x" * 300000000)|length',
            "'*' would make a string of 300,000,000 characters, over the limit of 4,194,304",
        ),
        (
            '(300000000 * "x")|length',
            "'*' would make a string of 300,000,000 characters, over the limit of 4,194,304",
        ),
        (
            "([cluster] * 200000)|length",
            "'*' would make a list of 200,000 items, over the limit of 100,000",
        ),
        (
            "10 ** 2000000",
            "'**' would make a number of 6,643,856 bits, over the limit of 4,096",
        ),
        (
            "(10 ** 1000) * (10 ** 1000)",
            "'*' would make a number of 6,644 bits, over the limit of 4,096",
        ),
    ],
)
def test_an_operator_that_would_build_too_much_is_refused_before_it_does(
    expression: str, reason: str
) -> None:
    error = render_error(f"kind: ConfigMap\ndata:\n  n: '{{{{ {expression} }}}}'\n")
    assert error.location == SourceLocation("tenant-addon", "manifests", 3)
    assert error.reason == f"template limit: {reason}"
    assert str(error) == f"add-on 'tenant-addon', manifests:3: template limit: {reason}"


def test_doubling_with_plus_in_a_loop_stops_at_the_limit() -> None:
    error = render_error(
        '{% set ns = namespace(s="x") %}\n'
        "{% for _ in range(40) %}\n"
        "{% set ns.s = ns.s + ns.s %}\n"
        "{% endfor %}\n"
        "{{ ns.s|length }}\n"
    )
    assert error.location.line == 3
    assert error.reason == (
        "template limit: '+' would make a string of 8,388,608 characters, "
        "over the limit of 4,194,304"
    )


def test_doubling_with_tilde_in_a_recursive_macro_stops_at_the_limit() -> None:
    error = render_error(
        "a: 1\n"
        "{% macro grow(s, n) %}{{ grow(s ~ s, n - 1) if n else s|length }}{% endmacro %}\n"
        "b: {{ grow(cluster.name, 40) }}\n"
    )
    assert error.location.line == 2
    assert error.reason == (
        "template limit: '~' would make a string of 8,388,608 characters, "
        "over the limit of 4,194,304"
    )


def test_a_rendered_text_over_the_limit_stops_where_it_goes_over() -> None:
    error = render_error(
        "items:\n{% for i in range(100000) %}\n- {{ cluster.name * 10 }}-{{ i }}\n{% endfor %}\n"
    )
    assert error.location == SourceLocation("tenant-addon", "manifests", 3)
    assert error.reason == (
        "template limit: the rendered text is over the limit of 4,194,304 characters"
    )


def test_range_keeps_the_sandbox_limit() -> None:
    error = render_error("a: 1\nb: {{ range(1000000)|length }}\n")
    assert error.location.line == 2
    assert error.reason == (
        "OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000)."
    )


def test_everything_within_the_limits_renders_as_usual() -> None:
    text = render(
        "{{ '-' * 3 }} {{ 2 * 'ab' }} {{ [0] * 3 }} {{ (1, 2) + (3,) }} {{ 'a' ~ 1 ~ 'b' }}"
        " {{ 'x' + 'y' }} {{ 2 ** 64 }} {{ 2 ** 0.5 }} {{ 2 ** -1 }} {{ 1 ** 100000 }}"
        " {{ (-1) ** 100001 }} {{ 6 * 7 }} {{ 1.5 * 2 }} {{ 1 + 2 }} {{ [1] + [2] }}"
    )
    assert text == (
        "--- abab [0, 0, 0] (1, 2, 3) a1b xy 18446744073709551616 1.4142135623730951 0.5 1 -1"
        " 42 3.0 3 [1, 2]"
    )


def test_a_text_of_exactly_the_limit_renders() -> None:
    assert render(f"{{{{ 'x' * {MAX_TEXT} }}}}") == "x" * MAX_TEXT
    assert render(f"{{{{ ('y' * {MAX_TEXT - 1}) ~ 'y' }}}}") == "y" * MAX_TEXT
    assert render(f"{{{{ ([0] * {MAX_ITEMS})|length }}}}") == str(MAX_ITEMS)
    assert render("{{ (2 ** 4095)|string|length }}") == "1233"
