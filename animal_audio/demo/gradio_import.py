"""Importing gradio ~1 s faster (2 cores): skip the type stubs it rewrites at every import.

Each time gradio is imported, every component class parses its own source file and rewrites its
`.pyi` stub (for editors: `gradio.component_meta.create_or_modify_pyi`); that is about a third of
`import gradio` (2.9-3.1 s -> 1.7-2.0 s measured), and a running app never reads a stub. Call
`skip_stub_writing()` before gradio is imported; if gradio renames the function, only the time changes.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from typing import Any, Optional, Sequence

MODULE = "gradio.component_meta"
FUNCTION = "create_or_modify_pyi"


def skip_stub_writing() -> None:
    """From the next `import gradio` on (in this process), component classes write no stubs."""
    if MODULE not in sys.modules and not any(isinstance(f, _StubSkipper) for f in sys.meta_path):
        sys.meta_path.insert(0, _StubSkipper())


def _no_stub(*args: Any, **kwargs: Any) -> None:
    """Stands in for gradio's stub writer."""


class _StubSkipper(importlib.abc.MetaPathFinder):
    """Finds gradio.component_meta as usual and replaces its stub writer once the module has run."""

    def find_spec(self, name: str, path: Optional[Sequence[str]], target: Any = None) -> Any:
        if name != MODULE:
            return None
        sys.meta_path.remove(self)  # once is enough
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            run(module)
            if callable(getattr(module, FUNCTION, None)):
                setattr(module, FUNCTION, _no_stub)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec
