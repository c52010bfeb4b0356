/*
 * Keys: generation, and checks that a key belongs to a certificate.
 */
#ifndef PKIROLL_KEYS_H
#define PKIROLL_KEYS_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base/base.h"

/* A new key pair of an enum key_type; NULL on error. Caller frees. */
EVP_PKEY *keys_generate(int key_type);

/* 1 if priv is the private half of the certificate's public key. */
int keys_match_cert(EVP_PKEY *priv, X509 *cert);

/* Loads OpenSSL's legacy provider (for CAST5) once; 0 if unavailable. */
int keys_legacy_provider(void);

#endif
