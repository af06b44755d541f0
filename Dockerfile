# The image of a sweep on Kubernetes (jobs/rayjob.yaml) or any Ray cluster: Python 3.11, the
# dependencies exactly as pinned in pyproject.toml (torch's Linux wheels bring CUDA), and
# this checkout in /app, where `python -m pipeline.sweep` finds conf/. See docs/cluster.md:
#   docker build -t REGISTRY/inverse-set-pipeline:0.1.0 . && docker push REGISTRY/inverse-set-pipeline:0.1.0
FROM python:3.11-slim

# KubeRay's probes call wget; Ray's processes need nothing else from the system.
RUN apt-get update && apt-get install -y --no-install-recommends wget \
    && rm -rf /var/lib/apt/lists/*

# The pins come from pyproject.toml alone, in their own layer (rebuilt only when they change).
COPY pyproject.toml /tmp/pyproject.toml
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt

WORKDIR /app
COPY . /app
ENV PYTHONPATH=/app \
    INVERSE_SET_CACHE=/data/cache \
    OMP_WAIT_POLICY=PASSIVE
RUN useradd --create-home --uid 1000 ray && chown -R ray /app
USER ray
