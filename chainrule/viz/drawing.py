"""A picture made of SVG text: save it, or let Jupyter show it inline."""
import os

__all__ = ["Drawing"]


class Drawing:
    """An SVG picture. ``.svg()`` is the text; ``.save("x.svg")``; Jupyter displays it inline."""

    def svg(self):
        raise NotImplementedError

    def save(self, path, format=None):
        """Write the picture to ``path`` (format from the suffix unless given); returns the path."""
        path = os.fspath(path)
        format = format or _suffix(path) or "svg"
        data = self._render(format)
        mode = "w" if isinstance(data, str) else "wb"
        with open(path, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
            f.write(data)
        return path

    def _render(self, format):
        if format != "svg":
            raise ValueError(f"{type(self).__name__} can be saved as svg, not {format!r}")
        return self.svg()

    # Jupyter calls these to show the object inline.
    def _repr_svg_(self):
        return self.svg()

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"image/svg+xml": self.svg(), "text/plain": repr(self)}


def _suffix(path):
    name = os.path.basename(path)
    return name.rsplit(".", 1)[-1].lower() if "." in name else None
