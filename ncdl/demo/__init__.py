"""The demo, outside the library core: ``ncdl demo`` and the character-level training it runs.

* :mod:`ncdl.demo.run`: ``ncdl demo``, the whole pipeline on one bundled architecture;
* :mod:`ncdl.demo.charlm`: encode, train (with a ``tqdm`` progress bar), evaluate and sample a character model;
* :mod:`ncdl.demo.data`: the shipped training text and the script that writes it.

Nothing in ``ncdl``'s pipeline (``ncdl.dsl``, ``ncdl.ir``, ``ncdl.compiler``, ``ncdl.runtime``) imports this package.
"""

from ncdl.demo.run import DEFAULTS, run_demo, settle_threads

__all__ = ["DEFAULTS", "run_demo", "settle_threads"]
