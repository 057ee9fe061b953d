"""Operator base classes for user code, source-compatible with the seed system's API.

Subclass :class:`Filter` (``should_keep_batch``) or :class:`Refiner` (``refine_batch`` and
``get_output_schema``) to work on records as dicts, or :class:`BatchFilter` /
:class:`BatchRefiner` to work on ``pyarrow.RecordBatch`` directly (much faster). Register the
class with :class:`mega_data_factory.OperatorRegistry` and use its name in YAML.

The engine calls ``_mdf_process(batch)`` with a ``pyarrow.RecordBatch`` (passed zero-copy) and
expects ``(new_batch_or_None, keep_mask_or_None)``, or ``(..., ..., rejects)`` with ``rejects`` a
list of ``(row, "reason_code: detail")`` for rows with bad input (counted and written to
``_mdf/rejects/``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

# pyarrow is imported where it is used: importing it (and numpy, whose BLAS threads spin at
# start-up) costs the `mdf` command ~0.1 s and CPU time on every run, Python operators or not.


class Operator:
    """Base of every Python operator.

    ``drop_reason`` is the reason code recorded in ``stats.json`` for rows a filter drops.
    """

    drop_reason: str = "filtered"
    kind: str = "refiner"

    def __init__(self, collect_rejected: bool = False, **kwargs: Any) -> None:
        # Seed compatibility: rejected records are collected by the engine
        # (executor.rejected_samples), so the flag is accepted and kept for user code.
        self.collect_rejected = collect_rejected
        if kwargs:
            raise TypeError(
                f"{type(self).__name__} got unexpected params: {', '.join(sorted(kwargs))}"
            )

    def get_output_schema(self) -> dict[str, pa.DataType]:
        """Columns this operator adds, with their Arrow types."""
        return {}

    def _mdf_output_schema(self) -> pa.Schema | None:
        import pyarrow as pa

        schema = self.get_output_schema()
        if not schema:
            return None
        return pa.schema([pa.field(name, dtype) for name, dtype in schema.items()])

    def _mdf_process(self, batch: pa.RecordBatch):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def _mdf_params_schema(cls) -> dict[str, Any] | None:
        """JSON schema of the params for ``mdf ops describe``; ``None``: not documented."""
        return None


class Filter(Operator):
    """Keep/drop records. Implement ``should_keep_batch(records) -> list[bool]``."""

    kind = "filter"

    def should_keep_batch(self, records: list[dict[str, Any]]) -> list[bool]:
        raise NotImplementedError(f"{type(self).__name__} must implement should_keep_batch")

    def _mdf_process(self, batch: pa.RecordBatch):
        return None, list(self.should_keep_batch(batch.to_pylist()))


class Refiner(Operator):
    """Add or rewrite fields. Implement ``refine_batch(records)`` (mutate the dicts in place)
    and ``get_output_schema()`` for every field you add or change."""

    kind = "refiner"

    def refine_batch(self, records: list[dict[str, Any]]) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement refine_batch")

    def _mdf_process(self, batch: pa.RecordBatch):
        import pyarrow as pa

        records = batch.to_pylist()
        self.refine_batch(records)
        for name, dtype in self.get_output_schema().items():
            column = pa.array([r.get(name) for r in records], type=dtype)
            index = batch.schema.get_field_index(name)
            if index >= 0:
                batch = batch.set_column(index, pa.field(name, dtype), column)
            else:
                batch = batch.append_column(pa.field(name, dtype), column)
        return batch, None


class BatchFilter(Operator):
    """Keep/drop on Arrow batches. Implement ``filter_batch(batch) -> mask`` (a
    ``pyarrow.BooleanArray`` or a list of bools)."""

    kind = "filter"

    def filter_batch(self, batch: pa.RecordBatch):
        raise NotImplementedError(f"{type(self).__name__} must implement filter_batch")

    def _mdf_process(self, batch: pa.RecordBatch):
        import pyarrow as pa

        mask = self.filter_batch(batch)
        if isinstance(mask, (pa.Array, pa.ChunkedArray)):
            mask = mask.fill_null(False).to_pylist()
        return None, list(mask)


class BatchRefiner(Operator):
    """Add columns on Arrow batches. Implement ``refine_arrow(batch) -> pyarrow.RecordBatch``
    (same rows) and ``get_output_schema()``."""

    kind = "refiner"

    def refine_arrow(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        raise NotImplementedError(f"{type(self).__name__} must implement refine_arrow")

    def _mdf_process(self, batch: pa.RecordBatch):
        return self.refine_arrow(batch), None
