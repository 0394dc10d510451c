#ifndef COPENSSL_SHIM_H
#define COPENSSL_SHIM_H
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/err.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <stdlib.h>
#include <string.h>

/* A memory BIO's contents as a NUL-terminated string the caller frees (free()). */
static inline char *fm_bio_string(BIO *bio) {
    char *data = NULL;
    long length = BIO_get_mem_data(bio, &data);
    if (length < 0 || data == NULL) return NULL;
    char *out = malloc((size_t)length + 1);
    if (out == NULL) return NULL;
    memcpy(out, data, (size_t)length);
    out[length] = 0;
    return out;
}

/* A self-signed certificate for `common_name` (P-256 key, SHA-256 signature, valid from an hour
   ago for `days`), as PEM text: the certificate and its PKCS#8 private key, which the caller
   frees. Returns 1 on success, 0 on failure. Macros of OpenSSL's API are used here, in C, since
   Swift cannot call them. */
static inline int fm_self_signed_certificate(const char *common_name, long days, char **certificate_pem,
                                              char **key_pem) {
    int ok = 0;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *certificate = X509_new();
    BIO *bio = NULL;
    unsigned char serial[16];
    BIGNUM *number = NULL;
    *certificate_pem = NULL;
    *key_pem = NULL;
    if (key == NULL || certificate == NULL) goto done;
    if (RAND_bytes(serial, sizeof serial) != 1) goto done;
    serial[0] &= 0x7f;
    number = BN_bin2bn(serial, sizeof serial, NULL);
    if (number == NULL || BN_to_ASN1_INTEGER(number, X509_get_serialNumber(certificate)) == NULL) goto done;
    if (X509_set_version(certificate, 2) != 1) goto done;
    if (X509_gmtime_adj(X509_getm_notBefore(certificate), -3600) == NULL) goto done;
    if (X509_gmtime_adj(X509_getm_notAfter(certificate), days * 86400L) == NULL) goto done;
    if (X509_set_pubkey(certificate, key) != 1) goto done;
    X509_NAME *name = X509_get_subject_name(certificate);
    if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)common_name, -1, -1, 0) != 1)
        goto done;
    if (X509_set_issuer_name(certificate, name) != 1) goto done;
    if (X509_sign(certificate, key, EVP_sha256()) == 0) goto done;
    bio = BIO_new(BIO_s_mem());
    if (bio == NULL || PEM_write_bio_X509(bio, certificate) != 1) goto done;
    *certificate_pem = fm_bio_string(bio);
    BIO_free(bio);
    bio = BIO_new(BIO_s_mem());
    if (bio == NULL || PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1) goto done;
    *key_pem = fm_bio_string(bio);
    ok = *certificate_pem != NULL && *key_pem != NULL;
done:
    if (!ok) {
        free(*certificate_pem);
        free(*key_pem);
        *certificate_pem = NULL;
        *key_pem = NULL;
    }
    BIO_free(bio);
    BN_free(number);
    X509_free(certificate);
    EVP_PKEY_free(key);
    return ok;
}

/* The SHA-256 of a PEM certificate's DER encoding into `digest` (32 bytes); 1 on success. */
static inline int fm_certificate_sha256(const char *pem, unsigned char *digest) {
    BIO *bio = BIO_new_mem_buf(pem, -1);
    if (bio == NULL) return 0;
    X509 *certificate = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (certificate == NULL) return 0;
    unsigned int length = 0;
    int ok = X509_digest(certificate, EVP_sha256(), digest, &length) == 1 && length == 32;
    X509_free(certificate);
    return ok;
}
#endif
