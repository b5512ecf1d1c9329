# The ilities image: one static binary, run as a non-root user, nothing
# else (no shell, no package manager). Build it with `make image`.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t ilities:latest .
#
# The binary is the entrypoint: `docker run --rm ilities:latest run ...`.

FROM golang:1.26 AS build
WORKDIR /src
# The modules first, so that a change to the code reuses their layer.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/ilities ./cmd/ilities

# distroless/static: CA certificates, time zones and /etc/passwd with its
# nonroot user (65532); no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ilities /ilities
USER 65532:65532
ENTRYPOINT ["/ilities"]
