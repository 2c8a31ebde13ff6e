"""A catalogue of hostile templates: escapes from the Jinja2 sandbox and resource bombs.

Each template is stopped with a clear error at its line — in the add-on's status through the
reconciler, and directly — while a healthy bundle on the same cluster is reconciled and a
healthy template renders at the same time. The time each template ran before it was stopped
is printed at the end (``pytest -s``); it is reported, not asserted.
"""

from pathlib import Path

from function.errors import SourceLocation
from function.reconciler.templates import TemplateContext, render_template
from tests.reconciler.harness import capi_cluster, running
from tests.reconciler.hostile import Attempt, Report, stop_beside_healthy_work

UNSAFE = "not allowed in templates: access to attribute"
LIMIT = "template limit: "

TEMPLATES: list[tuple[str, str, str]] = [
    # escapes
    ("__class__.__mro__", "{{ cluster.__class__.__mro__ }}", f"{UNSAFE} '__class__' of 'dict'"),
    (
        "str subclasses",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        f"{UNSAFE} '__class__' of 'str'",
    ),
    ("cycler globals", "{{ cycler.__init__.__globals__.os }}", f"{UNSAFE} '__init__'"),
    ("joiner globals", "{{ joiner.__init__.__globals__ }}", f"{UNSAFE} '__init__'"),
    ("joiner call", "{{ joiner().__call__.__globals__ }}", f"{UNSAFE} '__call__' of 'Joiner'"),
    ("namespace globals", "{{ namespace.__init__.__globals__ }}", f"{UNSAFE} '__init__'"),
    ("namespace class", "{{ namespace(a=1).__class__ }}", f"{UNSAFE} '__class__' of 'Namespace'"),
    (
        "lipsum.__globals__",
        "{{ lipsum.__globals__['os'].popen('id').read() }}",
        f"{UNSAFE} '__globals__' of 'function'",
    ),
    ("attr('__class__')", "{{ cluster|attr('__class__') }}", f"{UNSAFE} '__class__' of 'dict'"),
    (
        "attr with escaped name",
        "{{ ''|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
        f"{UNSAFE} '__class__' of 'str'",
    ),
    (
        "str.format attribute walk",
        "{{ '{0.__class__.__mro__}'.format(cluster) }}",
        f"{UNSAFE} '__class__' of 'dict'",
    ),
    (
        "template reference internals",
        "{{ self._TemplateReference__context }}",
        f"{UNSAFE} '_TemplateReference__context'",
    ),
    ("mutating the context", "{% set x = cluster.update({'a': 1}) %}", f"{UNSAFE} 'update'"),
    ("Flask-style config", "{{ config.items() }}", "undefined value: 'config' is undefined"),
    # bombs
    ("huge range", "{{ range(10**9)|length }}", "Range too big"),
    ("'a' * 10**9", "{{ 'a' * 10**9 }}", f"{LIMIT}'*' would make a string of 1,000,000,000"),
    ("huge power", "{{ 10 ** 10000000 }}", f"{LIMIT}'**' would make a number"),
    (
        "format width",
        "{{ '%1000000000d'|format(1) }}",
        f"{LIMIT}'%' would make a text of about 1,000,000,018",
    ),
    ("str.format width", "{{ '{:1000000000}'.format(1) }}", f"{LIMIT}str.format would make"),
    ("wide center", "{{ 'x'|center(10**9) }}", f"{LIMIT}center would make a text of about"),
    ("wide indent", "{{ ('x\\n' * 10**6)|indent(10**4) }}", f"{LIMIT}indent would make"),
    ("lipsum bomb", "{{ lipsum(10**9) }}", f"{LIMIT}lipsum(1000000000, max=100)"),
    (
        "joining shared references",
        "{% set s = 'x' * 4000000 %}{{ [s, s, s]|join }}",
        f"{LIMIT}join would make",
    ),
    (
        "macro recursion",
        "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        "RecursionError: maximum recursion depth exceeded",
    ),
    (
        "doubling in a macro",
        "{% macro grow(s) %}{{ grow(s ~ s) }}{% endmacro %}{{ grow('x') }}",
        f"{LIMIT}'~' would make a string",
    ),
    (
        "long loops",
        "{% for i in range(10**5) %}{% for j in range(10**5) %}{% endfor %}{% endfor %}",
        f"{LIMIT}the render used more than 1 s of CPU time",
    ),
    (
        "long loop filter",
        "{% for i in range(10**5) %}{% for j in range(10**5) if j < 0 %}{% endfor %}{% endfor %}",
        f"{LIMIT}the render used more than 1 s of CPU time",
    ),
]

CONTEXT = TemplateContext(cluster={"metadata": {"name": "c1", "namespace": "team-a"}})


def attempt(index: int, name: str, source: str, expected: str) -> Attempt:
    manifests = (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: evil-{index}}}\n"
        f"data:\n  x: |\n    {source}\n"
    )
    addon = {"name": f"evil-{index}", "namespace": "apps", "manifests": manifests}
    here = SourceLocation(f"evil-{index}", "manifests")
    return Attempt(
        name, addon, (expected,), lambda: render_template(manifests, CONTEXT, here) and None
    )


def test_the_catalogue_holds_fifteen_attempts_and_more() -> None:
    assert len(TEMPLATES) >= 15
    assert len({name for name, _, _ in TEMPLATES}) == len(TEMPLATES)


async def test_every_hostile_template_is_stopped_at_its_line_while_healthy_work_goes_on(
    tmp_path: Path,
) -> None:
    report = Report("Jinja2 templates")
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        await h.wait_workload("c1")
        for index, (name, source, expected) in enumerate(TEMPLATES):
            await stop_beside_healthy_work(h, index, attempt(index, name, source, expected), report)
            assert "manifests:6: " in report.rows[-1][2], report.rows[-1]
    report.print()
    assert len(report.rows) == len(TEMPLATES)
