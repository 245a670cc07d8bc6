"""The diagram backend: neural circuit diagrams drawn by Graphviz from the IR.

The paper's visual grammar, as drawn here (reading left to right, inputs on
the left, outputs on the right):

* **Wires are axes.** Every axis has its own colour (a fixed palette in
  axis-table order; see the legend, which lists each axis's name and size).
  A tensor ``[seq, model]`` between two boxes is a bundle of parallel wires,
  one per axis, drawn as one multi-colour Graphviz edge (``color="c1:c2"``).
* **Boxes act on the wires they name; the rest pass by.** The wires a box
  acts on (``linear``'s in/out axes, ``softmax``'s axis, ``contract``'s
  summed axes) are solid and enter the box from the left; broadcast wires
  are faint and dashed and touch the box only at its top edge, as the paper
  draws a broadcast wire running over the box. Elementwise ops act on every
  wire.
* **Learned boxes are bold** and list their parameter shapes; contractions
  read ``Σ head`` with the joined wires in their colours.
* **Circuits are nested clusters** titled with the circuit name and the
  instance path. A ``repeat`` is folded to one cluster marked ×N showing
  iteration 0; ``depth`` collapses deeper circuits into double-bordered
  boxes; ``expand`` opens chosen instance paths (a repeat's path unfolds it).
* **Each op is drawn by its glyph**: the op registry names a glyph kind per
  op (``ncdl.ir.ops.GLYPHS``) and :data:`GLYPH_DRAWINGS` says how to draw
  each kind; which wires a box acts on is the op's ``acts_on`` rule.
* **Errors**: in a graph cut short by a type error, the offending wire is
  red and labelled with the two types, and a red note holds the message.
"""

from ncdl.compiler.diagram.fold import auto_depth
from ncdl.compiler.diagram.labels import GLYPH_DRAWINGS
from ncdl.compiler.diagram.render import PageWarning, render
from ncdl.compiler.diagram.write import write_diagram

__all__ = ["GLYPH_DRAWINGS", "PageWarning", "auto_depth", "render", "write_diagram"]
