# The project's own services for docker-compose: worker, gateway, simulator (`cashless ...`).
FROM python:3.11-slim
WORKDIR /app
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
