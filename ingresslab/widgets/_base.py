"""What every ingresslab widget shares: a `VBox` whose text form is the model's own summary.

In JupyterLab the widget view shows; anywhere else (a terminal IPython, nbconvert to text, a log) the
`text/plain` part of the mime bundle is all there is — ipywidgets would print a truncated constructor call, so
each widget gives its model's readable summary instead (`_text()`).
"""
from __future__ import annotations

import ipywidgets as w


class TextReprVBox(w.VBox):
    """A VBox whose repr and text/plain output are `_text()`."""

    def _text(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return self._text()

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = self._text()
        return bundle
