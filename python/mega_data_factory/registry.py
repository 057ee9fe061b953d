"""Registry of Python operators (the seed's ``OperatorRegistry`` API).

Built-in operators live in the Rust engine; ``OperatorRegistry.register(name, cls)`` adds a
Python class under a config name. Configs load user modules with ``imports: [module]``.
"""

from __future__ import annotations

import inspect
from typing import Any

from .operators import Operator


class OperatorRegistry:
    _operators: dict[str, type[Operator]] = {}

    @classmethod
    def register(cls, name: str, operator_class: type[Operator]) -> type[Operator]:
        if not (inspect.isclass(operator_class) and issubclass(operator_class, Operator)):
            raise TypeError(f"{operator_class!r} is not a subclass of mega_data_factory.Operator")
        cls._operators[name] = operator_class
        return operator_class

    @classmethod
    def get(cls, name: str) -> type[Operator]:
        try:
            return cls._operators[name]
        except KeyError:
            raise KeyError(f"no Python operator registered as {name!r}") from None

    @classmethod
    def create(cls, name: str, params: dict[str, Any] | None = None) -> Operator:
        return cls.get(name)(**(params or {}))

    @classmethod
    def list_operators(cls) -> list[str]:
        import json

        from . import _native

        native = [
            c["name"]
            for c in json.loads(_native.list_components())
            if c["kind"] in ("filter", "refiner", "global")
        ]
        return sorted(set(native) | set(cls._operators))

    @classmethod
    def unregister(cls, name: str) -> None:
        cls._operators.pop(name, None)

    @classmethod
    def _native_specs(cls) -> dict[str, tuple[str, str, Any, str | None]]:
        """``{name: (kind, summary, factory, params_schema_json)}`` as the native module
        expects."""
        import json

        specs = {}
        for name, op_class in cls._operators.items():
            doc = inspect.getdoc(op_class) or f"Python operator {op_class.__qualname__}"
            summary = doc.strip().splitlines()[0]
            schema = op_class._mdf_params_schema()
            specs[name] = (
                op_class.kind,
                summary,
                _factory(op_class),
                None if schema is None else json.dumps(schema),
            )
        return specs


def _register_builtin() -> None:
    """Built-in Python operators (the model operators; their modules import torch lazily)."""
    from .models import heads

    for name, op_class in heads.OPERATORS.items():
        OperatorRegistry.register(name, op_class)


def _factory(op_class: type[Operator]):
    def build(params: dict[str, Any]) -> Operator:
        return op_class(**params)

    return build


_register_builtin()
