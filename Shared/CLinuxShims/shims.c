#include "CLinuxShims.h"

int hayon_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
  return accept4(fd, addr, len, flags);
}

void hayon_ignore_sigpipe(void) {
  signal(SIGPIPE, SIG_IGN);
}

unsigned long hayon_thread_self(void) {
  return (unsigned long)pthread_self();
}
