#!/usr/bin/env bash
# Makes a private CA and one certificate per name, for the admin and
# bootstrap listeners and for the peer plane (mutual TLS: a peer is known by
# its certificate's name, which must equal its configured instance id).
#
#   deploy/gen-certs.sh OUT_DIR NAME [NAME ...]
#
# Writes OUT_DIR/ca.crt, OUT_DIR/ca.key (keep it offline in production) and,
# per NAME, OUT_DIR/NAME.crt and OUT_DIR/NAME.key: EC P-256, valid 825 days,
# CN=NAME, subjectAltName DNS:NAME, DNS:localhost, IP:127.0.0.1, IP:::1, usable
# as server and client certificate. An existing CA in OUT_DIR is reused, so
# new names can be added later (see deploy/README.md, "Certificates").
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 OUT_DIR NAME [NAME ...]" >&2
  exit 2
fi
out=$1
shift
mkdir -p "$out"
umask 077
if [ ! -f "$out/ca.key" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=iotfed federation CA" -keyout "$out/ca.key" -out "$out/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi
for name in "$@"; do
  if ! [[ $name =~ ^[A-Za-z0-9-]{2,64}$ ]]; then
    echo "$0: name '$name' must be 2-64 letters, digits or - (an instance id)" >&2
    exit 2
  fi
  ext=$(mktemp)
  printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=critical,CA:FALSE\n' "$name" > "$ext"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
    -keyout "$out/$name.key" -out "$out/$name.csr" 2>/dev/null
  openssl x509 -req -in "$out/$name.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
    -days 825 -extfile "$ext" -out "$out/$name.crt" 2>/dev/null
  rm -f "$out/$name.csr" "$ext"
done
chmod 0644 "$out"/*.crt
echo "certificates for: $* in $out (CA: $out/ca.crt)"
