"""Fine-tuning the BMP models with Ray Train (V2): ``bmp-ray train`` / ``jobs/finetune.py``.

``config``      the training config (TOML / YAML / ``--set``), validated at the boundary
``keypoints``   COCO, MPII and AI Challenger annotations mapped into the 21-keypoint space
``perturb``     MaskPose's mask perturbations (dilate / erode, remove / add patches)
``pose_data``   the pose training set (mmpose's own transforms) and the ratio sampler
``optim``       AdamW with layer-wise learning-rate decay (ViTs) or SGD, and the step schedule
``validate``    pycocotools on a held-out set: keypoint AP; person bbox / segm AP plain and masked out
``state``       checkpoints (MMEngine model file + training state) and the export
``worker``      the per-worker training loop (DDP)
``trainer``     the ``TorchTrainer`` job: storage, resume, export
``maskout``     detector training: people painted black and removed from the targets
``det_data``    the detector training set: COCO person instances, mmdet's transforms, ``MaskOutPeople``
``tasks``       what a job trains: ``PoseTask`` and ``DetectorTask``
``preview``     a picture of mask-out training samples (``bmp-ray maskout-preview``)
"""
