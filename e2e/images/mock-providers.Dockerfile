# The mock Resend + Postmark server. It uses only Node built-ins and erasable
# TypeScript, so Node 24 runs its sources directly: no install step.
# NODE_IMAGE as in the service Dockerfile (public node:24-slim, or the local stand-in).
ARG NODE_IMAGE=node:24-slim
FROM ${NODE_IMAGE}
WORKDIR /app
COPY src/mock-providers ./src/mock-providers
USER node
ENV MOCK_HOST=0.0.0.0 MOCK_RESEND_PORT=4010 MOCK_POSTMARK_PORT=4011
EXPOSE 4010 4011
ENTRYPOINT ["node", "src/mock-providers/main.ts"]
