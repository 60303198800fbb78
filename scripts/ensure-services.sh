#!/usr/bin/env bash
# The suite runs against real MariaDB/MySQL and Redis on 127.0.0.1. Start this machine's own
# services if they are not answering (CI machines have them installed), then wait for them.
set -uo pipefail
DB_HOST=${TEST_DB_HOST:-127.0.0.1}
REDIS_PORT=${TEST_REDIS_PORT:-6379}

db_up() { mariadb -h "$DB_HOST" -uroot -e "SELECT 1" >/dev/null 2>&1 || mysql -h "$DB_HOST" -uroot -e "SELECT 1" >/dev/null 2>&1; }
redis_up() { redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; }

if ! db_up && [ -x /usr/sbin/mariadbd ]; then
  echo "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
fi
if ! redis_up && command -v redis-server >/dev/null 2>&1; then
  echo "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly yes --appendfsync everysec \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
for _ in $(seq 1 60); do
  if db_up && redis_up; then exit 0; fi
  sleep 1
done
db_up || echo "MariaDB/MySQL is not answering on $DB_HOST:3306" >&2
redis_up || echo "Redis is not answering on port $REDIS_PORT" >&2
exit 1
