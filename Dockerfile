# opwatch as a static binary on a distroless base: no shell, no package
# manager, runs as an unprivileged user. Build: docker build -t opwatch .
# The SQLite driver is pure Go, so CGO_ENABLED=0 links everything in.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/opwatch/opwatch/internal/cli.Version=${VERSION}" \
    -o /out/opwatch ./cmd/opwatch

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/opwatch /usr/local/bin/opwatch
# The console, /healthz, /readyz and /metrics.
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/opwatch"]
CMD ["serve", "--listen", "0.0.0.0:8080"]
