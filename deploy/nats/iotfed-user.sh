#!/usr/bin/env bash
# Prints the NATS user of one iotfedd daemon, with the least permissions
# that work, for the `authorization { users: [...] }` block of a server
# configuration (deploy/nats/README.md, "Users and permissions").
#
#   deploy/nats/iotfed-user.sh INSTANCE_ID [BUCKET [MIRROR_STREAM]]
#   deploy/nats/iotfed-user.sh --edge EDGE_ID [BUCKET [MIRROR_STREAM]]
#
# With --edge, the user of stateless edges (iotfedd --role edge, whose
# instance.id is EDGE_ID): it reads the bucket (and mirror) and nothing
# else — it cannot put a record, create or change a stream, or publish an
# event.
#
# The user's name is the instance id: with `tls { verify_and_map: true }`
# the server takes it from the daemon's client certificate (the peer
# certificate, whose DNS name is the instance id; replication.certFile).
# BUCKET defaults to iotfed-routes; MIRROR_STREAM is the daemon's
# replication.mirror.stream, if it reads routes from a mirror.
#
# What the daemon may do, and nothing else:
#   - put records into the routes bucket ($KV.<bucket>.>); which records it
#     may change is decided by signatures (docs/operating/security.md), not
#     by NATS;
#   - read the bucket (and its mirror): stream info, create and update the
#     bucket's stream and the mirror, ordered consumers, direct gets, flow
#     control replies — never delete or purge a stream or a message;
#   - publish its job events (iotfed.jobs.<instance id>.>), authorization
#     code events (iotfed.account.*.authcode) and its devices' data for the
#     accounts that may see it (iotfed.data.>: any account acts at any
#     instance whose operator enabled it);
#   - receive replies on its own inbox prefix only (_INBOX_<instance id>,
#     replication.inboxPrefix's default): no daemon reads another's replies.
set -euo pipefail
edge=0
if [ "${1:-}" = "--edge" ]; then
  edge=1
  shift
fi
id=${1:?instance id}
bucket=${2:-iotfed-routes}
mirror=${3:-}
if ! [[ $id =~ ^[A-Za-z0-9-]{2,64}$ ]]; then
  echo "$0: instance id '$id' must be 2-64 letters, digits or -" >&2
  exit 2
fi
streams=("KV_$bucket")
[ -n "$mirror" ] && streams+=("$mirror")
if [ $edge = 1 ]; then
  pub=("\$JS.API.INFO")
else
  pub=("\$KV.$bucket.>" "\$JS.API.INFO" "iotfed.jobs.$id.>" "iotfed.account.*.authcode" "iotfed.data.>")
fi
for s in "${streams[@]}"; do
  pub+=("\$JS.API.STREAM.INFO.$s")
  [ $edge = 1 ] || pub+=("\$JS.API.STREAM.CREATE.$s" "\$JS.API.STREAM.UPDATE.$s")
  pub+=(
    "\$JS.API.STREAM.MSG.GET.$s"
    "\$JS.API.DIRECT.GET.$s"
    "\$JS.API.DIRECT.GET.$s.>"
    "\$JS.API.CONSUMER.CREATE.$s"
    "\$JS.API.CONSUMER.CREATE.$s.>"
    "\$JS.API.CONSUMER.INFO.$s.>"
    "\$JS.API.CONSUMER.DELETE.$s.>"
    "\$JS.API.CONSUMER.MSG.NEXT.$s.>"
    "\$JS.FC.$s.>"
  )
done
list() {
  local out="" x
  for x in "$@"; do
    [ -n "$out" ] && out+=", "
    out+="\"$x\""
  done
  printf '%s' "$out"
}
printf '  { user: "%s", permissions: { publish: { allow: [%s] }, subscribe: { allow: [%s] } } }\n' \
  "$id" "$(list "${pub[@]}")" "$(list "_INBOX_$id.>")"
