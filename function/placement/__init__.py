"""GPU-aware placement of model deployments over the fleet: pure, deterministic, explained.

`capacity` reads what each cluster offers (Nodes' allocatable GPUs and GFD labels, pods' GPU
requests), `decide` places an `AIModelDeployment` on it, `explain` renders the decision,
`fleetfile` reads the offline fleet of ``aifleet place``, and `cli` is that command over files;
otherwise no I/O: the reconciler (`function.reconciler.capacity`) feeds it live capacity.
"""
