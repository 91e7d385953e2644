#!/usr/bin/env bash
# Build an image from docker/Dockerfile, from any working directory:
#   docker/build.bash                       # the training image, tagged docclassifier-train
#   TARGET=infer docker/build.bash          # the slim inference image, tagged docclassifier-infer
#   IMAGE=me/dc:1 docker/build.bash --build-arg PYTORCH_IMAGE=pytorch/pytorch:2.7.1-cuda12.6-cudnn9-runtime
# Extra arguments go to `docker build`. The build context is the repo; .dockerignore keeps runs,
# data and caches out of it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target=${TARGET:-train}
case "$target" in
    train) image=${IMAGE:-docclassifier-train} ;;
    infer) image=${IMAGE:-docclassifier-infer} ;;
    *)
        echo "$0: TARGET must be train or infer, got '$target'" >&2
        exit 2
        ;;
esac
docker build --file "$root/docker/Dockerfile" --target "$target" --tag "$image" "$@" "$root"
