# A Temporal dev server image: the official `temporal` CLI binary (a static Go binary)
# on a minimal base, running `temporal server start-dev`.
#   docker build -f e2e/images/temporal.Dockerfile --build-context ... (context: a folder holding `temporal`)
# TEMPORAL_BASE defaults to scratch, so nothing is pulled. Where Docker Hub is reachable
# the official image (temporalio/temporal) serves the same purpose.
ARG TEMPORAL_BASE=scratch
FROM ${TEMPORAL_BASE}
COPY temporal /usr/local/bin/temporal
# The server reads the user name from the environment when there is no /etc/passwd.
ENV USER=temporal HOME=/
ENTRYPOINT ["/usr/local/bin/temporal", "server", "start-dev", "--headless"]
CMD ["--ip", "127.0.0.1", "--port", "7233"]
