"""Registries of methods, targets and metrics, and the three plugin routes.

Built-ins register with decorators (``@register_method("mala")``). External packages
declare entry points in the groups ``boltzbench.methods``, ``boltzbench.targets`` and
``boltzbench.metrics``: the entry point may name a module (importing it registers what it
defines) or an object (registered under the entry point's name). For a quick experiment,
:func:`load_plugin` imports a ``.py`` file or an importable module that registers itself.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


class UnknownNameError(KeyError):
    """An unknown method, target or metric name; the message lists the known names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class PluginError(RuntimeError):
    """A plugin could not be imported or registered something twice."""


class Registry:
    """Name → object mapping for one kind of component, with entry-point discovery."""

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group
        self._items: dict[str, Any] = {}
        self._entry_points_loaded = False

    def register(self, name: str, obj: Any = None) -> Any:
        """Register ``obj`` under ``name``; usable as a decorator when ``obj`` is None."""
        if not name or not isinstance(name, str) or "," in name or name.strip() != name:
            raise ValueError(f"invalid {self.kind} name {name!r}")

        def decorator(o: Any) -> Any:
            existing = self._items.get(name)
            if existing is not None and _origin(existing) != _origin(o):
                raise PluginError(
                    f"{self.kind} {name!r} is already registered by {_origin(existing)}; "
                    f"{_origin(o)} cannot register it again"
                )
            self._items[name] = o
            return o

        return decorator if obj is None else decorator(obj)

    def _ensure_loaded(self) -> None:
        _load_builtins()
        if not self._entry_points_loaded:
            self._entry_points_loaded = True
            for ep in importlib.metadata.entry_points(group=self.group):
                try:
                    loaded = ep.load()
                except Exception as exc:  # a broken plugin must not hide the others
                    raise PluginError(
                        f"entry point {ep.name!r} in group {self.group} ({ep.value}) failed to "
                        f"load: {type(exc).__name__}: {exc}"
                    ) from exc
                if not inspect.ismodule(loaded) and ep.name not in self._items:
                    self.register(ep.name, loaded)

    def get(self, name: str) -> Any:
        """The object registered as ``name``; :class:`UnknownNameError` lists the known ones.
        Targets cannot be looked up while a method runs (:mod:`boltzbench.guard`)."""
        if self.kind == "target":
            from boltzbench.guard import check

            check(f"looking up target {name!r} in the registry")
        self._ensure_loaded()
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise UnknownNameError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def names(self) -> list[str]:
        """All registered names, sorted."""
        self._ensure_loaded()
        return sorted(self._items)


def _origin(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or "?"
    qualname = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return f"{module}.{qualname}"


METHODS = Registry("method", "boltzbench.methods")
TARGETS = Registry("target", "boltzbench.targets")
METRICS = Registry("metric", "boltzbench.metrics")


def register_method(name: str) -> Callable[[type], type]:
    """Class decorator: register a method class (see :mod:`boltzbench.protocols`)."""
    return METHODS.register(name)


def is_amortized(registry_name: str) -> bool:
    """Whether the registered method declares ``amortized = True`` (a trained sampler whose
    samples cost a fixed, small number of evaluations each); False for unknown names."""
    try:
        return bool(getattr(METHODS.get(registry_name), "amortized", False))
    except UnknownNameError:
        return False


def register_target(name: str) -> Callable[[Any], Any]:
    """Decorator: register a target class or zero-argument factory."""
    return TARGETS.register(name)


def register_metric(
    name: str,
    *,
    version: str,
    lower_is_better: bool = True,
    estimator: Callable[[int, int, Any], str] | None = None,
    accelerated: bool = False,
    source: str = "samples",
) -> Callable[[Callable], Callable]:
    """Decorator: register ``metric(samples, reference, target) -> float | None`` (None:
    the metric does not apply to this target), or, with ``source="diagnostics"``,
    ``metric(diagnostics, target) -> float | None`` computed from what a method reports
    about itself (its importance weights, say) rather than from its samples.

    A metric's direction lives here and nowhere else: ``lower_is_better`` is what the
    tables, ranks and comparisons read (:func:`boltzbench.report.tables.lower_is_better`).

    Args:
        name: the column name in ``runs.csv``.
        version: bumped whenever the metric's numbers can change; goes into every row.
        lower_is_better: the direction used for ranking.
        estimator: for a metric that switches to an approximation on large inputs,
            ``estimator(n_samples, n_reference, target) -> str`` names what was computed;
            it goes into the row as ``<name>_estimator``.
        accelerated: the metric runs on the tensors' device, so under ``--device cuda``
            it gets samples and reference on the GPU (others always get CPU tensors).
        source: ``"samples"`` or ``"diagnostics"`` (see above).
    """
    if source not in ("samples", "diagnostics"):
        raise ValueError(f"metric source must be 'samples' or 'diagnostics', got {source!r}")

    def decorator(fn: Callable) -> Callable:
        fn.source = source
        fn.metric_name = name
        fn.version = version
        fn.lower_is_better = lower_is_better
        fn.estimator = estimator
        fn.accelerated = accelerated
        return METRICS.register(name, fn)

    return decorator


_BUILTINS_LOADED = False


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    for module in (
        "boltzbench.targets",
        "boltzbench.metrics",
        "boltzbench.baselines",
        "boltzbench.methods",
    ):
        importlib.import_module(module)


def load_plugin(spec: str) -> str:
    """Import a plugin given as a path to a ``.py`` file or as a module name.

    Returns the module name it was imported as. Raises :class:`PluginError` with a
    one-line reason when the file is missing, does not import, or registers a name twice.
    """
    _load_builtins()
    path = Path(spec)
    if spec.endswith(".py") or path.is_file():
        if not path.is_file():
            raise PluginError(f"plugin file {spec!r} does not exist")
        path = path.resolve()
        digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
        module_name = f"boltzbench_plugin_{path.stem}_{digest}"
        if module_name in sys.modules:
            return module_name
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        if module_spec is None or module_spec.loader is None:
            raise PluginError(f"cannot import plugin file {spec!r}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        try:
            module_spec.loader.exec_module(module)
        except PluginError:
            del sys.modules[module_name]
            raise
        except BaseException as exc:
            del sys.modules[module_name]
            raise PluginError(_describe_import_error(spec, exc)) from exc
        return module_name
    try:
        importlib.import_module(spec)
    except PluginError:
        raise
    except ModuleNotFoundError as exc:
        if exc.name and spec.startswith(exc.name):
            raise PluginError(
                f"plugin {spec!r} is neither a .py file nor an importable module"
            ) from exc
        raise PluginError(_describe_import_error(spec, exc)) from exc
    except BaseException as exc:
        raise PluginError(_describe_import_error(spec, exc)) from exc
    return spec


def _describe_import_error(spec: str, exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"plugin {spec!r} has a syntax error at line {exc.lineno}: {exc.msg}"
    return f"plugin {spec!r} failed to import: {type(exc).__name__}: {exc}"
