"""`make demo` end to end: one XR through gRPC, the emulated fleet and the reconciler to Ready."""

import pytest

from function.demo.run import demo


async def test_the_example_xr_becomes_ready_and_a_resync_writes_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    await demo()
    out = capsys.readouterr().out
    lines = out.splitlines()
    ready = [line for line in lines if "AIInferenceCluster team-a/llama-eu: Ready" in line]
    assert ready and ready[0].endswith("Cluster team-a/llama-eu is available; 9/9 add-ons ready")
    healthy = [line.split()[3] for line in lines if line.rstrip().endswith(" Healthy")]
    assert healthy.index("nfd") < healthy.index("gpu-operator") < healthy.index("model-llama-3-70b")
    assert "node llama-eu-gpu-0: 8 GPUs NVIDIA-H100-80GB-HBM3" in out
    assert "A second full resync wrote 0 objects" in out
    assert "kubectl apply -f examples/placement/demo-llama-70b-fp8.yaml  # placed by" in out
    placed = "placed 2 of 2 replicas on team-a/llama-eu (2 x 2 H100-80GB)"
    assert f"AIModelDeployment team-a/llama-70b-fp8: Serving - {placed}" in out
    assert f"team-a/llama-70b-fp8: Serving: {placed}" in out
    assert (
        "team-a/llama-eu: 2 replica(s) x 2 H100-80GB = 4 GPUs [llama-eu-gpu-0=2] serving at "
        "http://model-llama-3-70b-fp8-llama-3-70b-fp8-engine-service.vllm.svc:80/v1" in out
    )
    assert "team-a/edge-l4   needs 4 L4 GPUs on one node, largest node has 1" in out
    assert "team-a/us-a100   region us-east-1 not allowed" in out
    assert "AITrainingCluster team-research/finetune-70b: Cluster class gpu-cluster" in out
    assert "1043.1 GiB sharded over 32 GPUs (39.1 GiB each; at least 18)" in out
    assert "EdgeAICluster retail/store-0412: Cluster class edge-k3s, version v1.33.0+k3s1" in out
    assert "EdgeAICluster manufacturing/factory-lyon: Cluster class edge-k0s" in out
    crossplane = next(line for line in lines if "delivery: crossplane, without" in line)
    assert "Release(helm) llama-eu-nfd" in crossplane
    assert "Release(helm) llama-eu-gpu-operator" not in crossplane  # waits for nfd
    assert "delivery: sveltos: refused as is" in out
    section = out[out.index("Event-driven add-ons") : out.index("Every XR kind")]
    events = section.strip().splitlines()
    high = events.index("monitoring/gpu-utilization on llama-eu: utilization=87%")
    low = events.index("monitoring/gpu-utilization on llama-eu: utilization=45%")
    assert any(line.endswith("bundle     scale-up-llama-eu") for line in events[high:low])
    assert any(line.endswith("deployment 1 available") for line in events[high:low])
    assert "triggered by GPU utilisation 87%" in events[low - 1]
    assert events[-1].endswith("deployment absent")
