"""The cost report: FLOPs equal torch's flop counter on the compiled module; sizes stay symbolic."""

from __future__ import annotations

import json
import math

import pytest
import torch
from arch_inputs import LARGE
from torch.utils.flop_counter import FlopCounterMode

import ncdl
from ncdl import architectures
from ncdl.cli import main
from ncdl.compiler.stats import format_stats, stats

SMALL = [(a, m) for a in architectures.list_architectures() for m in architectures.load(a).models if m not in LARGE]


def _sdpa_cpu_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """torch counts SDPA only for its GPU kernels; the CPU kernel costs the same two matmuls."""
    rows = math.prod(query_shape[:-1])
    return 2 * rows * key_shape[-2] * query_shape[-1] + 2 * rows * key_shape[-2] * value_shape[-1]


def _root_sizes(g) -> dict[str, int]:
    axes = g.graph["axes"]
    return {root: min(2 if root == "batch" else 7, axes[root].bound or 7) for root in g.graph["bindings"]}


def _inputs(g, roots: dict[str, int]) -> list[torch.Tensor]:
    axes = g.graph["axes"]
    out = []
    for node in g.graph["inputs"]:
        data = g.nodes[node]
        shape = [axes[a].size.evaluate(roots) for a in data["axes"]]
        if data["dtype"] == "int64":
            out.append(torch.randint(0, axes[data["attrs"]["of"]].fixed, shape))
        elif data["dtype"] == "bool":
            out.append(torch.ones(shape, dtype=torch.bool))
        else:
            out.append(torch.randn(shape))
    return out


@pytest.mark.parametrize(("arch", "model"), SMALL, ids=[f"{a}-{m}" for a, m in SMALL])
def test_flops_equal_torch_flop_counter(arch: str, model: str) -> None:
    program = architectures.load(arch)
    g = program.graph(model)
    roots = _root_sizes(g)
    module = program.to_torch(model, "flat").eval()  # a routed moe runs routed only in the flat form
    counter = FlopCounterMode(
        display=False, custom_mapping={torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_cpu_flops}
    )
    with counter, torch.no_grad():
        module(*_inputs(g, roots))
    assert stats(g, roots)["flops"] == counter.get_total_flops()


def test_params_match_the_module() -> None:
    program = architectures.load("resnet")
    result = stats(program.graph("ResNet18"), {"batch": 1})
    assert result["params"] == 11_689_512
    assert result["params"] == sum(p.numel() for p in program.to_torch("ResNet18").parameters())


def test_sizes_stay_symbolic_until_given() -> None:
    g = architectures.load("gpt").graph("GPT")
    free = stats(g, {})
    assert free["free_axes"] == ["batch", "seq"]
    assert free["flops"] == "1589504*batch*seq + 2048*batch*seq^2"
    half = stats(g, {"batch": 3})
    assert half["free_axes"] == ["seq"]
    assert half["flops"] == "4768512*seq + 6144*seq^2"
    full = stats(g, {"batch": 3, "seq": 5})
    assert full["free_axes"] == []
    assert full["flops"] == 3 * 5 * 1589504 + 2048 * 3 * 25


def test_a_contraction_costs_twice_the_product_of_its_wires() -> None:
    program = ncdl.loads(
        "axis b, i = 3, j = 4, k = 5\nmodel M(x: [b, i, k], y: [b, k, j]) -> [b, i, j] { return contract[k](x, y) }"
    )
    result = stats(program.graph(), {"b": 2})
    assert result["flops"] == 2 * 2 * 3 * 4 * 5
    assert result["activation_bytes"] == 4 * 2 * 3 * 4


def test_activation_bytes_skip_inputs_renames_and_params() -> None:
    program = ncdl.loads(
        "axis n = 4, m = 4\nmodel M(x: [n]) -> [m] { return rename[n -> m](relu(x)) + param[m](init=zeros) }"
    )
    result = stats(program.graph(), {})
    assert result["activation_bytes"] == 4 * 4 + 4 * 4  # relu, add
    assert [b["op"] for b in result["boxes"]] == ["relu", "rename", "param", "add"]


def test_circuit_instances_sum_their_boxes() -> None:
    result = stats(architectures.load("gpt").graph("GPT"), {"batch": 1, "seq": 8})
    rows = {r["path"]: r for r in result["circuits"]}
    assert rows["transformer.h.0"]["circuit"] == "DecoderBlock"
    assert rows["transformer.h"]["kind"] == "repeat"
    inside = [b for b in result["boxes"] if b["scope"].startswith("transformer.h.0.")]
    assert rows["transformer.h.0"]["flops"] == sum(b["flops"] for b in inside)
    assert rows["transformer.h"]["flops"] == 4 * rows["transformer.h.0"]["flops"]
    assert rows["transformer.h.0"]["params"] + rows["transformer.h.1"]["params"] == 2 * 198_272


def test_unknown_and_derived_axes_are_refused() -> None:
    g = architectures.load("gpt").graph("GPT")
    with pytest.raises(ValueError, match="axis 'sequence' is not in model GPT; free axes: batch, seq"):
        stats(g, {"sequence": 4})
    with pytest.raises(ValueError, match="axis 'key' is not a free axis \\(its size is seq; give 'seq'\\)"):
        stats(g, {"key": 4})
    with pytest.raises(ValueError, match="axis 'seq' = 500 is out of range \\(bound 128\\)"):
        stats(g, {"seq": 500})


def test_format_stats_text() -> None:
    text = format_stats(stats(architectures.load("mlp").graph("MLP"), {}))
    lines = text.splitlines()
    assert lines[:5] == [
        "model MLP",
        "free axes          batch (give sizes with --axis NAME=SIZE)",
        "parameters         669,706 (2.55 MiB as float32)",
        "forward FLOPs      1337344*batch",
        "activation memory  11408*batch B",
    ]
    assert "  n2    linear   fc1    [batch, 512]  401,920  802816*batch  2048*batch B" in lines


def test_cli_stats(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(architectures.path("gpt"))
    assert main(["stats", path, "--model", "GPT", "--axis", "batch=2", "--axis", "seq=7"]) == 0
    out = capsys.readouterr().out
    assert "forward FLOPs      22.45M (22,453,760)" in out
    assert "transformer.h.0.attn.causal_attention  CausalAttention" in out
    assert main(["stats", path, "--model", "GPT", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["flops"] == "1589504*batch*seq + 2048*batch*seq^2"


def test_cli_stats_bad_axis(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", str(architectures.path("gpt")), "--model", "GPT", "--axis", "key=3"]) == 1
    assert "axis 'key' is not a free axis" in capsys.readouterr().err
