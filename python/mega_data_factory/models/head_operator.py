"""The base of the heads on embedding columns (aesthetic, NSFW, watermark, AI-generated):
:class:`EmbeddingHeadOperator`, a :class:`~mega_data_factory.models.base.ModelOperator`, and
:class:`ProbabilityHeadRefiner`, its classifier form (a probability column, a flag column and an
optional filter).

When the operator is built (the driver validates the config by building it), the weights file is
resolved and read once to check it (keys, shapes, finite values), so missing or damaged weights
are a config error before any work. The network itself is built in the worker on first use
(``load_model``), shared by the worker threads of a process. Heads always compute in float32:
they are a few million multiply-adds per row, and half precision would only cost agreement with
the reference networks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from .._native import ConfigError
from . import embedding_heads as eh
from .base import ModelOperator, ModelOutput, scores_column


@dataclass
class HeadRuntime:
    """A head's weights, checked, and what the operator needs to know about them."""

    #: builds the (untrained) network whose state dict the weights are.
    build: Callable[[], Any]
    weights_path: Path
    weights_sha256: str
    input_dim: int
    normalize_input: bool
    #: index of the probability among the outputs; ``None``: the outputs are logits, apply a
    #: softmax and take ``positive_index``. Unused by regression heads (aesthetic).
    probability_output: int | None
    positive_index: int
    #: the default embedding column: the one an mdf head was trained on, the CLIP ViT-L/14
    #: column for LAION's heads. The dimension is checked; the model cannot be.
    default_field: str | None
    #: Arrow field metadata of the score column (spec §0.1: a score carries its units).
    metadata: dict[str, str]
    #: which embedding operator to run first (for error messages).
    hint: str


HEAD_PARAMS_DOC: dict[str, tuple[str, str]] = {
    "model_path": (
        "string",
        "The head's weights (docs/model_heads.md); by default where `mdf train-head --task` "
        "writes them (MDF_HOME: ~/.cache/mdf).",
    ),
    "embedding_field": (
        "string",
        "The embedding column to score. Default: the column the head expects.",
    ),
    "output_field": ("string", "The score column."),
    "use_fp16": ("boolean", "Accepted for the seed's configs: a head always computes in float32."),
    "half_precision": ("string", "Unused by heads (float32 always)."),
    "inference_batch_size": ("integer", "Embeddings per forward pass."),
}


class EmbeddingHeadOperator(ModelOperator):
    """Base class: subclasses set ``name`` and implement ``load_head`` and ``score``."""

    name: ClassVar[str]
    params_doc = dict(HEAD_PARAMS_DOC)

    def __init__(
        self,
        *,
        head: HeadRuntime,
        embedding_field: str | None,
        output_field: str,
        inference_batch_size: int = 1024,
        **common: Any,
    ) -> None:
        super().__init__(inference_batch_size=inference_batch_size, **common)
        self.head = head
        self.embedding_field = embedding_field or head.default_field
        if not self.embedding_field:
            raise ConfigError(f"{self.name}: set `embedding_field` (the embedding column to score)")
        self.output_field = output_field

    @classmethod
    def _mdf_params_schema(cls):
        schema = super()._mdf_params_schema() or {}
        schema.get("properties", {}).pop("head", None)
        if "head" in schema.get("required", []):
            schema["required"] = [r for r in schema["required"] if r != "head"]
            if not schema["required"]:
                del schema["required"]
        return schema

    # ModelOperator ------------------------------------------------------------------------------

    def model_key(self):
        return (self.name, str(self.head.weights_path), self.head.weights_sha256)

    def load_model(self, device, dtype):
        module = self.head.build()
        eh.load_torch_weights(module, self.head.weights_path, self.name, "")
        return module.to(device=device).eval()

    def run_batch(self, model, batch) -> ModelOutput:
        head = self.head
        matrix, rows, rejects = eh.head_inputs(
            batch, self.embedding_field, head.input_dim, self.name, head.hint
        )
        if head.normalize_input:
            matrix = eh.l2_normalize(matrix)
        outputs = eh.run_head(model, matrix, self.inference_batch_size, self.device)
        columns, keep = self.score(outputs, rows, batch.num_rows)
        return ModelOutput(columns, keep=keep, rejects=rejects)

    def score(self, outputs, rows: list[int], num_rows: int) -> tuple[dict[str, Any], Any]:
        """The declared columns and keep mask from the head's outputs for ``rows``."""
        raise NotImplementedError

    # The score column carries its units as field metadata ---------------------------------------

    def _score_field(self):
        return eh.score_field(self.output_field, self.head.metadata)

    def _mdf_output_schema(self):
        import pyarrow as pa

        fields = [
            self._score_field() if name == self.output_field else pa.field(name, dtype)
            for name, dtype in self.output_columns().items()
        ]
        return pa.schema(fields)

    def _mdf_process(self, batch):
        out, keep, rejects = super()._mdf_process(batch)
        index = out.schema.get_field_index(self.output_field)
        out = out.set_column(index, self._score_field(), out.column(index))
        return out, keep, rejects


