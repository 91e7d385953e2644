# Shared by train.bash and to_onnx.bash (sourced, not run): the `docker run` of the training image.
#
# Environment (all optional):
#   IMAGE     image to run                          (default docclassifier-train; see build.bash)
#   DATA_DIR  host folder with training data, mounted at the same path inside, so absolute paths in
#             configs and --data.* overrides work unchanged      (default: the repo's data_cache/)
#   CPUSET    CPUs the container may use, as for --cpuset-cpus   (default: all online, 0-(N-1))
#   NPROC     processes torchrun starts, one per GPU              (default: GPUs nvidia-smi lists, else 1)
#   GPUS      value for --gpus; empty for a machine without GPUs  (default all)
#   SHM_SIZE  value for --shm-size                                (default 16g)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE=${IMAGE:-docclassifier-train}
DATA_DIR=${DATA_DIR:-$ROOT/data_cache}
CPUSET=${CPUSET:-0-$(($(getconf _NPROCESSORS_ONLN) - 1))}
if [ -z "${NPROC:-}" ]; then
    NPROC=$(nvidia-smi -L 2> /dev/null | grep -c '^GPU' || true)
    if [ "${NPROC:-0}" -lt 1 ]; then
        NPROC=1
    fi
fi
GPUS=${GPUS-all}
SHM_SIZE=${SHM_SIZE:-16g}

# docker_run COMMAND...: the command in the training image, as the calling user, in the mounted repo.
docker_run() {
    local args=(run --rm)
    if [ -t 0 ] && [ -t 1 ]; then
        args+=(-it)  # a terminal: Ctrl-C and the progress bars behave
    fi
    args+=(-e "USER_ID=$(id -u)" -e "GROUP_ID=$(id -g)")  # entrypoint.sh runs the command as you
    if [ -n "$GPUS" ]; then
        args+=(--gpus "$GPUS")
    fi
    # --ipc=host: DataLoader workers and NCCL share memory with the host's /dev/shm (--shm-size then
    # sizes the container's own /dev/shm where host IPC is not allowed). --net=host: torchrun's
    # rendezvous and multi-node runs see the host network.
    args+=(--shm-size "$SHM_SIZE" --ipc=host --net=host --cpuset-cpus "$CPUSET")
    args+=(-v "$ROOT:/code" -w /code)
    mkdir -p "$DATA_DIR"  # made by you, not by the docker daemon as root
    args+=(-v "$DATA_DIR:$DATA_DIR")
    docker "${args[@]}" "$IMAGE" "$@"
}
