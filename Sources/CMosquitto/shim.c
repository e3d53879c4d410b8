/* The libmosquitto shim: options in, one threaded client out; see lotr_mqtt.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lotr_mqtt.h"

struct lotr_mqtt {
  struct mosquitto *mosq;
  char *host;
  int port, keepalive_s;
  pthread_t thread;
  atomic_int stopping;
  lotr_mqtt_event_fn on_event;
  void *context;
  char *status_topic, *birth_payload;
  int status_qos;
  atomic_int unwritten;    /* publishes queued minus those written (QoS 0) or acknowledged (QoS 1) */
  atomic_int status_mid;   /* the mid of the final status message, -1 before it is sent */
  atomic_int status_done;
};

static int library_users;

static int is_set(const char *s) { return s && *s; }

static void on_connect(struct mosquitto *mosq, void *obj, int rc) {
  lotr_mqtt *m = obj;
  if (rc == 0) {
    /* A reconnect drops what was queued on the old socket, without on_publish. */
    atomic_store(&m->unwritten, 0);
    if (mosquitto_publish(mosq, NULL, m->status_topic, (int)strlen(m->birth_payload), m->birth_payload, m->status_qos,
                          true) == MOSQ_ERR_SUCCESS)
      atomic_fetch_add(&m->unwritten, 1);
  }
  if (m->on_event) m->on_event(m->context, LOTR_MQTT_CONNECTED, rc, mosquitto_connack_string(rc));
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc) {
  (void)mosq;
  lotr_mqtt *m = obj;
  if (m->on_event) m->on_event(m->context, LOTR_MQTT_DISCONNECTED, rc, mosquitto_strerror(rc));
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid) {
  (void)mosq;
  lotr_mqtt *m = obj;
  if (mid == atomic_load(&m->status_mid)) atomic_store(&m->status_done, 1);
  /* QoS 0: written to the socket; QoS 1: PUBACK received. QoS 1 messages queued before
   * a reconnect are resent and acknowledged after the reset: readers clamp at zero. */
  atomic_fetch_sub(&m->unwritten, 1);
}

/* libmosquitto's loop_forever reconnects by itself once a connection has existed, but
 * not after a first attempt that failed at once (refused, no DNS yet at boot), and it
 * returns on some errors (e.g. name resolution). So this thread owns the retries: connect
 * (blocking, on this thread only), loop until the connection is given up, wait 1 s
 * doubling to 30 s, again, until lotr_mqtt_stop. */
