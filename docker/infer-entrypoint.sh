#!/bin/sh
# The inference image's entrypoint. `serve [serve.py options]` runs the HTTP service on all
# interfaces (port 8000 unless --port says otherwise); anything else is infer.py's command line:
#   docker run --rm -v "$PWD:/data" docclassifier-infer /data/photo.jpg
#   docker run --rm -p 8000:8000 -v "$PWD/register:/app/register" docclassifier-infer serve --token "$TOKEN"
set -eu
app=${DOCCLASSIFIER_APP:-/app}
if [ "${1:-}" = "serve" ]; then
    shift
    exec python "$app/serve.py" --host 0.0.0.0 "$@"
fi
exec python "$app/infer.py" "$@"
