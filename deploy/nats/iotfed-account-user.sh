#!/usr/bin/env bash
# Prints the NATS user of one account's integration (its server-side
# subscription), for the `authorization { users: [...] }` block next to the
# daemons' users (deploy/nats/README.md, "Users and permissions").
#
#   deploy/nats/iotfed-account-user.sh ACCOUNT_ID PASSWORD_HASH
#
# PASSWORD_HASH is a bcrypt hash (`nats server passwd`, or any bcrypt tool).
# The user may only read what is the account's: its devices' property posts
# and events, and those of devices granted to it (R15), on
# iotfed.data.<account id>.>, and its authorization-code events on
# iotfed.account.<account id>.>; replies on its own inbox. It publishes
# nothing: a grantee's subscription writes nothing, and changes nothing of
# the owner's.
set -euo pipefail
account=${1:?account id}
hash=${2:?bcrypt password hash}
if ! [[ $account =~ ^[0-9]{1,32}$ ]]; then
  echo "$0: account id '$account' must be digits" >&2
  exit 2
fi
printf '  { user: "acct-%s", password: "%s", permissions: { publish: { deny: [">"] }, subscribe: { allow: ["iotfed.data.%s.>", "iotfed.account.%s.>", "_INBOX_acct-%s.>"] } } }\n' \
  "$account" "$hash" "$account" "$account" "$account"
