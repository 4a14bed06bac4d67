#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft, combined broker+controller) for Vitals
# development and CI. No Docker, no tarball download: the broker's jars are
# resolved from Maven Central with `mvn` and run with the system `java` (17+).
#
# Usage: tools/kafka/kafka.sh {fetch|start|stop|status|help}
#
#   fetch   resolve the broker's runtime jars into tools/kafka/lib-$KAFKA_VERSION/
#           (skipped when that directory is already present and complete)
#   start   fetch if needed, write run/$KAFKA_VERSION-$KAFKA_PORT/server.properties,
#           format storage, start the broker in the background (pidfile kafka.pid,
#           log kafka.log in that run dir), wait until it is ready and print the
#           bootstrap address (the only line on stdout). Succeeds without doing
#           anything when that version already runs on that port.
#   stop    stop the broker listening on $KAFKA_PORT (whatever its version):
#           SIGTERM, then SIGKILL after $KAFKA_STOP_TIMEOUT seconds
#   status  exit 0 and print "running ..." when a broker started by this script
#           serves $KAFKA_PORT, else exit 1
#
# Environment:
#   KAFKA_VERSION          Kafka version (default below; 3.x and 4.x supported)
#   KAFKA_PORT             PLAINTEXT listener port (default 19092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port (default KAFKA_PORT+1)
#   KAFKA_START_TIMEOUT    seconds to wait for readiness (default 90)
#   KAFKA_STOP_TIMEOUT     seconds to wait after SIGTERM before SIGKILL (default 30)
#   KAFKA_HEAP_OPTS        default "-Xms512m -Xmx512m"
#   KAFKA_JVM_OPTS         extra JVM options for the broker
#   KAFKA_EXTRA_PROPERTIES extra lines appended to server.properties
#   KAFKA_CLEAN=1          wipe the run dir's data (topics, metadata) before start
#   KAFKA_MVN_ARGS         extra arguments for mvn (e.g. -Dmaven.repo.local=...)
#
# Secured listeners (optional; without these variables the broker is the plaintext
# one above, unchanged). The PLAINTEXT listener always stays, for inter-broker
# traffic and for tests' own admin calls.
#   KAFKA_SASL_SSL_PORT    add a SASL_SSL listener on this port (SCRAM-SHA-512)
#   KAFKA_SSL_PORT         add an SSL listener on this port that requires a client
#                          certificate signed by KAFKA_SSL_TRUSTSTORE (mutual TLS)
#   KAFKA_SSL_KEYSTORE     the broker's key and certificate (PKCS12 file); needed by both
#   KAFKA_SSL_KEYSTORE_PASSWORD  its password
#   KAFKA_SSL_TRUSTSTORE   CA certificates (PEM) that client certificates must chain to
#   KAFKA_SCRAM_USERS      SCRAM-SHA-512 users, "name=password" words separated by
#                          spaces; written when the storage is formatted (first start,
#                          or KAFKA_CLEAN=1), as `StorageTool format --add-scram`
set -euo pipefail

DEFAULT_KAFKA_VERSION=4.1.1

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_VERSION="${KAFKA_VERSION:-$DEFAULT_KAFKA_VERSION}"
KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_HOST=127.0.0.1
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms512m -Xmx512m}"
KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:-}"
KAFKA_EXTRA_PROPERTIES="${KAFKA_EXTRA_PROPERTIES:-}"
KAFKA_CLEAN="${KAFKA_CLEAN:-0}"
KAFKA_MVN_ARGS="${KAFKA_MVN_ARGS:-}"
KAFKA_SASL_SSL_PORT="${KAFKA_SASL_SSL_PORT:-}"
KAFKA_SSL_PORT="${KAFKA_SSL_PORT:-}"
KAFKA_SSL_KEYSTORE="${KAFKA_SSL_KEYSTORE:-}"
KAFKA_SSL_KEYSTORE_PASSWORD="${KAFKA_SSL_KEYSTORE_PASSWORD:-}"
KAFKA_SSL_TRUSTSTORE="${KAFKA_SSL_TRUSTSTORE:-}"
KAFKA_SCRAM_USERS="${KAFKA_SCRAM_USERS:-}"

# Line printed by kafka.KafkaRaftServer once the node is fully up (3.x and 4.x).
STARTED_MARKER="Kafka Server started"

