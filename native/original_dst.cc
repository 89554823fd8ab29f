// original_dst: the destination a connection had before iptables REDIRECTed it to this process.
// Linux's netfilter keeps it in conntrack and returns it through getsockopt(SO_ORIGINAL_DST) on IPv4
// and getsockopt(IP6T_SO_ORIGINAL_DST) on IPv6; Node exposes neither, so this addon does just that
// one call. Plain N-API (node_api.h), so one build works across Node versions with the same ABI.
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80  // linux/netfilter_ipv4.h
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80  // linux/netfilter_ipv6/ip6_tables.h
#endif

static napi_value ThrowErrno(napi_env env, const char* what, int err) {
  char message[256];
  snprintf(message, sizeof(message), "%s: %s (errno %d)", what, strerror(err), err);
  napi_throw_error(env, "E_ORIGINAL_DST_SYSCALL", message);
  return nullptr;
}

static napi_value MakeResult(napi_env env, const char* address, unsigned port) {
  napi_value result, addr, prt;
  if (napi_create_object(env, &result) != napi_ok) return nullptr;
  if (napi_create_string_utf8(env, address, NAPI_AUTO_LENGTH, &addr) != napi_ok) return nullptr;
  if (napi_create_uint32(env, port, &prt) != napi_ok) return nullptr;
  if (napi_set_named_property(env, result, "address", addr) != napi_ok) return nullptr;
  if (napi_set_named_property(env, result, "port", prt) != napi_ok) return nullptr;
  return result;
}

// getOriginalDst(fd: number): { address: string; port: number } | null
// null means the socket carries no netfilter NAT record (it was not redirected: ENOENT), which
// callers treat as "the destination is the local address".
static napi_value GetOriginalDst(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) return nullptr;
  int32_t fd = -1;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "E_ORIGINAL_DST_ARG", "getOriginalDst(fd): fd must be a non-negative integer");
    return nullptr;
  }

  struct sockaddr_storage local;
  socklen_t local_len = sizeof(local);
  if (getsockname(fd, reinterpret_cast<struct sockaddr*>(&local), &local_len) != 0) {
    return ThrowErrno(env, "getsockname", errno);
  }

  char text[INET6_ADDRSTRLEN];
  if (local.ss_family == AF_INET6) {
    struct sockaddr_in6 dst;
    socklen_t len = sizeof(dst);
    memset(&dst, 0, sizeof(dst));
    if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &dst, &len) == 0) {
      if (inet_ntop(AF_INET6, &dst.sin6_addr, text, sizeof(text)) == nullptr) return ThrowErrno(env, "inet_ntop", errno);
      return MakeResult(env, text, ntohs(dst.sin6_port));
    }
    int err = errno;
    // An IPv4 connection accepted on a dual-stack socket is v4-mapped: its NAT record is IPv4.
    if (IN6_IS_ADDR_V4MAPPED(&reinterpret_cast<struct sockaddr_in6*>(&local)->sin6_addr)) {
      struct sockaddr_in dst4;
      socklen_t len4 = sizeof(dst4);
      memset(&dst4, 0, sizeof(dst4));
      if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &dst4, &len4) == 0) {
        if (inet_ntop(AF_INET, &dst4.sin_addr, text, sizeof(text)) == nullptr) return ThrowErrno(env, "inet_ntop", errno);
        return MakeResult(env, text, ntohs(dst4.sin_port));
      }
      err = errno;
    }
    if (err == ENOENT) {
      napi_value null_value;
      napi_get_null(env, &null_value);
      return null_value;
    }
    return ThrowErrno(env, "getsockopt(IP6T_SO_ORIGINAL_DST)", err);
  }
  if (local.ss_family == AF_INET) {
    struct sockaddr_in dst;
    socklen_t len = sizeof(dst);
    memset(&dst, 0, sizeof(dst));
    if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &dst, &len) == 0) {
      if (inet_ntop(AF_INET, &dst.sin_addr, text, sizeof(text)) == nullptr) return ThrowErrno(env, "inet_ntop", errno);
      return MakeResult(env, text, ntohs(dst.sin_port));
    }
    int err = errno;
    if (err == ENOENT) {
      napi_value null_value;
      napi_get_null(env, &null_value);
      return null_value;
    }
    return ThrowErrno(env, "getsockopt(SO_ORIGINAL_DST)", err);
  }
  napi_throw_error(env, "E_ORIGINAL_DST_FAMILY", "getOriginalDst(fd): not an IPv4 or IPv6 socket");
  return nullptr;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  if (napi_create_function(env, "getOriginalDst", NAPI_AUTO_LENGTH, GetOriginalDst, nullptr, &fn) != napi_ok) return nullptr;
  if (napi_set_named_property(env, exports, "getOriginalDst", fn) != napi_ok) return nullptr;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
