"""Fine-tuning the BMP models with Ray Train (V2): ``bmp-ray train`` / ``jobs/finetune.py``.

``config``      the training config (TOML / YAML / ``--set``), validated at the boundary
``keypoints``   COCO, MPII and AI Challenger annotations mapped into the 21-keypoint space
``perturb``     MaskPose's mask perturbations (dilate / erode, remove / add patches)
``pose_data``   the pose training set (mmpose's own transforms) and the ratio sampler
``optim``       AdamW with layer-wise learning-rate decay and the step schedule
``validate``    COCO keypoint AP with pycocotools on a held-out set
``state``       checkpoints (MMEngine model file + training state) and the export
``worker``      the per-worker training loop (DDP)
``trainer``     the ``TorchTrainer`` job: storage, resume, export
``maskout``     detector training: people painted black and removed from the targets (issue #8)
"""
