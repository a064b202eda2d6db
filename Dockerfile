# The node image of cluster.yaml (`docker:`) and jobs/kuberay.yaml (`image:`): bmp_ray's whole stack,
# installed by .ci/setup (the one source of truth for it), mmcv built once here with its CUDA ops.
# Build and push: README "Build the image". No weights and no data are in the image: nodes download
# weights into their Hugging Face cache or read a shared folder (--weights), and a job brings its code
# with `ray job submit --working-dir`.

# CUDA 13.0: the CUDA of the torch wheel that .ci/constraints.txt pins (torch 2.13.0+cu130). mmcv's
# ops are compiled by this image's nvcc, whose major version must match torch's; "devel" holds nvcc.
FROM nvidia/cuda:13.0.0-devel-ubuntu22.04

# Python 3.11 with its headers (mmcv and xtcocotools compile against them) and a C++ compiler;
# libGL and glib for opencv-python (mmcv imports cv2); rsync and an ssh client for Ray's cluster
# launcher, which copies its bootstrap files into the container with rsync and whose autoscaler on
# the head reaches the worker nodes over ssh.
# (Ubuntu's own versions, not pinned: its archive drops superseded ones.)
ARG DEBIAN_FRONTEND=noninteractive
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      python3.11 python3.11-venv python3.11-dev build-essential \
      libgl1 libglib2.0-0 rsync openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/bmp_ray

# GPU architectures mmcv's CUDA ops are compiled for: 8.6 is the A10G of cluster.yaml's GPU node
# types (g5). Running on other GPUs, build with their architectures added, for example
# --build-arg TORCH_CUDA_ARCH_LIST="8.0;8.6" for A100 nodes too (each one adds compile time).
ARG TORCH_CUDA_ARCH_LIST="8.6"
# Parallel compile jobs for mmcv (.ci/setup's default is 2); README: --build-arg MAX_JOBS=$(nproc).
ARG MAX_JOBS=4

# Only what .ci/setup reads, so that this layer (the stack, mmcv's compile the longest part of it)
# is rebuilt when the stack changes and not when the code does: the script, the lock, pyproject.toml
# (the package's dependencies) and the package's __init__.py (setup installs the package editable
# and imports it). The rest of the package comes in the next layer; the editable install finds it.
COPY .ci/setup .ci/constraints.txt .ci/
COPY pyproject.toml ./
COPY bmp_ray/__init__.py bmp_ray/
# FORCE_CUDA=1: the build has no GPU, and mmcv compiles its CUDA ops only when one is seen or this is
# set. No pip cache: it would only add to the image, and a cached mmcv wheel would be reused even
# after TORCH_CUDA_ARCH_LIST changes. The check fails the build if mmcv's ops came out CPU-only.
RUN FORCE_CUDA=1 PIP_NO_CACHE_DIR=1 bash .ci/setup \
 && .venv/bin/python -c "import torch; from mmcv.ops import get_compiling_cuda_version as v; \
assert v().split('.')[0] == torch.version.cuda.split('.')[0], ('mmcv ops CUDA', v(), 'torch', torch.version.cuda)"

# The code and the job entry points (jobs/kuberay.yaml runs /opt/bmp_ray/jobs/process_archive.py).
COPY bmp_ray/ bmp_ray/
COPY jobs/ jobs/

ENV PATH=/opt/bmp_ray/.venv/bin:$PATH
# Ray's cluster launcher runs every command in a login shell (bash --login); Ubuntu's /etc/profile
# keeps PATH, Debian's resets it: keep the venv first there too ($PATH expands at login: single quotes).
# hadolint ignore=SC2016
RUN echo 'export PATH=/opt/bmp_ray/.venv/bin:$PATH' > /etc/profile.d/bmp_ray.sh
RUN python -c "import bmp_ray.cli, bmp_ray.pipeline.runner" && bmp-ray --help >/dev/null
