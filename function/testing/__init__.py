"""The Kubernetes API emulator used by tests, benchmarks and demos."""
