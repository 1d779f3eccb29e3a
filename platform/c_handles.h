// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// RAII owners for every C handle openbits uses, from one place.
//
//   CPtr<CURL> easy(curl_easy_init());
//   CPtr<sqlite3_stmt> stmt(raw);
//
// Ordering rules that the types cannot express:
// - every easy handle must be removed from its multi handle before either is
//   cleaned up; CurlMulti (engine/curl_multi.h) owns that order;
// - curl may call the socket callback from inside curl_multi_cleanup, so the
//   socket map must outlive the CPtr<CURLM>;
// - sqlite3 connections are closed with sqlite3_close_v2, which defers the
//   close until the last statement is finalized.
//
// This header only declares deleters for types whose headers it includes;
// it is meant for the implementation targets (store, engine), never for the
// public API.

#ifndef OPENBITS_PLATFORM_C_HANDLES_H_
#define OPENBITS_PLATFORM_C_HANDLES_H_

#include <memory>
#include <utility>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <sqlite3.h>

namespace openbits {

template <typename T>
struct CDeleter;

#define OPENBITS_DEFINE_C_DELETER(type, fn)   \
  template <>                                 \
  struct CDeleter<type> {                     \
    void operator()(type* p) const noexcept { \
      if (p != nullptr) fn(p);                \
    }                                         \
  }

OPENBITS_DEFINE_C_DELETER(CURL, curl_easy_cleanup);
OPENBITS_DEFINE_C_DELETER(CURLM, curl_multi_cleanup);
OPENBITS_DEFINE_C_DELETER(CURLU, curl_url_cleanup);
OPENBITS_DEFINE_C_DELETER(curl_slist, curl_slist_free_all);
OPENBITS_DEFINE_C_DELETER(char, curl_free);  // strings curl allocated
OPENBITS_DEFINE_C_DELETER(sqlite3, sqlite3_close_v2);
OPENBITS_DEFINE_C_DELETER(sqlite3_stmt, sqlite3_finalize);
OPENBITS_DEFINE_C_DELETER(EVP_MD_CTX, EVP_MD_CTX_free);
OPENBITS_DEFINE_C_DELETER(EVP_CIPHER_CTX, EVP_CIPHER_CTX_free);
OPENBITS_DEFINE_C_DELETER(X509, X509_free);
OPENBITS_DEFINE_C_DELETER(BIO, BIO_free);
OPENBITS_DEFINE_C_DELETER(EVP_PKEY, EVP_PKEY_free);
OPENBITS_DEFINE_C_DELETER(X509_CRL, X509_CRL_free);
OPENBITS_DEFINE_C_DELETER(PKCS12, PKCS12_free);

#undef OPENBITS_DEFINE_C_DELETER

template <typename T>
using CPtr = std::unique_ptr<T, CDeleter<T>>;

}  // namespace openbits

#endif  // OPENBITS_PLATFORM_C_HANDLES_H_
