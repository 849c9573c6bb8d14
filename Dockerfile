# syntax=docker/dockerfile:1
# The service image: bridge and worker in one image, role chosen at run time
#   docker run authentik-temporal-server --role=bridge|worker|all
# NODE_IMAGE defaults to the public image; machines without registry access build
# from a local stand-in (e2e/images/make-local-node-base.sh) with
#   --build-arg NODE_IMAGE=authentik-local/node:24
ARG NODE_IMAGE=node:24-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY tsconfig.json tsconfig.build.json ./
COPY contracts ./contracts
COPY src ./src
COPY bin ./bin
RUN npm run build && npm prune --omit=dev --no-audit --no-fund --loglevel=error
# The CLI's bin link, as npm makes it for a dependency, so that npx runs it from
# node_modules/.bin; without the package's own "bin" field, which would make npx link the
# package into its cache and chmod the file (the image's filesystem is read-only at run time).
RUN mkdir -p node_modules/.bin && ln -sf ../../bin/authentik-newsletter.mjs node_modules/.bin/authentik-newsletter && \
    npm pkg delete bin

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    GRPC_HOST=0.0.0.0
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The CLI: `docker exec <container> npx authentik-newsletter status <id>` (runs dist/src/cli/main.js).
COPY --from=build /app/bin ./bin
USER node
EXPOSE 50051 9464 9465 9466
# Node itself is the container's first process: it hears docker's signals (SIGTERM drains, SIGHUP
# re-reads the certificates); npm would pass SIGHUP to nobody, and checks the registry for updates.
ENTRYPOINT ["node", "dist/src/main.js"]
CMD ["--role=all"]