class ProbabilityHeadRefiner(EmbeddingHeadOperator):
    """A classifier head: P(class) in ``output_field``, ``P ≥ threshold`` in ``flag_field``,
    and with ``remove_flagged`` the flagged rows dropped (reason ``drop_reason``)."""

    #: ``$MDF_HOME/heads/<default_head>``: where ``mdf train-head --task`` writes this head.
    default_head: ClassVar[str]
    default_output: ClassVar[str]
    default_flag: ClassVar[str]
    default_threshold: ClassVar[float]
    params_doc = {
        **HEAD_PARAMS_DOC,
        "threshold": ("number", "The flag column is score ≥ threshold."),
        "flag_field": ("string", "The boolean flag column."),
        "remove_flagged": ("boolean", "Drop the flagged rows (else only annotate)."),
    }

    def __init__(
        self,
        model_path: str | None = None,
        embedding_field: str | None = None,
        threshold: float | None = None,
        output_field: str | None = None,
        flag_field: str | None = None,
        remove_flagged: bool = False,
        **common: Any,
    ) -> None:
        self.threshold = float(self.default_threshold if threshold is None else threshold)
        eh.check_threshold(self.threshold, 0.0, 1.0, "threshold", "probability")
        self.flag_field = flag_field or self.default_flag
        self.remove_flagged = bool(remove_flagged)
        path = Path(model_path).expanduser() if model_path else self.default_path()
        super().__init__(
            head=self.load_head(path),
            embedding_field=embedding_field,
            output_field=output_field or self.default_output,
            **common,
        )

    @classmethod
    def default_path(cls) -> Path:
        return eh.default_head_dir(cls.default_head)

    @classmethod
    def _mdf_params_schema(cls):
        """The class's real defaults instead of the signature's ``None`` placeholders."""
        schema = super()._mdf_params_schema()
        props = schema.get("properties", {})
        home = str(cls.default_path()).replace(str(eh.mdf_home()), "$MDF_HOME")
        for name, value in (
            ("model_path", home),
            ("threshold", cls.default_threshold),
            ("output_field", cls.default_output),
            ("flag_field", cls.default_flag),
        ):
            if name in props:
                props[name]["default"] = value
        return schema

    def load_head(self, path: Path) -> HeadRuntime:
        raise NotImplementedError

    def load_mdf_head(self, path: Path, get: str) -> HeadRuntime:
        """A head written by ``mdf train-head``."""
        head = eh.load_mdf_head(path, self.name, get)
        spec, emb = head.spec, head.spec.embedding
        model = " ".join(
            str(emb[k]) for k in ("operator", "model_name", "pretrained") if emb.get(k)
        )
        return HeadRuntime(
            build=lambda: eh.mlp_head(
                spec.input_dim, spec.hidden_dims, len(spec.labels), spec.dropout
            ),
            weights_path=head.weights_path,
            weights_sha256=head.weights_sha256,
            input_dim=spec.input_dim,
            normalize_input=spec.normalize_input,
            probability_output=None,
            positive_index=head.positive_index,
            default_field=emb.get("field"),
            metadata={
                "scale": f"probability:{spec.positive_label}:0-1",
                "model": f"mdf-head {head.config_path.parent.name}",
                "weights_sha256": head.weights_sha256,
                "input": f"{'L2-normalised ' if spec.normalize_input else ''}"
                f"{emb.get('field', '?')} ({model or 'embedding'}, {spec.input_dim}-d)",
            },
            hint=f"the head was trained on {model or 'another embedding'} "
            f"(`{emb.get('field', '?')}`): run that embedding operator first",
        )

    def output_columns(self):
        import pyarrow as pa

        return {self.output_field: pa.float32(), self.flag_field: pa.bool_()}

    def score(self, outputs, rows, num_rows):
        import numpy as np
        import pyarrow as pa

        head = self.head
        if head.probability_output is not None:
            probs = outputs[:, head.probability_output]
        else:
            logits = outputs - outputs.max(axis=1, keepdims=True)
            probs = np.exp(logits)
            probs = (probs / probs.sum(axis=1, keepdims=True))[:, head.positive_index]
        probs = probs.astype(np.float32)
        flagged = np.zeros(num_rows, dtype=bool)
        flagged[rows] = probs >= np.float32(self.threshold)
        valid = np.zeros(num_rows, dtype=bool)
        valid[rows] = True
        columns = {
            self.output_field: scores_column(probs, rows, num_rows),
            self.flag_field: pa.array(flagged, pa.bool_(), mask=~valid),
        }
        keep = (~flagged).tolist() if self.remove_flagged else None
        return columns, keep
