# syntax=docker/dockerfile:1
# One image for every ANNEAL service and for the Ray cluster that runs the model.
#
#   docker build -t anneal:cpu .                          # CPU-only PyTorch (small)
#   docker build --build-arg VARIANT=cuda -t anneal:cuda .  # PyTorch with CUDA (GPU Ray workers)
#
# Each service starts by the same command the tests and `anneal serve` use:
#   docker run anneal:cpu python -m services.retrieval   (also: embedding, search, selection,
#   labels, coordinator; see docs/architecture.md). The image runs as uid 10001, keeps no state
#   in its root filesystem (it works read-only with an emptyDir on /tmp) and holds the generated
#   gRPC code (`annealpb/`), built here from protos/ exactly as `make proto` builds it.

ARG VARIANT=cpu
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS python
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Where each variant's PyTorch wheels come from. Empty = pip's default index, whose Linux
# wheels are the CUDA build (the CUDA runtime libraries arrive as pip packages; the node's
# NVIDIA driver is mounted by the container toolkit).
FROM python AS torch-cpu
ENV TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
FROM python AS torch-cuda
ENV TORCH_INDEX_URL=

# ---- build: dependencies into /opt/venv, generated gRPC code, byte-compiled sources ----
FROM torch-${VARIANT} AS build
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml ./
# torch and torchvision first, pinned as pyproject.toml pins them, from the variant's index.
RUN if [ -n "$TORCH_INDEX_URL" ]; then \
      pip install --index-url "$TORCH_INDEX_URL" \
        $(grep -oE '"torch(vision)?==[^"]+"' pyproject.toml | tr -d '"'); \
    fi
# The project's dependencies (its own code is copied below, not installed), plus Ray's
# dashboard/agent extras that KubeRay's head and its health probes need.
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt "ray[default]"
COPY protos ./protos
# Same generator, flags and package layout as the Makefile's `proto` target.
RUN python -m grpc_tools.protoc -Iprotos --python_out=. --pyi_out=. --grpc_python_out=. \
      $(find protos -name '*.proto') \
 && find annealpb -type d -exec touch {}/__init__.py \;
COPY anneal ./anneal
COPY services ./services
RUN python -m compileall -q anneal services annealpb

# ---- runtime: per-variant environment, then the shared, non-root layout ----
FROM python AS runtime-cpu
FROM python AS runtime-cuda
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

FROM runtime-${VARIANT} AS runtime
# wget: KubeRay's default health probes on Ray pods call it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends wget \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 anneal \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
      --shell /usr/sbin/nologin anneal
COPY --from=build /opt/venv /opt/venv
COPY --from=build /src/annealpb /app/annealpb
COPY --from=build /src/anneal /app/anneal
COPY --from=build /src/services /app/services
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    HOME=/tmp
WORKDIR /app
USER 10001:10001
# Per service (docs/architecture.md): public gRPC 50051-50056, internal mutual-TLS gRPC
# 51051-51056, plaintext health 52051-52056, metrics 9101-9106.
EXPOSE 50051-50056 51051-51056 52051-52056 9101-9106
CMD ["python", "-m", "services.retrieval"]
