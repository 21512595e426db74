#!/bin/sh
# make-secrets.sh [-n] [DIR] — create the secret files compose.yaml mounts, with fresh
# random values, in DIR (default ./secrets, beside compose.yaml). It refuses to touch a
# DIR that already holds any of them: rotate one by hand (docs/deployment.md).
#
#   socialeye_api_key   the upstream key (here: the simulator's fake key)   gateways
#   sim.env             SOCIALEYE_API_KEY=<the same>, the simulator's env_file
#   encryption_key      data-at-rest key (32 random bytes, base64)          gateways
#   postgres_password   the database password                               postgres
#   postgres_dsn        postgres://intelgate:<password>@postgres:5432/...   gateways
#   redis_acl           Redis users: intelgate (password hash), default (PING only)  redis
#   redis_url           redis://intelgate:<password>@redis:6379/0           gateways
#
# Compose bind-mounts file secrets with the host file's owner and mode, so each file
# must be readable by the user that reads it in its container: the gateways run as
# 65532, the postgres and redis images as 999. Run as root (sudo) and each file is
# chowned to its reader with mode 0400. With -n, or when not root, the container-read
# files are made 0444 instead (inside DIR, mode 0700, so other host users still cannot
# reach them); the gateways then log a "configuration warning" per such file at start.
#
# Needs a POSIX sh and coreutils (od, base64, sha256sum, tr).
set -eu

umask 077
chown_files=auto
if [ "${1:-}" = "-n" ]; then
	chown_files=no
	shift
fi
dir=${1:-secrets}
[ "$chown_files" = auto ] && [ "$(id -u)" -ne 0 ] && chown_files=no
[ "$chown_files" = auto ] && chown_files=yes

names="socialeye_api_key sim.env encryption_key postgres_password postgres_dsn redis_acl redis_url"
mkdir -p "$dir"
chmod 0700 "$dir"
for n in $names; do
	if [ -e "$dir/$n" ]; then
		echo "make-secrets.sh: $dir/$n exists; refusing to overwrite any secret (move $dir away to start afresh)" >&2
		exit 1
	fi
done

hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
put() { # name value: the value and one newline (file: references strip exactly one)
	printf '%s\n' "$2" > "$dir/$1"
}

sim_key="sim-$(hex 16)"
pg_password=$(hex 32)
redis_password=$(hex 32)
redis_hash=$(printf '%s' "$redis_password" | sha256sum | cut -d' ' -f1)

put socialeye_api_key "$sim_key"
put sim.env "SOCIALEYE_API_KEY=$sim_key"
put encryption_key "$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
put postgres_password "$pg_password"
# sslmode=disable: the compose network is private to this project. Across hosts use
# sslmode=verify-full with the server's CA.
put postgres_dsn "postgres://intelgate:$pg_password@postgres:5432/intelgate?sslmode=disable"
printf 'user default on nopass resetchannels -@all +ping\nuser intelgate on #%s ~* &* +@all\n' \
	"$redis_hash" > "$dir/redis_acl"
put redis_url "redis://intelgate:$redis_password@redis:6379/0"

gateway_files="socialeye_api_key encryption_key postgres_dsn redis_url"
store_files="postgres_password redis_acl"
if [ "$chown_files" = yes ]; then
	for n in $gateway_files; do chown 65532:65532 "$dir/$n"; chmod 0400 "$dir/$n"; done
	for n in $store_files; do chown 999:999 "$dir/$n"; chmod 0400 "$dir/$n"; done
	# sim.env is read by `docker compose` itself: leave it to whoever ran sudo.
	if [ -n "${SUDO_UID:-}" ]; then chown "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" "$dir/sim.env"; fi
else
	for n in $gateway_files $store_files; do chmod 0444 "$dir/$n"; done
	echo "make-secrets.sh: not chowning (not root, or -n): container-read files are mode 0444 inside $dir (0700)" >&2
fi
echo "make-secrets.sh: wrote $names to $dir"
