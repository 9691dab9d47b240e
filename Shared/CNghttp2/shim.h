#ifndef HAYON_CNGHTTP2_SHIM_H
#define HAYON_CNGHTTP2_SHIM_H
#include <nghttp2/nghttp2.h>

/// NGHTTP2_VERSION_NUM is a macro; expose it as a function so Swift can gate on it.
static inline int hayon_nghttp2_version_num(void) { return NGHTTP2_VERSION_NUM; }

#endif
