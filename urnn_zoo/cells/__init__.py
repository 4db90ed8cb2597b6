r"""The cell families, one module each; importing this package registers every one of them.

A new family is added by dropping a module here that defines a :class:`~urnn_zoo.cells.base.RecurrentCell`
subclass with a ``name``: it is registered, listed by ``cell_names()`` and covered by the contract tests.
"""
import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")
del _module