static void *network_main(void *arg) {
  lotr_mqtt *m = arg;
  int delay_s = 1, ever_connected = 0;
  while (!atomic_load(&m->stopping)) {
    int rc = ever_connected ? mosquitto_reconnect(m->mosq) : mosquitto_connect(m->mosq, m->host, m->port, m->keepalive_s);
    if (rc == MOSQ_ERR_SUCCESS) {
      ever_connected = 1;
      delay_s = 1;
      mosquitto_loop_forever(m->mosq, 1000, 1); /* returns after lotr_mqtt_stop's disconnect, or gives up */
      continue;
    }
    if (m->on_event) m->on_event(m->context, LOTR_MQTT_CONNECT_FAILED, rc, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
    for (int waited = 0; waited < delay_s * 10 && !atomic_load(&m->stopping); waited++) {
      struct timespec ts = {0, 100 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
    delay_s = delay_s * 2 > 30 ? 30 : delay_s * 2;
  }
  return NULL;
}

static void set_err(char *err, size_t errlen, const char *what, int rc) {
  snprintf(err, errlen, "%s: %s", what, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
}

lotr_mqtt *lotr_mqtt_start(const lotr_mqtt_options *o, lotr_mqtt_event_fn on_event, void *context, char *err,
                           size_t errlen) {
  if (!is_set(o->host) || o->port <= 0 || o->port > 65535 || !is_set(o->status_topic) || !o->will_payload ||
      !o->birth_payload) {
    snprintf(err, errlen, "broker host, port and status topic are required");
    return NULL;
  }
  if (library_users++ == 0) mosquitto_lib_init();
  lotr_mqtt *m = calloc(1, sizeof *m);
  if (!m) { snprintf(err, errlen, "out of memory"); return NULL; }
  m->on_event = on_event;
  m->context = context;
  m->host = strdup(o->host);
  m->port = o->port;
  m->keepalive_s = o->keepalive_s > 0 ? o->keepalive_s : 30;
  m->status_topic = strdup(o->status_topic);
  m->birth_payload = strdup(o->birth_payload);
  m->status_qos = o->status_qos;
  atomic_store(&m->status_mid, -1);
  int rc;
  m->mosq = mosquitto_new(is_set(o->client_id) ? o->client_id : NULL, true, m);
  if (!m->mosq) { set_err(err, errlen, "mosquitto_new", MOSQ_ERR_ERRNO); goto fail; }
  mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  mosquitto_threaded_set(m->mosq, true); /* our network_main thread; publishes only queue */
  mosquitto_reconnect_delay_set(m->mosq, 1, 30, true);
  if ((rc = mosquitto_will_set(m->mosq, o->status_topic, (int)strlen(o->will_payload), o->will_payload, o->status_qos,
                               true)) != MOSQ_ERR_SUCCESS) {
    set_err(err, errlen, "will", rc);
    goto fail;
  }
  if (is_set(o->username) &&
      (rc = mosquitto_username_pw_set(m->mosq, o->username, o->password)) != MOSQ_ERR_SUCCESS) {
    set_err(err, errlen, "username/password", rc);
    goto fail;
  }
  if (is_set(o->tls_ca_file) || is_set(o->tls_ca_dir)) {
    if (is_set(o->tls_cert_file) != is_set(o->tls_key_file)) {
      snprintf(err, errlen, "TLS: a client certificate needs both its certificate and key files");
      goto fail;
    }
    rc = mosquitto_tls_set(m->mosq, is_set(o->tls_ca_file) ? o->tls_ca_file : NULL,
                           is_set(o->tls_ca_dir) ? o->tls_ca_dir : NULL,
                           is_set(o->tls_cert_file) ? o->tls_cert_file : NULL,
                           is_set(o->tls_key_file) ? o->tls_key_file : NULL, NULL);
    if (rc != MOSQ_ERR_SUCCESS) { set_err(err, errlen, "TLS", rc); goto fail; }
  } else if (is_set(o->tls_cert_file) || is_set(o->tls_key_file)) {
    snprintf(err, errlen, "TLS: a client certificate needs a CA file or directory to check the broker");
    goto fail;
  }
  mosquitto_connect_callback_set(m->mosq, on_connect);
  mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
  mosquitto_publish_callback_set(m->mosq, on_publish);
  if ((rc = pthread_create(&m->thread, NULL, network_main, m)) != 0) {
    snprintf(err, errlen, "thread: %s", strerror(rc));
    goto fail;
  }
  return m;
fail:
  if (m->mosq) mosquitto_destroy(m->mosq);
  free(m->host);
  free(m->status_topic);
  free(m->birth_payload);
  free(m);
  if (--library_users == 0) mosquitto_lib_cleanup();
  return NULL;
}

int lotr_mqtt_publish(lotr_mqtt *m, const char *topic, const void *payload, int length, int qos, int retain) {
  /* Counted before the call: on_publish may run on the loop thread before it returns. */
  atomic_fetch_add(&m->unwritten, 1);
  int rc = mosquitto_publish(m->mosq, NULL, topic, length, payload, qos, retain != 0);
  if (rc != MOSQ_ERR_SUCCESS) {
    atomic_fetch_sub(&m->unwritten, 1);
    return -rc;
  }
  return 0;
}

int lotr_mqtt_unwritten(lotr_mqtt *m) {
  int n = atomic_load(&m->unwritten);
  return n > 0 ? n : 0;
}

void lotr_mqtt_stop(lotr_mqtt *m, const char *final_payload, int wait_ms) {
  if (!m) return;
  int mid = 0;
  if (final_payload &&
      mosquitto_publish(m->mosq, &mid, m->status_topic, (int)strlen(final_payload), final_payload, m->status_qos, true) ==
          MOSQ_ERR_SUCCESS) {
    atomic_store(&m->status_mid, mid);
    /* The mid is known only after the call, so an immediate PUBACK may have come first:
     * then on_publish saw status_mid == -1 and we wait out the timeout (bounded). */
    for (int waited = 0; waited < wait_ms && !atomic_load(&m->status_done); waited += 10) {
      struct timespec ts = {0, 10 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
  }
  atomic_store(&m->stopping, 1);
  mosquitto_disconnect(m->mosq);
  /* A blocking connect to an unreachable broker may take minutes, and a reconnect that
   * raced with the disconnect above runs on: the process is about to exit, so after a
   * while leave the thread (and the client it uses) behind. */
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 2;
  if (pthread_timedjoin_np(m->thread, NULL, &deadline) != 0) {
    pthread_detach(m->thread);
    return;
  }
  mosquitto_destroy(m->mosq);
  free(m->host);
  free(m->status_topic);
  free(m->birth_payload);
  free(m);
  if (--library_users == 0) mosquitto_lib_cleanup();
}

const char *lotr_mqtt_strerror(int code) {
  if (code == -MOSQ_ERR_ERRNO) return strerror(errno);
  return mosquitto_strerror(code < 0 ? -code : code);
}

void lotr_mqtt_library_version(char *out, size_t len) {
  int major = 0, minor = 0, revision = 0;
  mosquitto_lib_version(&major, &minor, &revision);
  snprintf(out, len, "%d.%d.%d", major, minor, revision);
}
