"""Entry point for ``ray job submit``: BMP over a video archive into Parquet.

    ray job submit --working-dir . -- python jobs/process_archive.py s3://bucket/videos --out s3://bucket/out

Takes the options of ``bmp-ray run`` (``--config``, ``--set SECTION.KEY=VALUE``, ``--preset``,
``--weights``...). Under ``ray job submit`` the driver joins the job's cluster through ``RAY_ADDRESS``.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the working dir's bmp_ray

from bmp_ray.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
