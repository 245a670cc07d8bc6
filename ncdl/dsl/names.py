"""Names that the backends turn into Python: checked so that every checked
model compiles.

Instance paths become attribute paths on a ``torch.nn.Module``
(``blocks.0.attn.q.weight``) and model inputs become the arguments of its
``forward``. A Python keyword (``class``, ``else``), a name the module class
already uses (``training``, ``forward``, ``state_dict``), or an input called
``self``, ``torch`` (the generated code's own names) or ``output`` (the ONNX
graph's result) cannot, so each is a diagnostic (E148) rather than a crash in
a backend.
"""

from __future__ import annotations

import keyword

import networkx as nx

from ncdl.dsl.diagnostics import Diagnostic, Span

#: Attributes of ``torch.fx.GraphModule`` (and so of ``torch.nn.Module``) besides dunders, as of
#: torch 2.13; ``tests/robustness/test_regressions.py`` keeps it in step with torch.
MODULE_ATTRIBUTES = frozenset(
    """
    T_destination _apply _backward_hooks _backward_pre_hooks _boxed_call _buffers _call_impl _code
    _compiled_call_impl _create_node_hooks _deepcopy_hooks _deepcopy_init _erase_node_hooks _forward_hooks
    _forward_hooks_always_called _forward_hooks_with_kwargs _forward_pre_hooks _forward_pre_hooks_with_kwargs
    _get_backward_hooks _get_backward_pre_hooks _get_name _graph _is_full_backward_hook _lineno_map
    _load_from_state_dict _load_state_dict_post_hooks _load_state_dict_pre_hooks
    _maybe_warn_non_full_backward_hook _modules _named_members _non_persistent_buffers_set _parameters
    _prologue_start _recompile_submodules _register_create_node_hook _register_deepcopy_hook
    _register_erase_node_hook _register_load_state_dict_pre_hook _register_replace_node_hook
    _register_state_dict_hook _replace_hooks _replicate_for_data_parallel _save_to_state_dict _set_replace_hook
    _slow_forward _state_dict_hooks _state_dict_pre_hooks _tracer_cls _tracer_extras _unregister_create_node_hook
    _unregister_deepcopy_hook _unregister_erase_node_hook _unregister_replace_node_hook _version _wrapped_call
    _wrapped_call_impl add_module add_submodule apply bfloat16 buffers call_super_init children code compile cpu
    cuda delete_all_unused_submodules delete_submodule double dump_patches eval extra_repr float forward
    get_buffer get_extra_state get_parameter get_submodule graph half ipu load_state_dict meta modules mtia
    named_buffers named_children named_modules named_parameters parameters print_readable recompile
    register_backward_hook register_buffer register_forward_hook register_forward_pre_hook
    register_full_backward_hook register_full_backward_pre_hook register_load_state_dict_post_hook
    register_load_state_dict_pre_hook register_module register_parameter register_state_dict_post_hook
    register_state_dict_pre_hook requires_grad_ set_extra_state set_submodule shape_env share_memory state_dict
    to to_empty to_folder train training type xpu zero_grad
    """.split()
)
#: Input names the generated ``forward`` or the ONNX graph already uses.
INPUT_NAMES = {"self": "the module itself", "torch": "the torch module", "output": "the model's result"}


def check_names(g: nx.MultiDiGraph, sources: dict[str, list[str]]) -> list[Diagnostic]:
    """Diagnostics for parameter paths and input names the backends cannot use."""
    out: list[Diagnostic] = []
    seen: set[str] = set()
    for node in g.graph["inputs"]:
        data = g.nodes[node]
        name = data["attrs"].get("name") or data["name"]
        reason = "it is a Python keyword" if keyword.iskeyword(name) else INPUT_NAMES.get(name)
        if reason is not None:
            why = reason if reason.startswith("it ") else f"it names {reason} in the compiled model"
            out.append(_at(data, sources, f"'{name}' cannot name a model input: {why}", "rename the input"))
    for _node, data in g.nodes(data=True):
        for p in (data.get("params") or []) + (data.get("buffers") or []):
            for part in p["name"].split("."):
                if part in seen or not (keyword.iskeyword(part) or part in MODULE_ATTRIBUTES or part[:2] == "__"):
                    continue
                seen.add(part)
                why = "it is a Python keyword" if keyword.iskeyword(part) else "torch.nn.Module already uses it"
                message = f"'{part}' cannot name an instance (in '{p['name']}'): {why}"
                out.append(_at(data, sources, message, "choose another name, e.g. with `as name`"))
    return out


def _at(data: dict, sources: dict[str, list[str]], message: str, hint: str) -> Diagnostic:
    d = data.get("span") or {}
    span = Span(d["file"], d["line"], d["col"], d["end_line"], d["end_col"]) if d else None
    lines = sources.get(span.file) if span else None
    line = lines[span.line - 1] if lines and 0 < span.line <= len(lines) else None
    return Diagnostic("E148", message, span, hint, line)
