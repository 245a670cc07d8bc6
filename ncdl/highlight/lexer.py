"""A Pygments lexer for ncdl, so ```` ```ncdl ```` blocks are highlighted
wherever Pygments is used (``pygmentize -l ncdl``, Sphinx, MkDocs, Jupyter).

It is registered through the ``pygments.lexers`` entry point in
``pyproject.toml``. Token classes:

==========================  ===================================================
``Comment.Single``          ``# ...``
``String``                  ``"file.ncd"``, option strings
``Keyword.Declaration``     ``use axis circuit model`` at the start of a line
``Keyword``                 ``return repeat in as if else of``
``Keyword.Type``            ``int float bool``
``Keyword.Constant``        ``true false``
``Operator.Word``           ``and or not``
``Name.Class``              the name a ``model`` declares
``Name.Function``           the name a ``circuit`` declares, and circuit calls
``Name.Builtin``            the primitive boxes (``linear``, ``softmax``, ...)
``Name.Variable``           the names an ``axis`` declaration introduces
``Number``                  integers and floats
``Operator``                ``-> <= >= == != ~ + - * / // ** = < >``
``Punctuation``             ``( ) [ ] { } , : ; . ?``
``Name``                    every other name (values, axes in brackets)
==========================  ===================================================

Example::

    $ pygmentize -l ncdl -f terminal ncdl/architectures/gpt.ncd
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, include, words
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

from ncdl.dsl.primitives import PRIMITIVES

#: Keywords by token class (also used by the editor integrations' tests).
DECLARATIONS = ("use", "axis", "circuit", "model")
KEYWORDS = ("return", "repeat", "in", "as", "if", "else", "of")
CONSTANTS = ("true", "false")
WORD_OPERATORS = ("and", "or", "not")
BOXES = tuple(sorted(PRIMITIVES))


class NcdlLexer(RegexLexer):
    """Pygments lexer for ncdl source files (``.ncd``)."""

    name = "ncdl"
    aliases = ["ncdl", "ncd"]
    filenames = ["*.ncd"]
    mimetypes = ["text/x-ncdl"]

    tokens = {
        "root": [
            include("space"),
            # declarations start a line: `model` and `axis` are also common axis names
            (r"^(circuit)(\s+)([A-Za-z_]\w*)", bygroups(Keyword.Declaration, Whitespace, Name.Function)),
            (r"^(model)(\s+)([A-Za-z_]\w*)", bygroups(Keyword.Declaration, Whitespace, Name.Class)),
            (r"^(axis)\b", Keyword.Declaration, "axes"),
            (r"^(use)\b", Keyword.Declaration),
            include("common"),
        ],
        "space": [
            (r"\s+", Whitespace),
            (r"#[^\n]*", Comment.Single),
        ],
        "axes": [  # axis a, b <= 16, c ~ b, d = 4 * c
            (r"\n", Whitespace, "#pop"),
            (r"(?<=axis)(\s+)([A-Za-z_]\w*)", bygroups(Whitespace, Name.Variable)),
            (r"[ \t\r]+", Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r"(,)(\s*)([A-Za-z_]\w*)", bygroups(Punctuation, Whitespace, Name.Variable)),
            (r";", Punctuation, "#pop"),
            include("common"),
        ],
        "common": [
            (r'"[^"\n]*"', String),
            (words(KEYWORDS, suffix=r"\b"), Keyword),
            (r"(int|float|bool)\b", Keyword.Type),
            (words(CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (words(WORD_OPERATORS, suffix=r"\b"), Operator.Word),
            (words(BOXES, prefix=r"\b", suffix=r"\b"), Name.Builtin),
            (r"[A-Za-z_]\w*(?=\s*[\[(])", Name.Function),
            (r"[A-Za-z_]\w*", Name),
            (r"(\d+\.\d*|\.\d+|\d+)[eE][-+]?\d+", Number.Float),
            (r"\d+\.\d*|\.\d+", Number.Float),
            (r"\d+", Number.Integer),
            (r"->|<=|>=|==|!=|//|\*\*|[~+\-*/=<>]", Operator),
            (r"[()\[\]{},:;.?]", Punctuation),
        ],
    }
