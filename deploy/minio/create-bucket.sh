#!/bin/sh
# One-shot job (minio/mc): create the artifacts bucket Pressroom publishes to. Idempotent.
set -eu
mc alias set local "http://minio:9000" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
mc mb --ignore-existing "local/$PRESSROOM_BUCKET"
