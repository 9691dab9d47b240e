#ifndef HAYON_CLINUXSHIMS_H
#define HAYON_CLINUXSHIMS_H
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <signal.h>
#include <pthread.h>

/// accept4 is a GNU extension that Glibc's Swift overlay does not expose.
int hayon_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
/// Ignore SIGPIPE process-wide so a write to a closed peer can never kill the process.
void hayon_ignore_sigpipe(void);
/// The calling thread's id, for the event loop's isolation checks.
unsigned long hayon_thread_self(void);
#endif
