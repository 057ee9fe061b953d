"""Commits an ``IcebergDataWriter`` run to its Iceberg table (through pyiceberg).

The engine has written the run's Parquet data files (``part-*.parquet``) into the table's
``data/`` folder. Committing first renames them to ``{run fingerprint}-part-*.parquet``: from
then on they belong to the table, and no later run (resumed, ``--overwrite``, or another
pipeline appending to the same table) can delete or rewrite them, since the engine only touches
``part-*`` files. Then it adds this run's files that the table does not reference yet, in one
snapshot. Every step is idempotent, so a commit interrupted anywhere is completed by a rerun and
no data file is ever committed twice. What was committed is recorded in
``<table_path>/_mdf/iceberg_commit.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from . import _native

WRITER = "IcebergDataWriter"


def _require_pyiceberg():
    try:
        from pyiceberg.catalog.sql import SqlCatalog  # noqa: F401
    except ImportError as e:
        raise _native.ConfigError(
            f"{WRITER} needs pyiceberg with its SQL catalog: "
            "pip install 'mega-data-factory[iceberg]' (pyiceberg[sql-sqlite])"
        ) from e


def catalog_for(params: dict[str, Any]):
    """The pyiceberg catalog an ``IcebergDataWriter`` with these (resolved) params commits to."""
    _require_pyiceberg()
    from pyiceberg.catalog.sql import SqlCatalog

    table_path = Path(params["table_path"]).resolve()
    uri = params.get("catalog_uri") or f"sqlite:///{table_path / 'catalog.db'}"
    warehouse = params.get("warehouse") or table_path.as_uri()
    table_path.mkdir(parents=True, exist_ok=True)
    return SqlCatalog(params.get("catalog_name", "mdf"), uri=uri, warehouse=warehouse)


def commit_run(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """Commits the run in ``run_dir`` if its writer is ``IcebergDataWriter``; returns what was
    committed (``None`` for other writers)."""
    manifest = json.loads((Path(run_dir) / "_mdf" / "manifest.json").read_text())
    writer = manifest["config"]["data_writer"]
    if writer.get("type") != WRITER:
        return None
    params = writer["params"]
    import pyarrow.parquet as pq
    from pyiceberg.expressions import AlwaysTrue

    catalog = catalog_for(params)
    namespace, name = params["namespace"], params["table_name"]
    ident = f"{namespace}.{name}"
    data_dir = Path(params["table_path"]).resolve() / f"{namespace}.db" / name / "data"
    run_prefix = manifest["fingerprint"][:16]
    for part in sorted(data_dir.glob("part-*.parquet")):
        os.replace(part, part.with_name(f"{run_prefix}-{part.name}"))
    files = [p.as_uri() for p in sorted(data_dir.glob(f"{run_prefix}-part-*.parquet"))]
    catalog.create_namespace_if_not_exists(namespace)
    if not catalog.table_exists(ident):
        if not files:
            return {"table": ident, "added_files": 0, "snapshot_id": None}
        schema = pq.read_schema(data_dir / Path(files[0]).name)
        location = f"{catalog.properties['warehouse'].rstrip('/')}/{namespace}.db/{name}"
        catalog.create_table(ident, schema=schema, location=location)
    table = catalog.load_table(ident)
    in_table: set[str] = set()
    if table.current_snapshot() is not None:
        in_table = set(table.inspect.files().column("file_path").to_pylist())
    record_path = Path(run_dir) / "_mdf" / "iceberg_commit.json"
    done = json.loads(record_path.read_text()) if record_path.exists() else {}
    if params.get("mode") == "overwrite":
        # Replace the table's rows with this run's files, unless this run already did.
        if done.get("fingerprint") == manifest["fingerprint"] and set(files) == in_table:
            return done
        with table.transaction() as tx:
            if in_table:
                tx.delete(AlwaysTrue())
            if files:
                tx.add_files(files, check_duplicate_files=False)
        added = files
    else:
        added = [f for f in files if f not in in_table]
        if added:
            table.add_files(added)
    table = catalog.load_table(ident)
    snapshot = table.current_snapshot()
    result = {
        "table": ident,
        "fingerprint": manifest["fingerprint"],
        "added_files": len(added),
        "files": files,
        "snapshot_id": snapshot.snapshot_id if snapshot else None,
    }
    tmp = record_path.with_name("." + record_path.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, record_path)
    return result
