# powermonitor container.
#   docker run -e PLUGID=... -e PLUGIP=... -e PLUGKEY=... -e PLUGINVERS=3.3 powermonitor   # one-shot poll
#   docker run -e PLUGJSON=yes -e PLUGID=... -e PLUGIP=... powermonitor                    # one JSON line
#   docker run -v pmdata:/data -p 8000:8000 powermonitor      # the service (config in /data/config.toml)
#   docker run powermonitor powermonitor simulate --count 3   # any other command
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 XDG_DATA_HOME=/data XDG_CONFIG_HOME=/data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
COPY docker/entrypoint.sh /usr/local/bin/powermonitor-entrypoint
RUN pip install --no-cache-dir . \
    && useradd --system --home /nonexistent powermonitor \
    && mkdir -p /data && chown powermonitor /data
USER powermonitor
VOLUME /data

# Dashboard/API/metrics; Tuya plugs: TCP 6668 (outgoing), UDP 6666/6667/7000 (discovery)
EXPOSE 8000 6666/udp 6667/udp 7000/udp
ENTRYPOINT ["powermonitor-entrypoint"]
