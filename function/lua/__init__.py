"""Sandboxed Lua (real Lua 5.1 through lupa) running Sveltos-compatible rules.

`runtime` is the sandbox every script runs in (``sandbox.lua`` is its trusted side) and
`convert` moves values across; ``checks.lua``, ``strings.lua``, ``helpers.lua`` and `helpers`
provide Sveltos' helpers; `health` turns an add-on's ``health.lua`` into a
`function.model.health.HealthRule` that `function.reconciler.health` applies; `casetest` and
`cli` (``aifleet lua test``) test rules offline in Sveltos' case layout. The package stands on
`function.model` and `function.errors` only.
"""
