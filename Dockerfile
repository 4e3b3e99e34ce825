# The image that `optuna-run render k8s STUDY.yaml --image IMAGE` runs: optuna-run on PATH as
# the entrypoint, WORKDIR the project (/app), so the manifests' `experiments/...` paths work.
# Not built by this project's CI (its machines have no container runtime); build it with
#   docker build -t fashion-models:0.2 .
# and for GPU nodes add TensorFlow's CUDA libraries (NVIDIA's wheels, in the version ranges
# tensorflow 2.21.0 itself requires, so not pinned here):
#   docker build --build-arg TENSORFLOW_EXTRA=and-cuda -t fashion-models:0.2-gpu .

# The Python and the Debian release of this project's machines (`make setup`).
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2

# Fashion-MNIST from Debian's dataset-fashion-mnist, as `make setup` installs it: nothing is
# downloaded at run time. (To use your own copy, mount it and set FASHION_MNIST_DIR.)
RUN apt-get update \
    && apt-get install -y --no-install-recommends dataset-fashion-mnist \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# The package with the pinned versions of pyproject.toml, as `make setup` does (without the
# dev tools). Installed before the study files are copied, so editing a study rebuilds fast.
COPY pyproject.toml README.md ./
COPY fashion_models ./fashion_models
ARG TENSORFLOW_EXTRA=""
RUN pip install . \
    && if [ -n "$TENSORFLOW_EXTRA" ]; then \
         pip install "tensorflow[$TENSORFLOW_EXTRA]==$(pip show tensorflow | sed -n 's/^Version: //p')"; \
       fi \
    && rm -rf build

COPY experiments ./experiments
COPY search_spaces ./search_spaces

# Not root. uid 10001 is what the rendered MLflow Deployment makes its volume writable for
# (fsGroup); mlruns/ and reports/ stay writable for studies with local stores.
RUN useradd --create-home --uid 10001 fashion \
    && mkdir -p mlruns reports \
    && chown fashion mlruns reports
USER 10001

# The shop's service (`render k8s --with-shop`, or by hand):
#   docker run -p 8000:8000 -v $PWD/stock:/stock -e MLFLOW_TRACKING_URI=http://mlflow:5000 \
#       IMAGE serve --catalog /stock/stock.csv --host 0.0.0.0
EXPOSE 8000

ENTRYPOINT ["optuna-run"]
CMD ["--help"]
