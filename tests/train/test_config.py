import pytest

from bmp_ray.errors import ConfigError
from bmp_ray.train import config as train_config

TRAIN = "data.train=[{format: coco, ann_file: a.json, img_dir: imgs}]"


def test_defaults_are_the_published_recipe():
    cfg = train_config.load(overrides=[TRAIN])
    assert (cfg.optim.lr, cfg.optim.weight_decay, cfg.optim.layer_decay) == (5e-4, 0.1, 0.75)
    assert (cfg.optim.epochs, cfg.optim.milestones, cfg.optim.batch_size) == (210, (170, 200), 64)
    assert (cfg.model.name, cfg.model.init_model) == ("maskpose-b", "vitpose-b-multi")
    assert cfg.data.train[0].format == "coco" and cfg.data.perturb_masks
    assert train_config.TrainConfig.from_dict(cfg.to_dict()) == cfg  # what the workers receive


def test_the_detector_task_has_the_published_bmp_detector_recipe():
    for settings in (["model.task=detector"], ["model.name=rtmdet-ins-l-bmp"]):
        cfg = train_config.load(overrides=[TRAIN, *settings])
        assert (cfg.model.task, cfg.model.name, cfg.model.init_model) == (
            "detector",
            "rtmdet-ins-l-bmp",
            "rtmdet-ins-l",
        )
        o = cfg.optim
        assert (o.optimizer, o.lr, o.momentum, o.weight_decay, o.epochs, o.batch_size) == (
            "sgd",
            0.02,
            0.9,
            1e-4,
            10,
            16,
        )
        assert o.milestones == (7, 9) and o.clip_grad is None and cfg.data.mask_out
        assert train_config.TrainConfig.from_dict(cfg.to_dict()) == cfg
    # the file and --set go over the recipe; a test variant starts from itself
    cfg = train_config.load(overrides=[TRAIN, "model.name=rtmdet-ins-tiny", "optim.lr=1e-3"])
    assert (cfg.model.task, cfg.model.init_model, cfg.optim.lr, cfg.optim.epochs) == ("detector", None, 1e-3, 10)


def test_toml_file_with_several_sets(tmp_path):
    f = tmp_path / "train.toml"
    f.write_text("""
[model]
name = "maskpose-tiny"
[[data.train]]
format = "coco"
ann_file = "coco.json"
img_dir = "coco"
ratio = 2
[[data.train]]
format = "aic"
ann_file = "aic.json"
img_dir = "aic"
[run]
num_workers = 4
""")
    cfg = train_config.load(f, ["optim.lr=1e-4"])
    assert [s.format for s in cfg.data.train] == ["coco", "aic"]
    assert [s.ratio for s in cfg.data.train] == [2.0, 1.0]
    assert cfg.optim.lr == 1e-4 and cfg.run.num_workers == 4


@pytest.mark.parametrize(
    "override, message",
    [
        ("run.num_workers=0", "run.num_workers: expected an integer >= 1, got 0"),
        ("data.train=[{format: lsp, ann_file: a, img_dir: b}]", "data.train[0].format: expected 'coco' or 'mpii'"),
        ("data.train=[{format: coco}]", "data.train[0]: missing ann_file, img_dir"),
        ("data.train=[]", "data.train: expected at least one training set"),
        ("optim.layer_decay=1.5", "optim.layer_decay: expected a number in (0, 1]"),
        ("optim.batch_size=63", "optim.batch_size: expected a multiple of run.num_workers (2), got 63"),
        ("run.precision=fp16", "run.precision: expected 'fp32' without use_gpu"),
        ("data.val_ann_file=v.json", "data.val_img_dir: expected val_ann_file and val_img_dir both set"),
        ("run.bogus=1", "run: unknown setting(s) bogus"),
        ("model.task=segmenter", "model.task: expected 'pose' or 'detector'"),
        ("model.name=maskpose-x", "model.name: unknown model 'maskpose-x'"),
        ("model.task=detector\nmodel.name=maskpose-b", "'maskpose-b' is a pose model but model.task is 'detector'"),
        (
            "model.task=detector\ndata.train=[{format: mpii, ann_file: a, img_dir: b}]",
            "data.train[0].format: expected 'coco' (COCO instance annotations) for the detector, got 'mpii'",
        ),
        ("optim.optimizer=adam", "optim.optimizer: expected 'adamw' or 'sgd', got 'adam'"),
        (
            "data.mask_out_none=0.9\ndata.mask_out_all=0.2",
            "data.mask_out_all: expected mask_out_none + mask_out_all <= 1",
        ),
        ("data.mask_out_covered=0", "data.mask_out_covered: expected a fraction in (0, 1]"),
    ],
)
def test_bad_values_name_the_key(override, message):
    with pytest.raises(ConfigError) as exc:
        train_config.load(overrides=[TRAIN, *override.split("\n")])
    assert message in str(exc.value)


def test_the_cluster_example_config_loads():
    from pathlib import Path

    cfg = train_config.load(Path(__file__).parents[2] / "jobs" / "finetune_maskpose.toml")
    assert [s.format for s in cfg.data.train] == ["coco", "mpii", "aic"]
    assert cfg.run.use_gpu and cfg.run.pool == "pool_sam" and cfg.optim.batch_size % cfg.run.num_workers == 0


def test_the_detector_cluster_example_config_loads():
    from pathlib import Path

    cfg = train_config.load(Path(__file__).parents[2] / "jobs" / "finetune_detector.toml")
    assert (cfg.model.task, cfg.model.name, cfg.model.init_model) == ("detector", "rtmdet-ins-l-bmp", "rtmdet-ins-l")
    assert (cfg.optim.optimizer, cfg.optim.lr, cfg.optim.batch_size, cfg.optim.epochs) == ("sgd", 0.02, 16, 10)
    assert cfg.run.use_gpu and cfg.run.pool == "pool_det" and cfg.data.mask_out


def test_local_paths_become_absolute_for_the_workers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = train_config.load(overrides=[TRAIN, "model.init=w", "run.export=out", "run.storage_path=s3://b/x"]).absolute()
    assert cfg.data.train[0].ann_file == str(tmp_path / "a.json") and cfg.model.init == str(tmp_path / "w")
    assert cfg.run.export == str(tmp_path / "out") and cfg.run.storage_path == "s3://b/x"
