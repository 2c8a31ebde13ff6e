"""The shapes both halves agree on: typed specs parsed from user objects with field-path errors.

`common` holds the parsing machinery, `bundle` the AddonBundle contract between the function
(which emits bundles) and the reconciler (which applies them), `capi` the one reading of a
Cluster API `Cluster`'s status both halves gate on. `objects` is the object vocabulary every
layer speaks (a Kubernetes object as a dict, its metadata, YAML into objects) and `health` the
health verdicts of built-in checks and Lua rules alike: the floor the Kubernetes seam, the
reconciler and Lua all stand on.
"""
