# torchtutor: bot, web app and CPU workers.
FROM python:3.11-slim AS base
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
WORKDIR /app
RUN useradd --create-home --uid 10001 torchtutor

# Dependencies first so source edits reuse this layer.
FROM base AS deps
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml README.md ./
RUN mkdir -p bot knowledge workers && touch bot/__init__.py knowledge/__init__.py workers/__init__.py \
    && pip install . && pip uninstall -y torchtutor

FROM deps AS app
COPY . .
RUN pip install --no-deps -e . && mkdir -p var && chown -R torchtutor /app/var
USER torchtutor
EXPOSE 8000
ENV TORCHTUTOR_HOST=0.0.0.0
CMD ["torchtutor", "run"]
