"""GPU-aware placement of model deployments over the fleet: pure, deterministic, explained.

`capacity` reads what each cluster offers (Nodes' allocatable GPUs and GFD labels, pods' GPU
requests), `decide` places an `AIModelDeployment` on it, `explain` renders the decision,
`fleetfile` reads the offline fleet of ``aifleet place``. No I/O: the reconciler's placement
controller (`function.reconciler.placement`) feeds it live capacity and acts on the result.
"""
