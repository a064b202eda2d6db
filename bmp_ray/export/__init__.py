"""The Parquet contract: versioned Arrow schemas, conversion from/to ``FrameResult``, atomic writes."""

from bmp_ray.export.parquet import (
    output_name,
    read_results,
    write_manifest,
    write_results,
    write_table_atomic,
)
from bmp_ray.export.schema import (
    SCHEMA_VERSION,
    frames_schema,
    manifest_schema,
    poses_schema,
    results_from_arrow,
    results_to_arrow,
)

__all__ = [
    "SCHEMA_VERSION",
    "frames_schema",
    "manifest_schema",
    "output_name",
    "poses_schema",
    "read_results",
    "results_from_arrow",
    "results_to_arrow",
    "write_manifest",
    "write_results",
    "write_table_atomic",
]
