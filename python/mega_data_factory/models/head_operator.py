"""The base of the probability heads (NSFW, watermark, AI-generated): one classifier on an
embedding column, written as a probability column plus a flag column, optionally dropping the
flagged rows.

Weights are read when the operator is built (in the driver's validation and again in each
worker), so a missing or damaged file is a config error before any work; the module moves to its
device on the first batch, inside the worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..operators import BatchRefiner
from . import embedding_heads as eh


@dataclass
class HeadRuntime:
    """A loaded head and what the operator needs to know about it."""

    module: Any
    input_dim: int
    normalize_input: bool
    #: column index of the probability among the outputs; ``None``: apply a softmax and take
    #: ``positive_index`` (mdf heads output logits).
    probability_output: int | None
    positive_index: int
    #: the default embedding column: the one an mdf head was trained on, the CLIP ViT-L/14
    #: column for LAION's heads. A head only means something on the embedding model it was
    #: trained on; the dimension is checked, the model cannot be.
    trained_on_field: str | None
    #: Arrow metadata of the score column.
    metadata: dict[str, str]
    #: what to run first to get the right embedding (for error messages).
    hint: str


class ProbabilityHeadRefiner(BatchRefiner):
    """Base class; subclasses set the names and implement ``load_head``."""

    name: ClassVar[str]
    #: ``$MDF_HOME/heads/<default_head>``: where ``mdf train-head --task`` writes this head.
    default_head: ClassVar[str]
    default_output: ClassVar[str]
    default_flag: ClassVar[str]
    default_threshold: ClassVar[float]
    drop_reason = "flagged"

    def __init__(
        self,
        model_path: str | None = None,
        embedding_field: str | None = None,
        threshold: float | None = None,
        output_field: str | None = None,
        flag_field: str | None = None,
        remove_flagged: bool = False,
        inference_batch_size: int = 1024,
        device: str = "auto",
        use_fp16: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.threshold = float(self.default_threshold if threshold is None else threshold)
        eh.check_threshold(self.threshold, 0.0, 1.0, "threshold", "probability")
        if int(inference_batch_size) < 1:
            raise ValueError("`inference_batch_size` must be positive")
        self.output_field = output_field or self.default_output
        self.flag_field = flag_field or self.default_flag
        self.remove_flagged = bool(remove_flagged)
        self.batch_size = int(inference_batch_size)
        self.device_name = device
        self.use_fp16 = use_fp16
        path = Path(model_path).expanduser() if model_path else self.default_path()
        self.head = self.load_head(path)
        self.embedding_field = embedding_field or self.head.trained_on_field
        if not self.embedding_field:
            raise ValueError(f"{self.name}: set `embedding_field` (the embedding column to score)")
        self._device = None

    @classmethod
    def default_path(cls) -> Path:
        return eh.default_head_dir(cls.default_head)

    def load_head(self, path: Path) -> HeadRuntime:
        raise NotImplementedError

    def load_mdf_head(self, path: Path, get: str) -> HeadRuntime:
        """A head written by ``mdf train-head``."""
        head = eh.load_mdf_head(path, self.name, get)
        emb = head.spec.embedding
        model = " ".join(
            str(emb[k]) for k in ("operator", "model_name", "pretrained") if emb.get(k)
        )
        return HeadRuntime(
            module=head.module,
            input_dim=head.spec.input_dim,
            normalize_input=head.spec.normalize_input,
            probability_output=None,
            positive_index=head.positive_index,
            trained_on_field=emb.get("field"),
            metadata={
                "scale": f"probability:{head.spec.positive_label}:0-1",
                "model": f"mdf-head {head.config_path.parent.name}",
                "weights_sha256": head.weights_sha256,
                "input": f"{'L2-normalised ' if head.spec.normalize_input else ''}"
                f"{emb.get('field', '?')} ({model or 'embedding'}, {head.spec.input_dim}-d)",
            },
            hint=f"the head was trained on {model or 'another embedding'} "
            f"(`{emb.get('field', '?')}`); run that embedding operator first",
        )

    def get_output_schema(self):
        import pyarrow as pa

        return {self.output_field: pa.float32(), self.flag_field: pa.bool_()}

    def _mdf_output_schema(self):
        import pyarrow as pa

        return pa.schema([self._score_field(), pa.field(self.flag_field, pa.bool_())])

    def _score_field(self):
        return eh.score_field(self.output_field, self.head.metadata)

    def probabilities(self, batch) -> tuple[Any, Any]:
        """P(flagged class) per row (float32) and the mask of rows that had an embedding."""
        import numpy as np

        head = self.head
        matrix, valid = eh.embedding_matrix(
            batch, self.embedding_field, head.input_dim, self.name, head.hint
        )
        if head.normalize_input:
            matrix = eh.l2_normalize(matrix)
        if self._device is None:
            self._device = eh.pick_device(self.device_name)
            head.module.to(self._device)
        out = eh.run_head(head.module, matrix, self.batch_size, self._device)
        if head.probability_output is not None:
            return out[:, head.probability_output], valid
        out = out - out.max(axis=1, keepdims=True)
        probs = np.exp(out)
        probs /= probs.sum(axis=1, keepdims=True)
        return probs[:, head.positive_index].astype(np.float32), valid

    def _mdf_process(self, batch):
        import pyarrow as pa

        probs, valid = self.probabilities(batch)
        flagged = probs >= self.threshold
        out = eh.set_column(batch, self._score_field(), pa.array(probs, pa.float32(), mask=~valid))
        flag = pa.field(self.flag_field, pa.bool_())
        out = eh.set_column(out, flag, pa.array(flagged, pa.bool_(), mask=~valid))
        if not self.remove_flagged:
            return out, None
        return out, (valid & ~flagged).tolist()
