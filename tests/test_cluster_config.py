"""cluster.yaml passes Ray's own cluster-config validation, and it, the KubeRay manifest and the
pipeline's cluster run config agree on the pools. The Dockerfile's install step is .ci/setup with mmcv's
CUDA ops for the GPUs of cluster.yaml, it copies no .venv, weights or data, and every node runs the image
that the README tells users to build and push."""

import io
import json
import re
import shlex
from pathlib import Path, PurePosixPath

import pytest
import yaml
from dockerfile_parse import DockerfileParser
from ray.autoscaler._private.util import prepare_config, validate_config

from bmp_ray.pipeline import config as run_config

ROOT = Path(__file__).resolve().parents[1]
ROLES = ("decode", "detector", "pose", "sam")
# The files that set up nodes: none may name a repository URL or an image the README does not give.
DEPLOY_FILES = ("cluster.yaml", "jobs/kuberay.yaml", "Dockerfile", ".dockerignore")
# CUDA compute capability of the GPU of AWS instance families (NVIDIA's CUDA GPU table): the Dockerfile's
# TORCH_CUDA_ARCH_LIST must cover every GPU node type of cluster.yaml. A new family: add its GPU here.
GPU_ARCH = {"g4dn": "7.5", "g5": "8.6", "g6": "8.9", "g6e": "8.9", "p4d": "8.0", "p5": "9.0"}
# What .ci/setup reads, the only files the Dockerfile may copy before running it (layer caching).
SETUP_READS = {".ci/setup", ".ci/constraints.txt", "pyproject.toml", "bmp_ray/__init__.py"}
NEVER_COPIED = {".venv", "weights", "out", "data", "shared", ".git"}  # path parts
WEIGHT_SUFFIXES = {".pth", ".pt", ".ckpt", ".safetensors", ".bin", ".onnx"}
# Any URL off this machine (the dashboard's http://127.0.0.1:8265 is fine), an ssh remote, a clone.
REPO_URL = re.compile(r"\b(?:https?|git|ssh)://(?!127\.0\.0\.1[:/]|localhost[:/])|\bgit@[\w.-]+:|\bgit clone\b")


@pytest.fixture(scope="module")
def cluster():
    return yaml.safe_load((ROOT / "cluster.yaml").read_text())


@pytest.fixture(scope="module")
def run_cfg():
    return run_config.load(ROOT / "jobs" / "cluster.toml")


def test_cluster_yaml_is_a_valid_ray_cluster_config(cluster):
    validate_config(prepare_config(cluster))  # what `ray up` does first
    broken = {**cluster, "available_node_types": {**cluster["available_node_types"], "gpu_sam": {"resources": {}}}}
    with pytest.raises(Exception, match="node_config"):
        validate_config(prepare_config(broken))  # the validation can fail


def test_head_does_no_work_and_every_pool_starts_empty(cluster):
    types = cluster["available_node_types"]
    assert types[cluster["head_node_type"]]["resources"] == {"CPU": 0}
    workers = {k: v for k, v in types.items() if k != cluster["head_node_type"]}
    assert all(v["min_workers"] == 0 and v["max_workers"] >= 1 for v in workers.values())
    assert cluster["idle_timeout_minutes"] > 0 and cluster["upscaling_speed"] > 0


def test_every_stage_pool_is_one_node_type(cluster, run_cfg):
    types = cluster["available_node_types"]
    for role in ROLES:
        pool = getattr(run_cfg, role).pool
        owners = [name for name, t in types.items() if pool in t.get("resources", {})]
        assert len(owners) == 1, f"{role}: pool {pool!r} is a resource of {owners}"
    assert run_cfg.sam.num_gpus >= 1 and run_cfg.detector.num_gpus > 0 and run_cfg.pose.num_gpus > 0


def test_kuberay_groups_carry_the_same_pools(cluster, run_cfg):
    job = yaml.safe_load((ROOT / "jobs" / "kuberay.yaml").read_text())
    spec = job["spec"]["rayClusterSpec"]
    assert spec["autoscalerOptions"]["version"] == "v2" and spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    pools = {}
    for g in spec["workerGroupSpecs"]:
        assert g["minReplicas"] == 0
        pools.update({p: g["groupName"] for p in json.loads(json.loads(g["rayStartParams"]["resources"]))})
    assert {getattr(run_cfg, r).pool for r in ROLES} == set(pools)
    yaml_pools = {
        p for t in cluster["available_node_types"].values() for p in t.get("resources", {}) if p.startswith("pool_")
    }
    assert yaml_pools == set(pools)


