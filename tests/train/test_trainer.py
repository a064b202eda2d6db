"""The Ray Train job: 2 CPU workers (gloo) on a real local Ray, checkpoint, resume, export, inference."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from bmp_ray.cli import main
from bmp_ray.train import config as train_config
from bmp_ray.train.trainer import fit

from .conftest import det_settings, small_settings


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.init(num_cpus=2, resources={"pool_train": 1}, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


def _before_and_after(weights, exported, coco_dir, tmp_path, *settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The poses table of ``bmp-ray run --no-ray`` on one COCO image with ``weights``, then with the
    ``exported`` files dropped into a copy of them."""
    from bmp_ray.pipeline import config as run_config
    from bmp_ray.pipeline.runner import run

    trained = tmp_path / "trained-weights"
    shutil.copytree(weights, trained)
    shutil.copytree(exported, trained, dirs_exist_ok=True)
    outs = []
    for name, w in (("before", weights), ("after", trained)):
        cfg = run_config.load(
            overrides=[
                "models.preset=test",
                "models.max_people=3",
                "bmp.iterations=1",
                f"models.weights={w}",
                *settings,
            ]
        )
        summary = run([str(coco_dir / "000000040083.jpg")], str(tmp_path / name), cfg, use_ray=False)
        assert summary.failed == 0
        outs.append(pd.read_parquet(tmp_path / name / "poses"))
    return outs[0], outs[1]


def test_two_workers_checkpoint_resume_export_and_inference(ray_local, coco_dir, train_weights, tmp_path, test_weights):
    settings = small_settings(
        coco_dir,
        train_weights,
        **{
            "run.num_workers": 2,
            "run.max_steps_per_epoch": 2,
            "run.storage_path": str(tmp_path / "storage"),
            "run.name": "tiny",
            "run.export": str(tmp_path / "exported"),
        },
    )
    first = fit(train_config.load(overrides=settings))
    assert first.metrics["epoch"] == 1 and first.metrics["step"] == 2  # 2 steps of 2 samples per worker
    assert np.isfinite(first.metrics["loss"]) and 0 <= first.metrics["val_keypoints_AP"] <= 1
    assert (tmp_path / "storage" / "tiny").is_dir() and first.checkpoint.startswith(str(tmp_path / "storage"))

    second = fit(train_config.load(overrides=settings + ["optim.epochs=2"]))  # same name: resumes
    assert second.metrics["epoch"] == 2 and second.metrics["step"] == 4
    assert second.checkpoint != first.checkpoint

    # the exported weights load in the inference pipeline and change its keypoints
    before, after = _before_and_after(test_weights, tmp_path / "exported", coco_dir, tmp_path)
    assert len(before) == len(after) > 0

    def column(df, name):
        return np.stack([np.stack(v) for v in df.sort_values("person_index")[name]]).astype(np.float32)

    assert np.allclose(column(before, "bbox_xyxy"), column(after, "bbox_xyxy"))  # the same detector
    assert not np.allclose(column(before, "keypoints"), column(after, "keypoints"), atol=1e-2)


def test_bad_input_fails_before_any_worker_starts(tmp_path, caplog, coco_dir, train_weights):
    args = ["train", "--set", f"data.train=[{{format: coco, ann_file: '{tmp_path}/missing.json', img_dir: x}}]"]
    assert main(args) == 2
    assert "missing.json: not found; check data.train[].ann_file" in caplog.text
    assert main(["train", "--set", "optim.lr=fast"]) == 2
    assert "optim.lr: expected float, got 'fast'" in caplog.text
    assert main(["train", "--model", "detector", "--set", "data.train=[{format: mpii, ann_file: a, img_dir: b}]"]) == 2
    assert "data.train[0].format: expected 'coco' (COCO instance annotations) for the detector" in caplog.text
    settings = small_settings(coco_dir, tmp_path / "no-weights")
    assert main(["train", *sum((["--set", s] for s in settings), [])]) == 2
    assert "no-weights" in caplog.text.splitlines()[-1]


def test_finetune_job_entry_point_prints_a_summary(ray_local, coco_dir, train_weights, tmp_path, capsys):
    settings = small_settings(
        coco_dir, train_weights, **{"run.max_steps_per_epoch": 1, "run.val_every": 5, "run.pool": "pool_train"}
    )
    args = ["--name", "cli", "--storage", str(tmp_path), "--workers", "1", "--export", str(tmp_path / "w")]
    assert main(["train", *args, *sum((["--set", s] for s in settings), [])]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["name"] == "cli" and summary["exported"].endswith("MaskPose/MaskPose-tiny.pth")


def test_detector_two_workers_checkpoint_resume_export_and_inference(ray_local, coco_dir, test_weights, tmp_path):
    """RTMDet-Ins-tiny from the pipeline's test weights, people masked out, 2 gloo workers: checkpoint,
    resume, validation on plain and masked images, and the export runs in the pipeline."""
    settings = det_settings(
        coco_dir,
        test_weights,
        **{
            "run.num_workers": 2,
            "run.max_steps_per_epoch": 2,
            "run.storage_path": str(tmp_path / "storage"),
            "run.name": "det",
            "data.samples_per_epoch": 8,
            "run.export": str(tmp_path / "exported"),
        },
    )
    first = fit(train_config.load(overrides=settings))
    assert first.metrics["epoch"] == 1 and first.metrics["step"] == 2
    assert np.isfinite(first.metrics["loss_mask"]) and 0 <= first.metrics["val_masked_segm_AP"] <= 1
    second = fit(train_config.load(overrides=settings + ["optim.epochs=2"]))  # same name: resumes
    assert second.metrics["epoch"] == 2 and second.metrics["step"] == 4
    exported = tmp_path / "exported" / "rtmdet-ins-tiny-mask.pth"
    assert second.exported == str(exported)
    assert "rtmdet-ins-tiny-mask.pth" in (tmp_path / "exported" / "SHA256SUMS").read_text()

    outs = _before_and_after(test_weights, tmp_path / "exported", coco_dir, tmp_path, "bmp.det_score_thr=0.0")
    before, after = (np.stack(df["bbox_score"]) if len(df) else np.zeros(0) for df in outs)
    assert len(before) > 0 and (len(before) != len(after) or not np.allclose(before, after))
