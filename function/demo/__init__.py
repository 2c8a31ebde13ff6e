"""``make demo``: the function and the reconciler end to end on emulated clusters.

`run` drives the live run (``python -m function.demo``), `events` the event-driven add-ons
scenario, `kinds` every XR kind and delivery mode rendered by the function.
"""
