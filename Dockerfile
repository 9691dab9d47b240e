# Hayon: one image holding every executable; docker-compose.yml runs one service per container.
#
#   docker build -t hayon .
#
# Build stage: the Swift toolchain image, the Debian -dev packages the C targets link, and a
# release build with the Swift runtime linked statically.
FROM swift:6.3-bookworm AS build
RUN apt-get update \
  && apt-get install -y --no-install-recommends pkg-config libssl-dev libnghttp2-dev libsqlite3-dev libcurl4-openssl-dev \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Shared Shared
COPY Protocols Protocols
COPY Services Services
# The platform sandbox lives with the tests; Package.swift also names the test targets.
COPY Tests Tests
RUN for product in platform-sandbox account-service auth-service publish-service gateway hayon-probe; do \
      swift build -c release --static-swift-stdlib --product "$product" || exit 1; \
    done \
  && mkdir /out \
  && bin="$(swift build -c release --show-bin-path)" \
  && cp "$bin/platform-sandbox" "$bin/account-service" "$bin/auth-service" "$bin/publish-service" \
        "$bin/gateway" "$bin/hayon-probe" /out/

# Runtime stage: slim Debian with only the shared libraries the binaries load.
FROM debian:bookworm-slim
RUN apt-get update \
  && apt-get install -y --no-install-recommends libssl3 libnghttp2-14 libsqlite3-0 libcurl4 ca-certificates tzdata \
  && rm -rf /var/lib/apt/lists/* \
  && useradd --system --uid 10001 --home-dir /var/lib/hayon hayon \
  && mkdir -p /var/lib/hayon && chown hayon:hayon /var/lib/hayon
COPY --from=build /out/ /usr/local/bin/
USER hayon
ENV HAYON_DATA_DIR=/var/lib/hayon
WORKDIR /var/lib/hayon
