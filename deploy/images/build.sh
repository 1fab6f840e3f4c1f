#!/usr/bin/env bash
# Builds the images (make images): static binaries of the four services and
# agentctl for each platform, the patched Dapr runtime for each platform
# (deploy/dapr-runtime/build.sh, cached), then the OCI layout in dist/oci
# with cmd/images. Environment: VERSION, REVISION, SOURCE_DATE_EPOCH,
# PLATFORMS, and for cmd/images SA_SIGNING_KEY_FILE / SA_SIGNING_KEY and
# IMAGE_REGISTRY.
set -euo pipefail
# The Go release the Makefile uses (see GOTOOLCHAIN there) when run on its own.
if [ "${GOTOOLCHAIN:-local}" = local ]; then export GOTOOLCHAIN=go1.27.3; fi
root=$(cd "$(dirname "$0")/../.." && pwd)
dist=${DIST:-$root/dist}
: "${VERSION:?VERSION is required (the Makefile passes git describe)}"
: "${REVISION:?REVISION is required (the Makefile passes git rev-parse HEAD)}"
: "${SOURCE_DATE_EPOCH:?SOURCE_DATE_EPOCH is required (the Makefile passes the commit time)}"
platforms=${PLATFORMS:-linux/amd64 linux/arm64}
services=(orchestrator extractor publisher health)
export GOWORK="$root/go.work" GOFLAGS=-buildvcs=false CGO_ENABLED=0

cd "$root"
for p in $platforms; do
  out="$dist/bin/${p/\//_}"
  mkdir -p "$out"
  deploy/dapr-runtime/build.sh "$out" "$p"
  rm -f "$out/nats-server" # infrastructure, not shipped in an image
  echo "==> static binaries for $p"
  for s in "${services[@]}"; do
    GOOS=${p%/*} GOARCH=${p#*/} go build -trimpath -tags timetzdata -gcflags=all=-dwarf=false \
      -ldflags "-s -w -X github.com/secure-agent/secure-agent/libs/bootstrap.Version=$VERSION" -o "$out/$s" "./services/$s/cmd/$s"
  done
  GOOS=${p%/*} GOARCH=${p#*/} go build -trimpath -tags timetzdata -gcflags=all=-dwarf=false -ldflags "-s -w -X main.version=$VERSION" -o "$out/agentctl" ./agentctl
done
go build -o "$dist/bin/images" ./deploy/images/cmd/images
"$dist/bin/images" -out "$dist/oci" -bin "$dist/bin" -platforms "$(echo $platforms | tr ' ' ',')" \
  -version "$VERSION" -revision "$REVISION" -source-date-epoch "$SOURCE_DATE_EPOCH"
