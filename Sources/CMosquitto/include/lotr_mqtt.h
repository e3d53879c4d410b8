/* lotr_mqtt.h — a thin, prefixed shim over libmosquitto (Debian: libmosquitto-dev) for
 * lotr-mqtt.
 *
 * One client, MQTT 3.1.1, driven by a network thread of the shim's own: it connects,
 * keeps alive and reconnects (1 s doubling to 30 s) by itself, also when the broker is
 * down or its name unresolvable at start. The caller's thread only publishes, which
 * never blocks: a message is queued and written by that thread. A "birth" message (the retained online
 * status) is published on every successful connect, and the will (offline) is left with
 * the broker. Every call returns 0 on success or a negative code: -MOSQ_ERR_* (see
 * lotr_mqtt_strerror). */
#ifndef LOTR_MQTT_H
#define LOTR_MQTT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lotr_mqtt lotr_mqtt;

typedef struct {
  const char *host;      /* broker host name or address */
  int port;
  int keepalive_s;
  const char *client_id;
  const char *username;  /* NULL or "": anonymous */
  const char *password;  /* NULL: none */
  /* TLS: on when ca_file or ca_dir is set; cert_file + key_file for client certificates. */
  const char *tls_ca_file, *tls_ca_dir, *tls_cert_file, *tls_key_file;
  /* Will (sent by the broker when the connection dies) and birth (sent by us on each connect). */
  const char *status_topic;
  const char *will_payload, *birth_payload;
  int status_qos;
} lotr_mqtt_options;

/* What the network thread reports, on that thread, with a message: connected (code: the
 * CONNACK code, 0 = accepted), disconnected (code: 0 after lotr_mqtt_stop), connect
 * failed (retried). */
enum { LOTR_MQTT_CONNECTED = 1, LOTR_MQTT_DISCONNECTED = 2, LOTR_MQTT_CONNECT_FAILED = 3 };
typedef void (*lotr_mqtt_event_fn)(void *context, int event, int code, const char *message);

/* Checks the options, sets up TLS and credentials, starts the network thread (which
 * makes the first connection attempt: a failure there is retried, not an error here).
 * NULL with a message in err on a configuration error. */
lotr_mqtt *lotr_mqtt_start(const lotr_mqtt_options *options, lotr_mqtt_event_fn on_event, void *context,
                           char *err, size_t errlen);
/* Queues one message; -MOSQ_ERR_NO_CONN while not connected (the message is not kept). */
int lotr_mqtt_publish(lotr_mqtt *m, const char *topic, const void *payload, int length, int qos, int retain);
/* Messages queued but not yet written to the broker's socket (QoS 0) or acknowledged
 * by it (QoS 1): grows when the broker or the network is slower than the stream. */
int lotr_mqtt_unwritten(lotr_mqtt *m);
/* Publishes `final_payload` on the status topic (retained) when connected, disconnects
 * cleanly (the broker then drops the will), stops the thread and frees everything. */
void lotr_mqtt_stop(lotr_mqtt *m, const char *final_payload, int wait_ms);
/* A message for a return code of this shim. */
const char *lotr_mqtt_strerror(int code);
/* "2.0.11" */
void lotr_mqtt_library_version(char *out, size_t len);

#ifdef __cplusplus
}
#endif
#endif