log() { echo "kafka.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

is_uint "$KAFKA_PORT" || die "KAFKA_PORT must be a number, got '$KAFKA_PORT'"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
is_uint "$KAFKA_CONTROLLER_PORT" || die "KAFKA_CONTROLLER_PORT must be a number"
[[ "$KAFKA_PORT" != "$KAFKA_CONTROLLER_PORT" ]] || die "KAFKA_PORT and KAFKA_CONTROLLER_PORT must differ"
[[ "$KAFKA_VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] \
  || die "KAFKA_VERSION must look like 4.1.1, got '$KAFKA_VERSION'"
SECURE_PORTS=()
for p in "$KAFKA_SASL_SSL_PORT" "$KAFKA_SSL_PORT"; do
  [[ -z "$p" ]] && continue
  is_uint "$p" || die "KAFKA_SASL_SSL_PORT and KAFKA_SSL_PORT must be numbers, got '$p'"
  [[ "$p" != "$KAFKA_PORT" && "$p" != "$KAFKA_CONTROLLER_PORT" ]] \
    || die "secured listener port $p is also the plaintext or controller port"
  SECURE_PORTS+=("$p")
done
if ((${#SECURE_PORTS[@]})); then
  [[ -f "$KAFKA_SSL_KEYSTORE" ]] || die "KAFKA_SSL_KEYSTORE (a PKCS12 file) is required for secured listeners"
  [[ -n "$KAFKA_SSL_KEYSTORE_PASSWORD" ]] || die "KAFKA_SSL_KEYSTORE_PASSWORD is required with KAFKA_SSL_KEYSTORE"
fi
if [[ -n "$KAFKA_SSL_PORT" && ! -f "$KAFKA_SSL_TRUSTSTORE" ]]; then
  die "KAFKA_SSL_TRUSTSTORE (PEM CA certificates) is required with KAFKA_SSL_PORT"
fi

LIB_DIR="$HERE/lib-$KAFKA_VERSION"
RUN_ROOT="$HERE/run"
RUN_DIR="$RUN_ROOT/$KAFKA_VERSION-$KAFKA_PORT"
BOOTSTRAP="$KAFKA_HOST:$KAFKA_PORT"
if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
  JAVA="$JAVA_HOME/bin/java"
else
  JAVA=java
fi

case "${KAFKA_VERSION%%.*}" in
  3)
    POM="$HERE/pom-3.xml"
    LOG_OPTS=("-Dlog4j.configuration=file:$HERE/log4j.properties")
    ;;
  4)
    POM="$HERE/pom-4.xml"
    LOG_OPTS=("-Dlog4j2.configurationFile=$HERE/log4j2.properties")
    ;;
  *) die "unsupported Kafka major version in KAFKA_VERSION=$KAFKA_VERSION (3.x and 4.x only)" ;;
esac

# --------------------------------------------------------------------------- helpers

port_open() {  # port_open PORT -> 0 when something accepts TCP connections on it
  # shellcheck disable=SC2016  # expanded by the inner bash
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$KAFKA_HOST" "$1" 2>/dev/null
}

alive() {  # alive PID -> 0 when the process exists and is not a zombie
  local pid="$1" state
  [[ -r "/proc/$pid/stat" ]] || return 1
  state="$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$pid/stat" 2>/dev/null)" || return 1
  [[ "$state" != "Z" && "$state" != "X" ]]
}

is_our_broker() {  # is_our_broker PID RUN_DIR -> 0 when PID is a kafka.Kafka started from RUN_DIR
  local pid="$1" dir="$2" cmdline
  alive "$pid" || return 1
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmdline" == *"kafka.Kafka"* && "$cmdline" == *"$dir/server.properties"* ]]
}

# Sets FOUND_PID / FOUND_DIR / FOUND_VERSION for a broker of ours serving KAFKA_PORT.
find_running() {
  FOUND_PID="" FOUND_DIR="" FOUND_VERSION=""
  local pidfile dir pid
  for pidfile in "$RUN_ROOT"/*-"$KAFKA_PORT"/kafka.pid; do
    [[ -f "$pidfile" ]] || continue
    dir="$(dirname "$pidfile")"
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    if is_uint "$pid" && is_our_broker "$pid" "$dir"; then
      FOUND_PID="$pid" FOUND_DIR="$dir"
      FOUND_VERSION="$(basename "$dir")"
      FOUND_VERSION="${FOUND_VERSION%-"$KAFKA_PORT"}"
      return 0
    fi
  done
  return 1
}

lib_complete() {
  local marker="$LIB_DIR/.complete" jar
  [[ -f "$marker" ]] || return 1
  while IFS= read -r jar; do
    [[ -z "$jar" || -s "$LIB_DIR/$jar" ]] || return 1
  done <"$marker"
  [[ -s "$LIB_DIR/kafka_2.13-$KAFKA_VERSION.jar" ]]
}

log_tail() {  # log_tail FILE [N]
  local file="$1" n="${2:-60}"
  if [[ -f "$file" ]]; then
    echo "----- last $n lines of $file -----" >&2
    tail -n "$n" "$file" >&2 || true
    echo "----- end of $file -----" >&2
  fi
}

new_cluster_id() {  # 16 random bytes, base64url without padding (what StorageTool random-uuid prints)
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ "$id" == -* ]] || break  # Kafka never hands out ids starting with '-'
  done
  echo "$id"
}

write_server_properties() {
  local file="$RUN_DIR/server.properties"
  local listeners="PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT" protocols="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  if [[ -n "$KAFKA_SASL_SSL_PORT" ]]; then
    listeners+=",SASL_SSL://$KAFKA_HOST:$KAFKA_SASL_SSL_PORT"
    protocols+=",SASL_SSL:SASL_SSL"
  fi
  if [[ -n "$KAFKA_SSL_PORT" ]]; then
    listeners+=",SSL://$KAFKA_HOST:$KAFKA_SSL_PORT"
    protocols+=",SSL:SSL"
  fi
  cat >"$file" <<EOF
# Generated by tools/kafka/kafka.sh for Kafka $KAFKA_VERSION - do not edit, it is rewritten on start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=$listeners,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=$listeners
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=$protocols
log.dirs=$RUN_DIR/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
log.cleaner.dedupe.buffer.size=33554432
auto.create.topics.enable=true
delete.topic.enable=true
EOF
  if [[ "${KAFKA_VERSION%%.*}" -ge 4 ]]; then
    cat >>"$file" <<EOF
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
EOF
  fi
  if ((${#SECURE_PORTS[@]})); then
    cat >>"$file" <<EOF
ssl.keystore.type=PKCS12
ssl.keystore.location=$KAFKA_SSL_KEYSTORE
ssl.keystore.password=$KAFKA_SSL_KEYSTORE_PASSWORD
ssl.key.password=$KAFKA_SSL_KEYSTORE_PASSWORD
EOF
  fi
  if [[ -n "$KAFKA_SSL_TRUSTSTORE" ]]; then
    printf 'ssl.truststore.type=PEM\nssl.truststore.location=%s\n' "$KAFKA_SSL_TRUSTSTORE" >>"$file"
  fi
  if [[ -n "$KAFKA_SASL_SSL_PORT" ]]; then
    cat >>"$file" <<EOF
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOF
  fi
  if [[ -n "$KAFKA_SSL_PORT" ]]; then
    echo "listener.name.ssl.ssl.client.auth=required" >>"$file"
  fi
  if [[ -n "$KAFKA_EXTRA_PROPERTIES" ]]; then
    printf '# KAFKA_EXTRA_PROPERTIES\n%s\n' "$KAFKA_EXTRA_PROPERTIES" >>"$file"
  fi
}

# --------------------------------------------------------------------------- commands

cmd_fetch() {
  if lib_complete; then
    log "Kafka $KAFKA_VERSION jars already in $LIB_DIR ($(grep -c . "$LIB_DIR/.complete") jars)"
    return 0
  fi
  command -v mvn >/dev/null || die "mvn (Maven) is required to fetch Kafka jars (apt-get install maven)"
  local tmp="$LIB_DIR.tmp.$$" mvn_log="$LIB_DIR.mvn.$$.log" attempt ok=0 t0=$SECONDS
  rm -rf "$tmp"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp' '$mvn_log'" EXIT
  log "resolving Kafka $KAFKA_VERSION runtime jars from Maven Central into $LIB_DIR ..."
  local update=()
  for attempt in 1 2; do
    # shellcheck disable=SC2086  # KAFKA_MVN_ARGS is a list of words on purpose
    if mvn -B -q -Dstyle.color=never "${update[@]}" -f "$POM" \
        -Dkafka.version="$KAFKA_VERSION" $KAFKA_MVN_ARGS \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" \
        >"$mvn_log" 2>&1; then
      ok=1
      break
    fi
    log_tail "$mvn_log" 40
    log "mvn failed (attempt $attempt)"
    rm -rf "$tmp"
    update=(-U)  # retry with update checks: Maven caches "not found" results otherwise
    sleep 2
  done
  rm -f "$mvn_log"
  [[ "$ok" == 1 ]] || die "could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION from Maven Central"
  [[ -s "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]] || die "mvn did not produce kafka_2.13-$KAFKA_VERSION.jar"
  rm -f "$tmp"/kafka-tools-[0-9]*.jar  # never wanted on the broker classpath
  (cd "$tmp" && find . -maxdepth 1 -name '*.jar' -printf '%f\n' | sort) >"$tmp/.complete"
  if lib_complete; then  # someone else finished first
    rm -rf "$tmp"
  else
    rm -rf "$LIB_DIR"
    mv -T "$tmp" "$LIB_DIR" || { lib_complete || die "could not move jars into $LIB_DIR"; rm -rf "$tmp"; }
  fi
  trap - EXIT
  log "fetched $(grep -c . "$LIB_DIR/.complete") jars ($(du -sm "$LIB_DIR" | cut -f1) MB) in $((SECONDS - t0)) s"
}

cmd_start() {
  if find_running; then
    if [[ "$FOUND_VERSION" == "$KAFKA_VERSION" ]]; then
      log "Kafka $KAFKA_VERSION already running on $BOOTSTRAP (pid $FOUND_PID)"
      echo "$BOOTSTRAP"
      return 0
    fi
    die "Kafka $FOUND_VERSION (pid $FOUND_PID) already runs on port $KAFKA_PORT; stop it first (KAFKA_PORT=$KAFKA_PORT $0 stop)"
  fi
  local p
  for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "${SECURE_PORTS[@]}"; do
    if port_open "$p"; then
      die "port $p on $KAFKA_HOST is already in use by a process not started by this script"
    fi
  done
  command -v "$JAVA" >/dev/null || die "java (17+) is required (apt-get install openjdk-17-jre-headless)"

  cmd_fetch

  mkdir -p "$RUN_DIR"
  if [[ "$KAFKA_CLEAN" == 1 ]]; then
    rm -rf "$RUN_DIR/data"
  fi
  if [[ ! -s "$RUN_DIR/cluster.id" || ! -d "$RUN_DIR/data" ]]; then
    rm -rf "$RUN_DIR/data"
    new_cluster_id >"$RUN_DIR/cluster.id"
  fi
  write_server_properties

  local cp="$LIB_DIR/*" cluster_id t0=$SECONDS user scram=()
  cluster_id="$(cat "$RUN_DIR/cluster.id")"
  for user in $KAFKA_SCRAM_USERS; do
    [[ "$user" == ?*=?* ]] || die "KAFKA_SCRAM_USERS: expected name=password words"
    scram+=(--add-scram "SCRAM-SHA-512=[name=${user%%=*},password=${user#*=}]")
  done
  if ! "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -Djava.awt.headless=true "${LOG_OPTS[@]}" \
      -cp "$cp" kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$RUN_DIR/server.properties" --ignore-formatted "${scram[@]}" >"$RUN_DIR/format.log" 2>&1; then
    log_tail "$RUN_DIR/format.log"
    die "formatting storage in $RUN_DIR/data failed"
  fi

  local logfile="$RUN_DIR/kafka.log" pidfile="$RUN_DIR/kafka.pid"
  [[ -f "$logfile" ]] && mv -f "$logfile" "$logfile.prev"
  rm -f "$pidfile"
  # shellcheck disable=SC2206  # heap/JVM options are lists of words on purpose
  local jvm=($KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent
    -Djava.awt.headless=true "-Dkafka.logs.dir=$RUN_DIR" "${LOG_OPTS[@]}" $KAFKA_JVM_OPTS)
  # New session (setsid): the broker outlives this script and the caller's process
  # group. The inner shell records its own pid, then becomes java via exec.
  # shellcheck disable=SC2016  # expanded by the inner bash
  setsid -f bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" \
    "$JAVA" "${jvm[@]}" -cp "$cp" kafka.Kafka "$RUN_DIR/server.properties" \
    >"$logfile" 2>&1 </dev/null

  local pid="" deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  while [[ -z "$pid" ]]; do
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    if [[ -z "$pid" ]]; then
      ((SECONDS < deadline)) || die "broker did not write $pidfile"
      sleep 0.1
    fi
  done
  log "starting Kafka $KAFKA_VERSION (pid $pid) on $BOOTSTRAP, controller port $KAFKA_CONTROLLER_PORT, log $logfile"
  while :; do
    if ! alive "$pid"; then
      log_tail "$logfile" 80
      rm -f "$pidfile"
      die "Kafka $KAFKA_VERSION exited during startup (see $logfile)"
    fi
    if grep -q "$STARTED_MARKER" "$logfile" 2>/dev/null && port_open "$KAFKA_PORT"; then
      local open=1
      for p in "${SECURE_PORTS[@]}"; do port_open "$p" || open=0; done
      ((open)) && break
    fi
    if ((SECONDS >= deadline)); then
      log_tail "$logfile" 80
      log "Kafka $KAFKA_VERSION not ready after ${KAFKA_START_TIMEOUT}s; stopping it"
      cmd_stop || true
      die "Kafka $KAFKA_VERSION did not become ready on $BOOTSTRAP within ${KAFKA_START_TIMEOUT}s"
    fi
    sleep 0.25
  done
  log "Kafka $KAFKA_VERSION ready on $BOOTSTRAP after $((SECONDS - t0)) s (pid $pid)"
  echo "$BOOTSTRAP"
}

cmd_stop() {
  local pidfile dir pid stopped=0 t0 waited
  for pidfile in "$RUN_ROOT"/*-"$KAFKA_PORT"/kafka.pid; do
    [[ -f "$pidfile" ]] || continue
    dir="$(dirname "$pidfile")"
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    if is_uint "$pid" && is_our_broker "$pid" "$dir"; then
      t0=$(date +%s%N)
      log "stopping Kafka in $dir (pid $pid) ..."
      kill -TERM "$pid" 2>/dev/null || true
      waited=0
      while alive "$pid" && ((waited < KAFKA_STOP_TIMEOUT * 10)); do
        sleep 0.1
        waited=$((waited + 1))
      done
      if alive "$pid"; then
        log "pid $pid still alive after ${KAFKA_STOP_TIMEOUT}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        waited=0
        while alive "$pid" && ((waited < 100)); do
          sleep 0.1
          waited=$((waited + 1))
        done
        alive "$pid" && die "pid $pid survived SIGKILL"
      fi
      log "stopped pid $pid in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
      stopped=1
    fi
    rm -f "$pidfile"
  done
  if [[ "$stopped" == 0 ]]; then
    log "no Kafka started by this script is running on port $KAFKA_PORT"
  fi
  # The listening sockets go away with the process; give the kernel a moment.
  waited=0
  while port_open "$KAFKA_PORT" && ((waited < 50)); do
    sleep 0.1
    waited=$((waited + 1))
  done
  if port_open "$KAFKA_PORT"; then
    die "port $KAFKA_PORT still accepts connections (another process owns it?)"
  fi
}

cmd_status() {
  if find_running; then
    if port_open "$KAFKA_PORT"; then
      echo "running version=$FOUND_VERSION pid=$FOUND_PID bootstrap=$BOOTSTRAP dir=$FOUND_DIR"
      return 0
    fi
    echo "starting version=$FOUND_VERSION pid=$FOUND_PID bootstrap=$BOOTSTRAP (port not open yet)"
    return 1
  fi
  if port_open "$KAFKA_PORT"; then
    echo "not ours: port $KAFKA_PORT is open but no broker started by this script serves it"
  else
    echo "stopped: nothing on port $KAFKA_PORT"
  fi
  return 1
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

case "${1:-help}" in
  fetch) cmd_fetch ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  help | -h | --help) usage ;;
  *) usage >&2; exit 2 ;;
esac