# --- the image -------------------------------------------------------------------------------------


def _parse(text: str) -> DockerfileParser:
    return DockerfileParser(fileobj=io.BytesIO(text.encode()))


def _copy_sources(instr: dict) -> list:
    """Context paths a COPY or ADD takes (none for COPY --from=stage), as written."""
    value = instr["value"].strip()
    words = json.loads(value) if value.startswith("[") else shlex.split(value)
    if any(w.startswith("--from=") for w in words):
        return []
    return [w for w in words if not w.startswith("--")][:-1]


def _simple_commands(shell: str) -> list:
    """A RUN's shell text split into simple commands (argv lists) at ; && || |."""
    lex = shlex.shlex(shell, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    commands, argv = [], []
    for tok in lex:
        if tok in (";", "&&", "||", "|", "&"):
            commands.append(argv)
            argv = []
        else:
            argv.append(tok)
    return [c for c in commands + [argv] if c]


def _setup_env(args: dict, envs: dict, argv: list):
    """(environment, command) of a simple command: the stage's ARGs and ENVs, then its own VAR=value
    prefixes."""
    env = {**args, **envs}
    while argv and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", argv[0]):
        key, _, val = argv[0].partition("=")
        env[key] = val
        argv = argv[1:]
    return env, argv


def _runs_setup(argv: list) -> bool:
    return argv[-1:] == [".ci/setup"] and argv[:-1] in ([], ["bash"], ["sh"])


def dockerfile_problems(text: str, gpu_archs: set) -> list:
    """What is wrong with a Dockerfile for bmp_ray's nodes; empty when nothing is."""
    parser = _parse(text)
    problems = []
    setups = []  # the environment of each simple command that runs .ci/setup
    copied_before = None  # context paths copied before the first setup run
    copied = []
    for instr, ctx in zip(parser.structure, parser.context_structure):
        kind = instr["instruction"]
        if kind in ("COPY", "ADD"):
            for src in _copy_sources(instr):
                copied.append(src)
                path = PurePosixPath(src)
                if "://" in src:
                    problems.append(f"{kind} from a URL: {src}")
                elif any(ch in src for ch in "*?[") or str(path) in (".", "..") or ".." in path.parts:
                    problems.append(f"{kind} {src}: copy named paths, not the whole context or globs")
                elif NEVER_COPIED & set(path.parts) or path.suffix in WEIGHT_SUFFIXES:
                    problems.append(f"{kind} {src}: no .venv, weights, outputs or data in the image")
        elif kind == "RUN":
            for argv in _simple_commands(instr["value"]):
                env, argv = _setup_env(ctx.args, ctx.envs, argv)
                if _runs_setup(argv):
                    setups.append(env)
                    if copied_before is None:
                        copied_before = list(copied)
    if len(setups) != 1:
        return problems + [f"the install step must run .ci/setup exactly once, found {len(setups)}"]
    env = setups[0]
    missing = {".ci/setup", ".ci/constraints.txt", "pyproject.toml"} - {str(PurePosixPath(c)) for c in copied_before}
    if missing:
        problems.append(f"not copied before .ci/setup runs: {sorted(missing)}")
    extra = {str(PurePosixPath(c)) for c in copied_before} - SETUP_READS
    if extra:
        problems.append(f"copied before .ci/setup although it does not read them (rebuilds the stack): {sorted(extra)}")
    if env.get("FORCE_CUDA") != "1":
        problems.append(f"FORCE_CUDA={env.get('FORCE_CUDA')!r} for .ci/setup: mmcv's CUDA ops need FORCE_CUDA=1")
    archs = set(re.split(r"[;\s]+", env.get("TORCH_CUDA_ARCH_LIST", "").replace("+PTX", "").strip())) - {""}
    if not archs or gpu_archs - archs:
        problems.append(f"TORCH_CUDA_ARCH_LIST {sorted(archs)} lacks the node GPUs' {sorted(gpu_archs - archs)}")
    return problems


def readme_image(text: str) -> str:
    """The image the README's `docker build -t IMAGE` builds; its `docker push` must push the same."""
    built = set(re.findall(r"^\s*docker build\b.*?\s(?:-t|--tag)[\s=](\S+)", text, re.M))
    pushed = set(re.findall(r"^\s*docker push\s+(\S+)", text, re.M))
    assert len(built) == 1, f"the README should build one image (`docker build ... -t IMAGE .`), found {built}"
    assert pushed == built, f"the README builds {built} but pushes {pushed}"
    return built.pop()


def _images_in(tree) -> list:
    """Every value of an image, head_image or worker_image key in a parsed YAML tree."""
    if isinstance(tree, dict):
        found = [v for k, v in tree.items() if k in ("image", "head_image", "worker_image")]
        return found + [x for v in tree.values() for x in _images_in(v)]
    if isinstance(tree, list):
        return [x for v in tree for x in _images_in(v)]
    return []


@pytest.fixture(scope="module")
def dockerfile_text():
    return (ROOT / "Dockerfile").read_text()


@pytest.fixture(scope="module")
def kuberay():
    return yaml.safe_load((ROOT / "jobs" / "kuberay.yaml").read_text())


def _gpu_archs(cluster) -> set:
    archs = set()
    for name, t in cluster["available_node_types"].items():
        family = t["node_config"]["InstanceType"].split(".")[0]
        if name.startswith("gpu"):
            assert family in GPU_ARCH, f"{name}: add the GPU architecture of {family} instances to GPU_ARCH"
            archs.add(GPU_ARCH[family])
        else:
            assert family not in GPU_ARCH, f"{name} is a GPU instance ({family}): name the node type gpu_*"
    return archs


def test_dockerfile_installs_with_ci_setup_for_the_cluster_gpus(cluster, dockerfile_text):
    assert dockerfile_problems(dockerfile_text, _gpu_archs(cluster)) == []
    parser = _parse(dockerfile_text)
    for instr in parser.structure:
        for src in _copy_sources(instr) if instr["instruction"] in ("COPY", "ADD") else []:
            assert (ROOT / src).exists(), f"the Dockerfile copies {src}, which the repository lacks"


BAD_DOCKERFILES = {
    "whole context": "COPY . /opt/bmp_ray\nRUN FORCE_CUDA=1 bash .ci/setup",
    "venv": "COPY .ci/ .ci/\nCOPY .venv .venv\nRUN FORCE_CUDA=1 bash .ci/setup",
    "weights": "COPY weights/ /w/\nRUN FORCE_CUDA=1 bash .ci/setup",
    "checkpoint file": "COPY sam_vit_b.pth /w/\nRUN FORCE_CUDA=1 bash .ci/setup",
    "no FORCE_CUDA": "COPY .ci/setup .ci/constraints.txt .ci/\nCOPY pyproject.toml ./\nARG TORCH_CUDA_ARCH_LIST=8.6\n"
    "RUN bash .ci/setup",
    "arch list misses 8.6": "COPY .ci/setup .ci/constraints.txt .ci/\nCOPY pyproject.toml ./\n"
    "ENV TORCH_CUDA_ARCH_LIST=8.0\nRUN FORCE_CUDA=1 bash .ci/setup",
    "code before setup": "COPY .ci/setup .ci/constraints.txt .ci/\nCOPY pyproject.toml ./\nCOPY bmp_ray/ bmp_ray/\n"
    "RUN FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=8.6 bash .ci/setup",
    "no setup": "COPY pyproject.toml ./\nRUN pip install -e .",
}


@pytest.mark.parametrize("name", sorted(BAD_DOCKERFILES))
def test_the_dockerfile_checks_can_fail(name):
    assert dockerfile_problems("FROM x\n" + BAD_DOCKERFILES[name], {"8.6"}), name
    good = (
        "FROM x\nARG TORCH_CUDA_ARCH_LIST=8.6\nCOPY .ci/setup .ci/constraints.txt .ci/\nCOPY pyproject.toml ./\n"
        "RUN FORCE_CUDA=1 bash .ci/setup && true\nCOPY bmp_ray/ bmp_ray/"
    )
    assert dockerfile_problems(good, {"8.6"}) == []


def test_dockerignore_sends_only_what_the_dockerfile_copies(dockerfile_text):
    rules = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()]
    rules = [r for r in rules if r and not r.startswith("#")]
    assert rules[0] == "*", ".dockerignore starts by leaving everything out, then names what the build needs"
    kept = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    assert not {p for k in kept for p in PurePosixPath(k).parts} & NEVER_COPIED
    for instr in _parse(dockerfile_text).structure:
        for src in _copy_sources(instr) if instr["instruction"] in ("COPY", "ADD") else []:
            src = src.rstrip("/")
            assert any(src == k or src.startswith(k + "/") for k in kept), f".dockerignore leaves out {src}"


