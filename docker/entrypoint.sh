#!/usr/bin/env bash
# The image's entrypoint. With USER_ID and GROUP_ID set (docker run -e USER_ID=$(id -u) -e
# GROUP_ID=$(id -g)), it runs the command as that user and group, so files written to mounted host
# folders (runs, exports, caches) belong to the host user instead of root. The group and user are
# reused when the ids already exist in the image, created otherwise (under a free name), and get a
# writable home. Without the ids, or with USER_ID=0, the command runs as is.
# exec (here and in gosu): the command replaces this shell, receives docker's signals directly and
# its exit code is the container's.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    set -- bash
fi

if [ -z "${USER_ID:-}" ] || [ -z "${GROUP_ID:-}" ]; then
    exec "$@"
fi
case "$USER_ID:$GROUP_ID" in
    *[!0-9:]* | :* | *:)
        echo "entrypoint.sh: USER_ID and GROUP_ID must be numeric ids, got USER_ID='$USER_ID' GROUP_ID='$GROUP_ID'" >&2
        exit 2
        ;;
esac
if [ "$USER_ID" -eq 0 ]; then
    exec "$@"
fi

# A name not taken yet: NAME, else NAME_ID.
free_name() { # database name id
    if getent "$1" "$2" > /dev/null; then
        echo "$2_$3"
    else
        echo "$2"
    fi
}

group=$(getent group "$GROUP_ID" | cut -d: -f1 || true)
if [ -z "$group" ]; then
    group=$(free_name group docclassifier "$GROUP_ID")
    groupadd --gid "$GROUP_ID" "$group"
fi

user=$(getent passwd "$USER_ID" | cut -d: -f1 || true)
if [ -z "$user" ]; then
    user=$(free_name passwd docclassifier "$USER_ID")
    useradd --uid "$USER_ID" --gid "$GROUP_ID" --no-log-init --no-create-home --home-dir "/home/$user" \
        --shell /bin/bash "$user"
fi

# A home the user can write to (pip, torch and matplotlib caches live there); an existing user's
# recorded home may be missing or not theirs (nobody's is /nonexistent).
home=$(getent passwd "$user" | cut -d: -f6)
if [ -z "$home" ] || ! gosu "$USER_ID:$GROUP_ID" test -w "$home" 2> /dev/null; then
    home="/home/$user"
    mkdir -p "$home"
    chown "$USER_ID:$GROUP_ID" "$home"
fi

# gosu sets HOME from the passwd entry; env (exec'd too) puts back the writable one.
exec gosu "$USER_ID:$GROUP_ID" env HOME="$home" USER="$user" LOGNAME="$user" "$@"
