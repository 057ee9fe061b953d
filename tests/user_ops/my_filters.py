"""A user module, as a user would write it: operators registered by name, used from YAML via
`imports: [user_ops.my_filters]`."""

from __future__ import annotations

import os
import time

import pyarrow as pa
import pyarrow.compute as pc

from mega_data_factory import BatchFilter, BatchRefiner, Filter, OperatorRegistry, Refiner


class KeepIdsEndingWith(Filter):
    """Keeps records whose id ends with one of the given digits."""

    drop_reason = "wrong_digit"

    def __init__(self, digits: str = "02468", **kwargs):
        super().__init__(**kwargs)
        self.digits = tuple(digits)

    def should_keep_batch(self, records):
        return [r["id"].endswith(self.digits) for r in records]


class WordCount(Refiner):
    """Adds `word_count`."""

    def refine_batch(self, records):
        for r in records:
            r["word_count"] = len((r.get("text") or "").split())

    def get_output_schema(self):
        return {"word_count": pa.int64()}


class ShortTextArrow(BatchFilter):
    """Drops texts longer than `max_chars` (Arrow compute)."""

    drop_reason = "too_long_arrow"

    def __init__(self, max_chars: int = 100, **kwargs):
        super().__init__(**kwargs)
        self.max_chars = max_chars

    def filter_batch(self, batch):
        return pc.less_equal(pc.utf8_length(batch.column("text")), self.max_chars)


class UpperUrl(BatchRefiner):
    """Adds `url_upper`."""

    def refine_arrow(self, batch):
        return batch.append_column("url_upper", pc.utf8_upper(batch.column("url")))

    def get_output_schema(self):
        return {"url_upper": pa.string()}


class Explodes(Filter):
    """Raises on batches holding the id `boom`."""

    def should_keep_batch(self, records):
        if any(r["id"] == "boom" for r in records):
            raise ValueError("cannot handle boom")
        return [True] * len(records)


class SlowPass(Filter):
    """Keeps everything, slowly (for the kill -9 test)."""

    def should_keep_batch(self, records):
        time.sleep(float(os.environ.get("MDF_TEST_SLEEP", "0.05")))
        return [True] * len(records)


class WrongType(Refiner):
    """Declares int64 but produces strings."""

    def refine_batch(self, records):
        for r in records:
            r["n"] = "not a number"

    def get_output_schema(self):
        return {"n": pa.int64()}


OperatorRegistry.register("keep_ids_ending_with", KeepIdsEndingWith)
OperatorRegistry.register("word_count", WordCount)
OperatorRegistry.register("short_text_arrow", ShortTextArrow)
OperatorRegistry.register("upper_url", UpperUrl)
OperatorRegistry.register("explodes", Explodes)
OperatorRegistry.register("slow_pass", SlowPass)
OperatorRegistry.register("wrong_type", WrongType)
