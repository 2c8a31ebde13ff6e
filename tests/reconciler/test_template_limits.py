"""Template limits: a tenant's template cannot build strings, lists, numbers or texts big
enough to exhaust the shared reconciler; each limit fails as a `RenderError` at its line."""

from __future__ import annotations

import threading

import pytest

from function.errors import RenderError, SourceLocation
from function.reconciler.templates import (
    MAX_ITEMS,
    MAX_NUMBER_BITS,
    MAX_TEXT,
    RENDER_CPU_SECONDS,
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


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("'x'|center(1000000000)", "center would make a text of about 1,000,000,000 characters"),
        ("'x'.center(1000000000)", "str.center would make a text of about 1,000,000,000"),
        ("'x'.zfill(1000000000)", "str.zfill would make a text of about 1,000,000,000"),
        ("('x\\n' * 2000000)|indent(1000)", "indent would make a text of about 2,004,001,000"),
        (
            "('x\\n' * 2000000)|indent('y' * 1000)",
            "indent would make a text of about 2,004,001,000",
        ),
        ("('x\\n' * 2000000)|nindent(1000)", "nindent would make a text of about 2,004,001,000"),
        ("'%1000000000d'|format(1)", "'%' would make a text of about 1,000,000,018"),
        ("'%1000000000d' % 1", "'%' would make a text of about 1,000,000,014"),
        ("'%.1000000000f' % 1.5", "'%' would make a text of about 1,000,000,037"),
        ("'%*d' % (1000000000, 1)", "'%' widths taken from arguments ('*') are not allowed"),
        ("'{:1000000000}'.format(1)", "str.format would make a text of about 1,000,000,021"),
        ("'{:{w}}'.format(1, w=9)", "format specs taken from arguments are not allowed"),
        (
            "('x' * 4000000)|wordwrap(1, wrapstring='y' * 1000)",
            "wordwrap would make a text of about 4,004,001,000",
        ),
        ("[1]|batch(1000000000, 'x')|list", "batch would make a text of about 1,000,000,000"),
        ("[1]|slice(1000000000)|list", "slice would make a text of about 1,000,000,000"),
        ("lipsum(1000000000)", "lipsum(1000000000, max=100) would make over 10,000 words"),
        ("('x' * 4000000)|replace('x', 'yy')", "replace would make a text of about 8,000,000"),
        ("('x' * 4000000).replace('x', 'yy')", "str.replace would make a text of about 8,000,000"),
        (
            "('\\t' * 4000000).expandtabs(100)",
            "str.expandtabs would make a text of about 404,000,000",
        ),
        ("(['x' * 4000000] * 1000)|length", "'*' would make a string of 4,000,006,000 characters"),
        ("('w.io ' * 600000)|urlize", "urlize would make a text of about 24,000,000"),
        ("('<' * 4000000)|e", "escape would make a text of about 24,000,000"),
        ("('x' * 4000000)|list|length", "list would make a list of about 4,000,000 items"),
        ("('x ' * 2000000).split()|length", "str.split would make a list of about 2,000,000"),
        ("('x' * 4000000).translate({120: 'y' * 1000})", "str.translate would make a text"),
    ],
)
def test_one_operation_that_would_build_too_long_a_text_is_refused(
    expression: str, reason: str
) -> None:
    error = render_error(f"kind: ConfigMap\ndata:\n  n: '{{{{ {expression} }}}}'\n")
    assert error.location == SourceLocation("tenant-addon", "manifests", 3)
    assert error.reason.startswith(f"template limit: {reason}")


@pytest.mark.parametrize(
    ("use", "reason"),
    [
        ("s|join", "join would make a text of about 8,000,012"),
        ("','.join(s)", "str.join would make a text of about 8,000,015"),
        ("s|tojson", "tojson would make a text of about 8,000,012"),
        ("s|toYaml", "toYaml would make a text of about 16,000,024"),
        ("s|string", "string would make a text of about 8,000,012"),
        ("s", "printing a value would make a text of about 8,000,012"),
    ],
)
def test_shared_references_count_as_often_as_they_are_printed(use: str, reason: str) -> None:
    error = render_error(
        f"a: 1\n{{% set x = 'x' * 4000000 %}}{{% set s = [x, x, x] %}}\nb: {{{{ {use} }}}}\n"
    )
    assert error.location.line == 3
    assert error.reason.startswith(f"template limit: {reason}")


def test_ordinary_uses_of_the_bounded_operations_render() -> None:
    assert (
        render(
            "{{ 'x'|center(5) }}|{{ 'ab\\ncd'|indent(2) }}|{{ '%03d' % 7 }}"
            "|{{ '%s-%s'|format(1, 2) }}"
            "|{{ '{:>4}'.format(1) }}|{{ [1, 2]|join(',') }}|{{ ','.join(['a', 'b']) }}"
            "|{{ 'a b'|replace(' ', '-') }}|{{ [1, 2, 3]|batch(2)|list }}|{{ [1]|sum }}"
            "|{{ {'a': [1]}|tojson }}|{% for i in range(5) if i is odd %}{{ i }}{% endfor %}"
        )
        == '  x  |ab\n  cd|007|1-2|   1|1,2|a,b|a-b|[[1, 2], [3]]|1|{"a": [1]}|13'
    )


RUNAWAYS = {
    "nested loops": (
        "a: 1\n{% for i in range(100000) %}{% for j in range(100000) %}\n{% endfor %}{% endfor %}\n"
    ),
    "a loop filter": (
        "a: 1\n{% for i in range(100000) %}{% for j in range(100000) if false %}\n"
        "{% endfor %}{% endfor %}\n"
    ),
    "macro calls": (
        "a: 1\n{% macro f(n) %}{% for i in range(n) %}{{ f(0) }}{% endfor %}{% endmacro %}\n"
        "{% for i in range(100000) %}{{ f(100000) }}{% endfor %}\n"
    ),
}


@pytest.mark.parametrize("source", RUNAWAYS.values(), ids=RUNAWAYS.keys())
def test_a_render_over_its_cpu_time_fails_at_its_line(source: str) -> None:
    error = render_error(source)
    assert error.location.line in (2, 3)
    assert error.reason == (
        f"template limit: the render used more than {RENDER_CPU_SECONDS:g} s of CPU time, its limit"
    )


def test_a_runaway_render_fails_on_its_own_thread_while_other_renders_go_on() -> None:
    errors: list[RenderError] = []

    def runaway() -> None:
        try:
            render(RUNAWAYS["nested loops"])
        except RenderError as err:
            errors.append(err)

    thread = threading.Thread(target=runaway)
    thread.start()
    try:
        healthy = [render(f"n: {{{{ {i} * 2 }}}}\n") for i in range(50)]
        still_running = thread.is_alive()
    finally:
        thread.join()
    assert healthy[49] == "n: 98\n"
    assert still_running  # the healthy renders did not wait for the runaway one
    assert [e.location.line for e in errors] == [2]
    assert "CPU time" in errors[0].reason
