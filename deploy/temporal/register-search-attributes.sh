#!/bin/sh
# One-shot job (temporalio/admin-tools): register Pressroom's custom search attributes on the
# namespace, so the Temporal UI can filter jobs (workflows/search_attributes.py). Idempotent:
# an attribute that already exists is left alone.
set -eu
: "${TEMPORAL_ADDRESS:=temporal:7233}"
: "${TEMPORAL_NAMESPACE:=default}"

until temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do
  echo "waiting for Temporal at $TEMPORAL_ADDRESS"
  sleep 2
done

for name in PressroomJobId PressroomTask PressroomSite PressroomState; do
  if temporal operator search-attribute list --address "$TEMPORAL_ADDRESS" \
      --namespace "$TEMPORAL_NAMESPACE" | grep -q "$name"; then
    echo "search attribute $name already registered"
  else
    temporal operator search-attribute create --address "$TEMPORAL_ADDRESS" \
      --namespace "$TEMPORAL_NAMESPACE" --name "$name" --type Keyword
  fi
done
