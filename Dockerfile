# powermonitor container.
# Default: the original one-shot poll from the PLUG* environment variables, as the first
# powermonitor container did:
#   docker run -e PLUGID=... -e PLUGIP=... -e PLUGKEY=... -e PLUGINVERS=3.3 powermonitor
#   docker run -e PLUGJSON=yes -e PLUGID=... -e PLUGIP=... powermonitor      (one JSON line)
# Any other command: docker run powermonitor powermonitor simulate --count 3 ...
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir . && useradd --system --home /nonexistent powermonitor
USER powermonitor

# Tuya plugs: TCP 6668 (control); UDP 6666/6667/7000 (discovery broadcasts)
EXPOSE 6666/udp 6667/udp 7000/udp
CMD ["powermonitor", "poll"]
