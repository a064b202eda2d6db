"""Entry point for ``ray job submit``: fine-tune a BMP model with Ray Train (DDP over the cluster).

    ray job submit --working-dir . -- python jobs/finetune.py --config jobs/finetune_maskpose.toml \\
        --storage s3://bucket/bmp-train --export s3-mounted/weights

Takes the options of ``bmp-ray train`` (``--config``, ``--set SECTION.KEY=VALUE``, ``--name``,
``--storage``, ``--workers``, ``--gpu``, ``--export``...). Submitting again with the same ``--name`` and
``--storage`` resumes from the latest checkpoint.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the working dir's bmp_ray

from bmp_ray.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
