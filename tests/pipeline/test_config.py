import pytest

from bmp_ray.errors import ConfigError
from bmp_ray.pipeline import config as C


def test_defaults_run_on_one_cpu_machine():
    cfg = C.RunConfig()
    assert cfg.models.name("detector") == "rtmdet-ins-l-bmp" and cfg.models.name("sam") == "sam-vit-b"
    for role in ("detector", "pose", "sam"):
        res = getattr(cfg, role)
        assert res.num_gpus == 0 and res.pool is None and res.torch_device() == "cpu"
    assert cfg.bmp.iterations == 2


def test_presets_and_any_segmenter():
    from bmp_ray.models import registry

    for preset, models in C.PRESETS.items():
        assert sorted(models) == ["detector", "pose", "sam"]
        for role, name in models.items():
            assert registry.get(name, role).test_variant == (preset == "test")
    paper = C.load(overrides=["models.preset=bmp-paper"]).models
    assert [paper.name(r) for r in ("detector", "pose", "sam")] == [
        "rtmdet-ins-l-bmp",
        "maskpose-b",
        "sam2.1-hiera-base-plus",
    ]
    assert C.load(overrides=["models.sam=sam2.1-hiera-large"]).models.name("sam") == "sam2.1-hiera-large"
    test = C.load(overrides=["models.preset=test", "models.sam=sam2.1-tiny"]).models
    assert (test.name("sam"), test.name("pose")) == ("sam2.1-tiny", "maskpose-tiny")
    assert C.load(overrides=["models.preset=bmp-paper", "models.sam=sam-vit-h"]).models.name("sam") == "sam-vit-h"


def test_file_then_overrides_then_fields(tmp_path):
    f = tmp_path / "run.toml"
    f.write_text(
        '[models]\npreset = "test"\n[sam]\nnum_gpus = 1\npool = "pool_sam"\nmax_size = 4\n[bmp]\niterations = 3\n'
    )
    cfg = C.load(f, ["sam.num_gpus=0.5", "decode.target_fps=2"], **{"bmp.iterations": 1, "models.weights": None})
    assert cfg.models.name("pose") == "maskpose-tiny"
    assert cfg.sam.num_gpus == 0.5 and cfg.sam.pool == "pool_sam" and cfg.sam.max_size == 4
    assert cfg.sam.torch_device() == "cuda" and cfg.bmp.iterations == 1 and cfg.decode.target_fps == 2.0
    args = cfg.sam.remote_args()
    assert args["resources"] == {"pool_sam": 0.001} and args["num_gpus"] == 0.5 and args["batch_size"] == 4
    assert args["compute"].min_size == 1 and args["compute"].max_size == 4
    assert "runtime_env" not in args  # a GPU stage keeps glibc's defaults


def test_cpu_stages_start_with_memory_reuse():
    from bmp_ray.models.common import REUSE_MEMORY_ENV

    cfg = C.load(overrides=["pose.reuse_memory=false"])
    assert cfg.sam.remote_args()["runtime_env"] == {"env_vars": REUSE_MEMORY_ENV}
    assert REUSE_MEMORY_ENV["MALLOC_ARENA_MAX"] == "1"
    assert "runtime_env" not in cfg.pose.remote_args()


def test_yaml_file_and_label_selector(tmp_path):
    f = tmp_path / "run.yaml"
    f.write_text("detector:\n  label_selector: {bmp-pool: det}\n  num_gpus: 0.25\n")
    cfg = C.load(f)
    assert cfg.detector.remote_args()["label_selector"] == {"bmp-pool": "det"}


@pytest.mark.parametrize(
    "override, message",
    [
        (["sam.num_gpus=lots"], "sam.num_gpus: expected float, got 'lots'"),
        (["sam.gpus=1"], "sam: unknown setting(s) gpus; known: min_size"),
        (["cluster.x=1"], "config: unknown setting(s) cluster"),
        (["bmp.iterations=0"], "bmp.iterations: expected an integer >= 1"),
        (["decode.stride=2", "decode.target_fps=5"], "decode: give either stride (2) or target_fps (5.0), not both"),
        (["detector.min_size=3"], "detector.max_size: expected an integer >= min_size (3)"),
        (["pose.device=tpu"], "pose.device: expected auto or cpu or cuda"),
        (["models.preset=huge"], "models.preset: expected one of bmp, bmp-paper, test"),
        (["models.sam=maskpose-b"], "models.sam: model 'maskpose-b' is a pose model, but a sam model is needed"),
        (["models.sam=sam3"], "models.sam: unknown model 'sam3'; known sam models: sam-vit-b"),
        (["models.detector=sam-tiny"], "models.detector: model 'sam-tiny' is a sam model"),
        (["models.offline=maybe"], "models.offline: expected bool"),
        (["samnum_gpus"], "expected SECTION.KEY=VALUE"),
        (["sam=1"], "expected SECTION.KEY=VALUE"),
    ],
)
def test_bad_values_are_one_clear_error(override, message):
    with pytest.raises(ConfigError) as e:
        C.load(overrides=override)
    assert message in str(e.value)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        C.load(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("[sam\n")
    with pytest.raises(ConfigError, match="bad.toml"):
        C.load(tmp_path / "bad.toml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        C.load(tmp_path / "list.yaml")
    (tmp_path / "run.ini").write_text("")
    with pytest.raises(ConfigError, match="expected a .toml"):
        C.load(tmp_path / "run.ini")
    (tmp_path / "scalar.toml").write_text("sam = 3\n")
    with pytest.raises(ConfigError, match="config.sam: expected a table"):
        C.load(tmp_path / "scalar.toml")


def test_dumps_round_trips():
    cfg = C.load(overrides=["sam.label_selector={a: b}", "decode.stop=5"])
    import json

    assert C.RunConfig.from_dict(json.loads(C.dumps(cfg))) == cfg
