"""The diagram backend: neural circuit diagrams drawn by Graphviz from the IR.

The paper's visual grammar, as drawn here (inputs left, outputs right; the
notation glyph by glyph is in ``docs/diagrams.md``):

* **Wires are axes.** Every visible axis has its own colour (the legend lists
  the visible axes with their sizes) and a label where it enters or changes.
* **Boxes act on the wires they name; the rest pass by.** Thick wires enter
  the box; thin, pale wires pass it by (broadcast). Which wires a box acts
  on is the op's ``acts_on`` rule in the registry.
* **Each op is drawn by its glyph**: the registry names a glyph kind per op
  (``ncdl.ir.ops.GLYPHS``) and :data:`GLYPH_DRAWINGS` says how to draw each
  (bold L^Q, the softmax triangle, the contraction cup, norm circles, the
  convolution trapezoid).
* **Circuits** are clusters; a ``repeat`` folds to one cluster marked ×N; a
  circuit below ``depth`` is a box, and with panels each such circuit is
  drawn once more as its own ``Name(params) =`` panel (:mod:`.panels`).
* **One page**: the default view is the most open one that fits a page
  (:mod:`.view`, measured by :mod:`.page`); long sections wrap into rows,
  each laid out by ``dot`` and stacked (:mod:`.scene`); a recursive
  circuit (the U-Net) is drawn as a U where it fits (:mod:`.ushape`).
* **Labels** on wires and beside glyphs are moved clear of boxes after
  ``dot`` has placed them (:mod:`.xlabels`).
* **Errors**: in a graph cut short by a type error, the offending wire is
  red and labelled with the two types, and a red note holds the message.
* **Analysis**: ``cost=True`` overlays FLOPs and bytes; ``backward=True``
  draws the backward pass (:mod:`.backward`).
"""

from ncdl.compiler.diagram.labels import GLYPH_DRAWINGS
from ncdl.compiler.diagram.render import PageWarning
from ncdl.compiler.diagram.view import render
from ncdl.compiler.diagram.write import write_diagram

__all__ = ["GLYPH_DRAWINGS", "PageWarning", "render", "write_diagram"]
