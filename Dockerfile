# The project's own services for docker-compose: worker, gateway, simulator (`cashless ...`).
# The payment ledger's compiled kernel is built in a Rust stage, as one abi3 wheel for 3.11+.
FROM rust:1-slim-bookworm AS kernel
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv \
    && python3 -m venv /opt/maturin && /opt/maturin/bin/pip install --no-cache-dir "maturin>=1.7,<2"
COPY kernel /kernel
RUN /opt/maturin/bin/maturin build --release --compatibility linux -m /kernel/Cargo.toml --out /wheels

FROM python:3.11-slim
WORKDIR /app
COPY --from=kernel /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl
COPY pyproject.toml README.md ./
COPY cashless cashless
COPY cli cli
COPY producers producers
COPY streams streams
COPY dashboards dashboards
COPY reports reports
COPY ops ops
RUN pip install --no-cache-dir . && mkdir -p /var/lib/cashless /etc/cashless \
    && chown 65534:65534 /var/lib/cashless /etc/cashless
USER 65534:65534
ENV CASHLESS_STATE_DIR=/var/lib/cashless/worker \
    CASHLESS_GATEWAY_TOKENS_FILE=/etc/cashless/gateway-tokens.json
ENTRYPOINT ["cashless"]
