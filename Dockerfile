# torchtutor images, multi-stage:
#   docker build --target app -t torchtutor .       bot, web app, CPU workers, migrations (CPU-only torch)
#   docker build --target gpu -t torchtutor-gpu .   GPU workers (CUDA torch on an NVIDIA CUDA runtime base)
# compose.yaml builds both. Dependencies are installed from requirements.lock (hashes checked) before the source is
# copied, so editing the code rebuilds only the last layers.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# The CUDA wheels of torch bundle their own CUDA libraries; the runtime base adds the driver hooks the NVIDIA
# container toolkit expects. `...-base-ubuntu24.04` works too and is a few GB smaller.
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-runtime-ubuntu24.04
ARG TORCH_VERSION=2.13.0
# The PyTorch wheel index of the CUDA build for the gpu target; keep it on CUDA_IMAGE's CUDA version (and the
# GPU machines' driver new enough for it).
ARG TORCH_CUDA=cu128

# ---- base: Python, the unprivileged user, bubblewrap (the /run sandbox), and the environment every CPU stage shares
FROM ${PYTHON_IMAGE} AS base
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap && rm -rf /var/lib/apt/lists/*
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 TOKENIZERS_PARALLELISM=false \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
RUN groupadd --system --gid 10001 torchtutor \
    && useradd --system --uid 10001 --gid torchtutor --create-home --home-dir /home/torchtutor torchtutor
WORKDIR /app

# ---- deps: CPU torch first, from the PyTorch CPU index (no multi-GB CUDA download), then the rest exactly as locked
FROM base AS deps
ARG TORCH_VERSION
RUN python -m venv /opt/venv \
    && pip install --upgrade pip setuptools wheel \
    && pip install --index-url https://download.pytorch.org/whl/cpu "torch==${TORCH_VERSION}"
# requirements.lock (`make lock`) pins every other runtime dependency with its hashes. torch is not in it (its build
# differs per target), so anything wanting another torch fails here, unhashed, instead of pulling a CUDA build.
COPY requirements.lock /tmp/requirements.lock
RUN pip install --require-hashes -r /tmp/requirements.lock

# ---- app: the slim runtime image (no compilers, no build caches), running as torchtutor
FROM base AS app
COPY --from=deps /opt/venv /opt/venv
COPY pyproject.toml README.md alembic.ini ./
COPY migrations ./migrations
COPY knowledge ./knowledge
COPY workers ./workers
COPY bot ./bot
# Editable, because migrations/ and knowledge/docs/ are found next to the code, not in site-packages.
# The encoder's ONNX export is made here, offline, into the image (/opt/venv/share/torchtutor), and the bundled
# knowledge pack is encoded next to it (the embedding cache's seed), so a container's first start encodes nothing.
RUN pip install --no-deps --no-build-isolation -e . \
    && python -m knowledge.onnx_model \
    && python -m knowledge.seed \
    && mkdir -p /app/var && chown torchtutor:torchtutor /app/var
USER torchtutor
ENV TORCHTUTOR_HOST=0.0.0.0 TORCHTUTOR_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=8s --start-period=120s --retries=3 CMD ["torchtutor", "healthcheck"]
CMD ["torchtutor", "run"]

# ---- gpu: GPU workers; the same code and dependencies over a CUDA build of torch
FROM ${CUDA_IMAGE} AS gpu
ARG TORCH_VERSION
ARG TORCH_CUDA
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 TOKENIZERS_PARALLELISM=false \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates bubblewrap \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 torchtutor \
    && useradd --system --uid 10001 --gid torchtutor --create-home --home-dir /home/torchtutor torchtutor
WORKDIR /app
RUN python3 -m venv /opt/venv \
    && pip install --upgrade pip setuptools wheel \
    && pip install --index-url "https://download.pytorch.org/whl/${TORCH_CUDA}" "torch==${TORCH_VERSION}"
COPY requirements.lock /tmp/requirements.lock
RUN pip install --require-hashes -r /tmp/requirements.lock
COPY pyproject.toml README.md alembic.ini ./
COPY migrations ./migrations
COPY knowledge ./knowledge
COPY workers ./workers
COPY bot ./bot
RUN pip install --no-deps --no-build-isolation -e . \
    && mkdir -p /app/var && chown torchtutor:torchtutor /app/var
USER torchtutor
# Workers serve no HTTP: healthy when the database and the broker answer from here.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["torchtutor", "healthcheck", "--services"]
CMD ["torchtutor", "worker", "--backend", "celery", "--queues", "gpu", "--concurrency", "1"]
