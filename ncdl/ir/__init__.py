"""The IR: the one contract between the front end and every backend.

* :mod:`ncdl.ir.graph`: the graph (a ``networkx.MultiDiGraph``), its node and
  edge attributes, :func:`verify` and the JSON form;
* :mod:`ncdl.ir.ops`: the op registry, one entry per op;
* :mod:`ncdl.ir.sizes`: symbolic axis sizes in a normal form;
* :mod:`ncdl.ir.ranges`: the values an integer wire can hold, proved from its arithmetic.
"""

from ncdl.ir.graph import (
    Axis,
    IRError,
    add_node,
    all_buffers,
    all_params,
    dumps,
    from_json,
    integer_range,
    new_graph,
    node_inputs,
    param_count,
    to_json,
    topological,
    verify,
)
from ncdl.ir.ops import ELEMENTWISE, LEARNED, OPS, OpDef

__all__ = [
    "ELEMENTWISE",
    "LEARNED",
    "OPS",
    "Axis",
    "IRError",
    "OpDef",
    "add_node",
    "all_buffers",
    "all_params",
    "dumps",
    "from_json",
    "integer_range",
    "new_graph",
    "node_inputs",
    "param_count",
    "to_json",
    "topological",
    "verify",
]
