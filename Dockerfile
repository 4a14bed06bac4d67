# The Vitals worker image (also the CLI: topic creation, the player, the webhook
# receiver of docker-compose.yml). Python from the official image, pinned.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir -r requirements.lock
COPY monitor ./monitor
COPY streams ./streams
COPY bridge ./bridge
COPY tools ./tools
COPY seeds ./seeds
COPY schemas ./schemas
RUN pip install --no-cache-dir --no-deps -e . \
 && useradd --uid 10001 --no-create-home vitals \
 && mkdir /data && chown vitals /data

# state (faust data dir) and the player's simulation live in /data
WORKDIR /data
USER vitals
EXPOSE 6066
ENTRYPOINT ["vitals"]
CMD ["worker"]
