"""Syntax highlighting for ncdl: the Pygments lexer (:mod:`ncdl.highlight.lexer`).

The TextMate grammar for editors lives in ``editors/vscode/syntaxes/``.
"""
