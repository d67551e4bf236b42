"""The one registry of personalization methods, and how methods get into it.

A method is a folder (a package) whose ``__init__.py`` calls :func:`register_method` once per
name it offers. The call names the method's parts by ``"module:attribute"`` strings, so that
registering costs no import of torch: listing the methods (CLI help, ``personalize methods``,
bench presets) stays cheap, and the parts load when a method is built. For a soft-token method
the target is its :class:`~personalize.methods.soft.kind.SoftMethodKind`, which holds its config,
its module (the adapter), how it reads a user (its feature builder) and where its tokens go.

Where methods come from, in this order (the first access to :data:`METHODS` loads them):

1. every package inside ``personalize/methods/`` (the built-in methods);
2. the Python packages advertised under the entry-point group ``personalize.methods`` (a plugin
   distribution declares ``[project.entry-points."personalize.methods"] toy = "toy_method"``);
3. the modules named in the environment variable ``PERSONALIZE_PLUGINS`` (comma-separated,
   importable from ``sys.path``), read again at every access so that a test or a notebook can
   add one after start-up.

Adding a method is adding one folder (or one plugin module): no shared file lists methods.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from personalize.errors import ConfigError
from personalize.registry import Registry

Family = Literal["text", "reference", "recommender", "soft"]
FAMILIES: tuple[str, ...] = ("text", "reference", "recommender", "soft")
PLUGINS_ENV = "PERSONALIZE_PLUGINS"
ENTRY_POINT_GROUP = "personalize.methods"
# The Method class that serves every soft-token method (their kinds differ, not their class). It
# lives in the evaluation layer, above modeling, and is named here, not imported: the methods
# layer stays below both.
SOFT_METHOD_CLASS = "personalize.evaluation.soft_method:SoftPrefixMethod"
# Shared code that lives beside the method folders but registers no method.
_NOT_METHODS = {"soft"}


@dataclass(frozen=True)
class MethodInfo:
    """One registered method.

    Attributes:
        name: the name ``--method`` takes.
        target: ``"module:attribute"``: a :class:`~personalize.methods.base.Method` subclass, or for
            a soft-token method (``family="soft"``) its ``SoftMethodKind``.
        family: ``text`` (prompt text), ``reference`` (answers without the model),
            ``recommender`` (model-free (user, item) baselines) or ``soft`` (trained soft tokens).
        description: one line, shown by ``personalize methods``.
        fixed: config fields the name pins (``none`` is ``text`` with ``k=0``).
        presets: ``personalize bench`` presets this method offers: preset name -> settings.
    """

    name: str
    target: str
    family: Family
    description: str = ""
    fixed: Mapping[str, Any] = field(default_factory=dict)
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def load(self) -> Any:
        """Import and return the target."""
        return self._import(self.target)

    def method_class(self) -> Any:
        """The :class:`~personalize.methods.base.Method` subclass that serves this method."""
        return self._import(SOFT_METHOD_CLASS if self.soft else self.target)

    def _import(self, target: str) -> Any:
        module, _, attribute = target.partition(":")
        try:
            return getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"method {self.name!r}: cannot load {target} ({exc})") from None

    @property
    def soft(self) -> bool:
        return self.family == "soft"


class _Loaded:
    """Which method sources were imported already (built-ins once, plugins as they appear)."""

    builtins = False
    loading = False
    entry_points: list[tuple[str, str]] = []  # (module, entry point name), read once
    plugins: set[str] = set()


def _load_methods() -> None:
    if _Loaded.loading:  # a method folder that looks the registry up while registering
        return
    _Loaded.loading = True
    try:
        if not _Loaded.builtins:
            _Loaded.builtins = True
            import personalize.methods as package

            for info in pkgutil.iter_modules(package.__path__):
                if info.ispkg and info.name not in _NOT_METHODS:
                    importlib.import_module(f"{package.__name__}.{info.name}")
            from importlib.metadata import entry_points

            _Loaded.entry_points = [(p.value.split(":", 1)[0], p.name) for p in entry_points(group=ENTRY_POINT_GROUP)]
        # a plugin that failed is tried again (and fails again, in one line) at the next use
        for module, name in _Loaded.entry_points:
            _import_plugin(module, f"entry point {name!r}")
        for name in (n.strip() for n in os.environ.get(PLUGINS_ENV, "").split(",")):
            if name:
                _import_plugin(name, f"{PLUGINS_ENV}")
    finally:
        _Loaded.loading = False


def _import_plugin(module: str, source: str) -> None:
    if module in _Loaded.plugins:
        return
    _Loaded.plugins.add(module)
    try:
        importlib.import_module(module)
    except ConfigError:
        _Loaded.plugins.discard(module)
        raise
    except Exception as exc:  # noqa: BLE001 - a broken plugin is the user's to fix: one line, not a traceback
        _Loaded.plugins.discard(module)
        raise ConfigError(f"cannot import method plugin {module!r} named by {source}: "
                          f"{type(exc).__name__}: {exc}") from None


class MethodRegistry(Registry[MethodInfo]):
    """:class:`~personalize.registry.Registry` that loads the method folders and plugins on first use."""

    def get(self, name: str) -> MethodInfo:
        _load_methods()
        return super().get(name)

    def __contains__(self, name: object) -> bool:
        _load_methods()
        return super().__contains__(name)

    def names(self, family: str | None = None) -> list[str]:
        return [name for name, info in self.items() if family is None or info.family == family]

    def items(self) -> Iterator[tuple[str, MethodInfo]]:
        """By family (text, reference, recommender, soft), then in registration order."""
        _load_methods()
        return iter(sorted(super().items(), key=lambda item: FAMILIES.index(item[1].family)))


METHODS = MethodRegistry("method")


def register_method(name: str, target: str, *, family: Family, description: str = "",
                    fixed: Mapping[str, Any] | None = None,
                    presets: Mapping[str, Mapping[str, Any]] | None = None) -> MethodInfo:
    """Register a method (see :class:`MethodInfo`); a method folder calls this in its ``__init__``."""
    if family not in FAMILIES:
        raise ValueError(f"method {name!r}: family must be one of {FAMILIES}, not {family!r}")
    if ":" not in target:
        raise ValueError(f"method {name!r}: target must be 'module:attribute', not {target!r}")
    info = MethodInfo(name, target, family, description, dict(fixed or {}), {k: dict(v) for k, v in (presets or {}).items()})
    try:
        METHODS.register(name, info)
    except ValueError:
        raise ConfigError(f"method {name!r} is registered twice ({target}); a plugin cannot reuse a method's name") from None
    return info


def unload_plugin(module: str) -> list[str]:
    """Forget plugin ``module`` and unregister the methods it registered (tests, notebooks);
    returns their names. It is imported again if still named when the registry is next used."""
    names = [name for name, info in METHODS.items() if info.target.partition(":")[0].split(".")[0] == module.split(".")[0]]
    for name in names:
        METHODS.unregister(name)
    _Loaded.plugins.discard(module)
    import sys

    for loaded in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        del sys.modules[loaded]  # so that naming it again registers its methods again
    return names


def bench_presets() -> dict[str, tuple[str, dict[str, Any]]]:
    """Every method's ``personalize bench`` presets: preset name -> (method, settings)."""
    return {preset: (name, dict(settings)) for name, info in METHODS.items() for preset, settings in info.presets.items()}


def listing(names: list[str], last: str = "or") -> str:
    """``a, b or c``: method names as help texts list them."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {last} {names[-1]}" if names else ""


def lazy_exports(module: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) that imports ``exports[name]`` (a module path) on first
    use: a method folder re-exports its classes without its ``__init__`` importing torch."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    return __getattr__