def test_nodes_run_the_image_the_readme_builds(cluster, kuberay, dockerfile_text):
    readme = (ROOT / "README.md").read_text()
    image = readme_image(readme)
    assert cluster["docker"]["image"] == image and cluster["docker"]["container_name"]
    cluster_images = _images_in(cluster)
    kuberay_images = _images_in(kuberay)
    assert set(cluster_images) == set(kuberay_images) == {image}
    spec = kuberay["spec"]["rayClusterSpec"]
    groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
    assert all(c["image"] == image for g in groups for c in g["template"]["spec"]["containers"])
    # every image any deploy file names (the base image too) is one the README tells the user about
    for ref in cluster_images + kuberay_images + _parse(dockerfile_text).parent_images:
        assert ref in readme, f"{ref} is not in the README"


def test_no_deploy_file_names_a_repository_url():
    for name in DEPLOY_FILES:
        hits = REPO_URL.findall((ROOT / name).read_text())
        assert not hits, f"{name} names a repository URL or clones one: {hits}"
    assert REPO_URL.search("  - git clone https://example.invalid/x.git")  # the pattern can match
    assert REPO_URL.search("image: https://registry.example.invalid/x") and REPO_URL.search("git@host.invalid:x")
    assert not REPO_URL.search("ray job submit --address http://127.0.0.1:8265")


