/*
 * pkiroll-ca's listeners: HTTP (libmicrohttpd, one thread per connection)
 * and the TCP framings (one thread per connection), until SIGTERM/SIGINT.
 */
#ifndef PKIROLL_CA_LISTEN_H
#define PKIROLL_CA_LISTEN_H

#include "handler.h"

struct listen_cfg {
	const char *http;	     /* ADDR:PORT, or NULL */
	const char *tcp;	     /* ADDR:PORT, or NULL */
	const char *https;	     /* ADDR:PORT, or NULL: TLS with a certificate from this CA */
	const char *path;	     /* HTTP path, default /pkix/ */
	int tcp_v0_only;	     /* answer version 10 frames with a version 0 errorMsgRep */
	const char *https_client_ca; /* PEM file: HTTPS requires a client certificate
				      * chaining to it; NULL: none asked for */
};

/* Serves until a signal; prints "listening KIND ADDR:PORT". 0 or -1. */
int ca_serve(const struct ca_cfg *cfg, const struct listen_cfg *lc);

#endif
