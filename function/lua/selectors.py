"""Which objects a Lua rule sees: Sveltos' ``resourceSelectors``, for the Lua side.

The selector models are pure and live in `function.model.selectors` (EventSource embeds them);
this module keeps the names Lua rule code imports. A `function.lua.health.LuaHealthRule` built
with selectors passes its script the matching objects and has no opinion on the rest;
`function.lua.casetest` reads selectors from ``healthcheck.yaml`` files.
"""

from __future__ import annotations

from function.model.selectors import LabelFilter, LabelOperation, ResourceSelector, selected

__all__ = ["LabelFilter", "LabelOperation", "ResourceSelector", "selected"]
