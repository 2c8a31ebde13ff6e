"""The one seam to the Kubernetes API: a small client protocol, its real adapter, error mapping."""