def test_nodes_set_up_nothing_the_image_holds(cluster):
    lists = [
        cluster.get(k, [])
        for k in ("initialization_commands", "setup_commands", "head_setup_commands", "worker_setup_commands")
    ]
    lists += [
        t.get(k, [])
        for t in cluster["available_node_types"].values()
        for k in ("initialization_commands", "worker_setup_commands")
    ]
    for cmd in (c for cmds in lists for c in cmds):
        assert ".ci/setup" not in cmd and not re.search(r"\bgit\b|\bapt(-get)?\b", cmd), cmd
    gpu_types = [t for n, t in cluster["available_node_types"].items() if n.startswith("gpu")]
    assert all("--gpus all" in t["docker"]["worker_run_options"] for t in gpu_types)
    prepared = prepare_config(cluster)  # Ray fills defaults in: none of its setup commands sneak back
    assert prepared["setup_commands"] == [] and prepared["docker"]["image"] == cluster["docker"]["image"]


def test_kuberay_runs_the_image_code_at_the_pinned_ray(kuberay, dockerfile_text):
    parser = _parse(dockerfile_text)
    workdir = [i["value"] for i in parser.structure if i["instruction"] == "WORKDIR"][-1].rstrip("/")
    copied = [s.rstrip("/") for i in parser.structure if i["instruction"] in ("COPY", "ADD") for s in _copy_sources(i)]
    paths = [w for w in kuberay["spec"]["entrypoint"].split() if w.startswith(workdir + "/")]
    assert paths, "the RayJob entrypoint names its files by their path in the image"
    for path in paths:
        rel = path[len(workdir) + 1 :]
        assert (ROOT / rel).is_file() and any(rel == c or rel.startswith(c + "/") for c in copied), path
    pins = dict(ln.split("==") for ln in (ROOT / ".ci" / "constraints.txt").read_text().splitlines() if "==" in ln)
    assert kuberay["spec"]["rayClusterSpec"]["rayVersion"] == pins["ray"]


def test_ci_setup_takes_force_cuda_from_the_environment():
    code = [ln for ln in (ROOT / ".ci" / "setup").read_text().splitlines() if not ln.lstrip().startswith("#")]
    assigned = re.findall(r"\bFORCE_CUDA=(\S+)", "\n".join(code))
    assert assigned and all(v.startswith("${FORCE_CUDA:-") for v in assigned), assigned
