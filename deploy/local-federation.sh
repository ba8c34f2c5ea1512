#!/usr/bin/env bash
# Starts a three-region federation on this machine for demos and tests:
# a NATS supercluster (one nats-server per region, joined by gateways, the
# layout of deploy/nats/), certificates (deploy/gen-certs.sh), and one
# configuration and one iotfedd per region, all on loopback, logs and stores
# under DIR. The routes bucket lives in cn-shanghai's NATS cluster and is
# mirrored into the two others; each daemon talks to its own region's NATS
# over TLS as its own NATS user (its peer certificate, mapped by
# verify_and_map), with the least permissions that work (deploy/nats/).
#
#   deploy/local-federation.sh start DIR [BASE_PORT]   # default BASE_PORT 7100
#   deploy/local-federation.sh stop DIR
#
# Region i (0..2) listens on BASE_PORT+10*i: +0 admin, +1 bootstrap, +2 metrics, +3 peer,
# and its nats-server on +5 (clients), +6 (cluster), +7 (gateway).
# Operator token: DIR/operator.token (shared by the three, for convenience).
# Needs `npm run build` first (runs dist/cmd/iotfedd/main.js) and nats-server
# (NATS_SERVER, default: nats-server on PATH, else /usr/sbin/nats-server).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cmd=${1:-}
dir=${2:-}
base=${3:-7100}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  sed -n '2,17p' "$0" >&2
  exit 2
fi
regions=(cn-shanghai eu-central-1 us-west-1)
lats=(31.23 50.11 37.77)
lons=(121.47 8.68 -122.42)

