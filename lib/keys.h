/*
 * Keys: generation, the CA-generated private key in an EncryptedValue
 * (RFC 4211 2.1), and checks that a key belongs to a certificate.
 */
#ifndef PKIROLL_KEYS_H
#define PKIROLL_KEYS_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cmp_asn1.h"
#include "manifest.h"

/* A new key pair of an enum key_type; NULL on error. Caller frees. */
EVP_PKEY *keys_generate(int key_type);

/*
 * Decrypts an EncryptedValue holding a private key with the private half of
 * the protocolEncrKey. Symmetric: AES-128/192/256-CBC, 3DES-CBC, CAST5-CBC
 * (legacy provider); key transport: RSA PKCS#1 v1.5 or OAEP; plaintext
 * PKCS#8 or PKCS#1, padded or not. Returns the key (caller frees) or NULL
 * with err set.
 */
EVP_PKEY *keys_decrypt_encval(const PKR_ENCVAL *ev, EVP_PKEY *kek, char *err, size_t errlen);

/*
 * Wraps a private key into an EncryptedValue for the holder of recipient
 * (an RSA public key): cipher is the symmetric algorithm (NULL: AES-256-CBC),
 * oaep selects RSAES-OAEP over PKCS#1 v1.5. Caller frees; NULL on error.
 */
PKR_ENCVAL *keys_encrypt_encval(EVP_PKEY *key, EVP_PKEY *recipient, const EVP_CIPHER *cipher,
				int oaep);

/* 1 if priv is the private half of the certificate's public key. */
int keys_match_cert(EVP_PKEY *priv, X509 *cert);

/* Loads OpenSSL's legacy provider (for CAST5) once; 0 if unavailable. */
int keys_legacy_provider(void);

#endif
