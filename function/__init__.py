"""function-aifleet: GPU clusters and their AI add-ons from one small Crossplane resource.

Two halves share this package. The composition function (`fn`, `compose`, `catalog`) turns an
`AIInferenceCluster` into a cluster and an `AddonBundle`; the companion reconciler
(`reconciler`, `kube`, `lua`) applies that bundle to the workload cluster once it is ready.
`model` holds the shapes both halves agree on; `testing` holds the Kubernetes API emulator.
"""