case "$cmd" in
  start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ -f "$root/dist/cmd/iotfedd/main.js" ] || { echo "run 'npm run build' first" >&2; exit 1; }
    ids=()
    for r in "${regions[@]}"; do ids+=("iot-$r-1"); done
    nats_names=()
    for r in "${regions[@]}"; do nats_names+=("nats-$r"); done
    [ -f "$dir/tls/ca.crt" ] || bash "$here/gen-certs.sh" "$dir/tls" "${ids[@]}" "${nats_names[@]}" >/dev/null
    [ -f "$dir/seal.key" ] || (umask 077; openssl rand -base64 32 > "$dir/seal.key")
    [ -f "$dir/operator.token" ] || (umask 077; openssl rand -hex 24 > "$dir/operator.token")
    nats_server=${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}
    [ -x "$nats_server" ] || { echo "nats-server not found (apt-get install nats-server, or set NATS_SERVER)" >&2; exit 1; }
    gateways=""
    for j in 0 1 2; do
      [ -n "$gateways" ] && gateways+=", "
      gateways+="{ name: c-${regions[$j]}, urls: [nats://127.0.0.1:$((base + 10 * j + 7))] }"
    done
    # One NATS user per daemon (deploy/nats/iotfed-users.conf explains each permission).
    users=""
    for j in 0 1 2; do
      mirror=""
      [ "$j" != 0 ] && mirror="KV_iotfed-routes_${regions[$j]}"
      users+="$(bash "$here/nats/iotfed-user.sh" "${ids[$j]}" iotfed-routes "$mirror")"$'\n'
    done
    for i in 0 1 2; do
      p=$((base + 10 * i))
      name="nats-${regions[$i]}"
      mkdir -p "$dir/$name"
      {
        echo "server_name: $name"
        echo "listen: 127.0.0.1:$((p + 5))"
        echo "tls { cert_file: \"$dir/tls/$name.crt\", key_file: \"$dir/tls/$name.key\", ca_file: \"$dir/tls/ca.crt\", verify_and_map: true }"
        echo "authorization { users: ["
        echo "$users"
        echo "] }"
        echo "jetstream { store_dir: \"$dir/$name\" }"
        echo "cluster { name: c-${regions[$i]}, listen: 127.0.0.1:$((p + 6)), routes: [nats://127.0.0.1:$((p + 6))] }"
        echo "gateway { name: c-${regions[$i]}, listen: 127.0.0.1:$((p + 7)), gateways: [ $gateways ] }"
      } > "$dir/$name.conf"
      if [ -f "$dir/$name.pid" ] && kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null; then continue; fi
      nohup "$nats_server" -c "$dir/$name.conf" > "$dir/$name.log" 2>&1 &
      echo $! > "$dir/$name.pid"
    done
    for i in 0 1 2; do
      name="nats-${regions[$i]}"
      for _ in $(seq 1 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$((base + 10 * i + 5))") 2>/dev/null && break
        if ! kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null; then
          echo "$name exited: see $dir/$name.log" >&2
          tail -3 "$dir/$name.log" >&2
          exit 1
        fi
        sleep 0.1
      done
    done
    for i in 0 1 2; do
      p=$((base + 10 * i))
      {
        echo "region: { id: ${regions[$i]}, latitude: ${lats[$i]}, longitude: ${lons[$i]} }"
        echo "instance: { id: ${ids[$i]}, kind: public, mqtt: { host: mqtt.${regions[$i]}.localhost, port: 1883 } }"
        echo "dataDir: $dir/${ids[$i]}"
        echo "listen: { admin: 127.0.0.1:$p, bootstrap: 127.0.0.1:$((p + 1)), metrics: 127.0.0.1:$((p + 2)) }"
        echo "security: { sealKeyFile: $dir/seal.key, operatorTokenFile: $dir/operator.token }"
        echo "peer:"
        echo "  listen: 127.0.0.1:$((p + 3))"
        echo "  tls: { caFile: $dir/tls/ca.crt, certFile: $dir/tls/${ids[$i]}.crt, keyFile: $dir/tls/${ids[$i]}.key }"
        echo "replication:"
        echo "  servers: [tls://127.0.0.1:$((p + 5))]"
        echo "  caFile: $dir/tls/ca.crt"
        echo "  certFile: $dir/tls/${ids[$i]}.crt"
        echo "  keyFile: $dir/tls/${ids[$i]}.key"
        echo "  placementCluster: c-${regions[0]}"
        if [ "$i" != 0 ]; then echo "  mirror: { stream: KV_iotfed-routes_${regions[$i]}, cluster: c-${regions[$i]} }"; fi
        echo "peers:"
        for j in 0 1 2; do
          [ "$j" = "$i" ] && continue
          q=$((base + 10 * j))
          echo "  - { id: ${ids[$j]}, region: ${regions[$j]}, kind: public, address: 127.0.0.1:$((q + 3)), mqtt: { host: mqtt.${regions[$j]}.localhost, port: 1883 } }"
        done
      } > "$dir/${ids[$i]}.yaml"
      if [ -f "$dir/${ids[$i]}.pid" ] && kill -0 "$(cat "$dir/${ids[$i]}.pid")" 2>/dev/null; then
        echo "${ids[$i]} already running (pid $(cat "$dir/${ids[$i]}.pid"))"
        continue
      fi
      nohup node "$root/dist/cmd/iotfedd/main.js" --config "$dir/${ids[$i]}.yaml" > "$dir/${ids[$i]}.log" 2>&1 &
      echo $! > "$dir/${ids[$i]}.pid"
    done
    for i in 0 1 2; do
      p=$((base + 10 * i))
      for _ in $(seq 1 300); do
        if curl -s "http://127.0.0.1:$((p + 2))/readyz" 2>/dev/null | grep -q '"status":"ready"'; then break; fi
        if ! kill -0 "$(cat "$dir/${ids[$i]}.pid")" 2>/dev/null; then
          echo "${ids[$i]} exited: see $dir/${ids[$i]}.log" >&2
          tail -5 "$dir/${ids[$i]}.log" >&2
          exit 1
        fi
        sleep 0.1
      done
      echo "${regions[$i]}: ${ids[$i]} admin 127.0.0.1:$p  bootstrap http://127.0.0.1:$((p + 1))/auth/bootstrap  metrics http://127.0.0.1:$((p + 2))/metrics"
    done
    echo "operator: export IOTFED_TOKEN_FILE=$dir/operator.token; npx iotfedctl --server 127.0.0.1:$base whoami"
    ;;
  stop)
    # Daemons first (they drain), then NATS.
    for f in "$dir"/iot-*.pid "$dir"/nats-*.pid; do
      [ -e "$f" ] || continue
      pid=$(cat "$f")
      if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      fi
      rm -f "$f"
    done
    echo "stopped"
    ;;
  *)
    echo "unknown command $cmd: start or stop" >&2
    exit 2
    ;;
esac
