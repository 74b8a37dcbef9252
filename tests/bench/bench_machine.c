/*
 * bench_machine: what the kernel charges this machine for the two things
 * the server's message path does most, measured so that the server and
 * load-generator figures (bench/RESULTS-server.md) can be read against
 * them:
 *   - a null system call (getppid), the toll of every recv, send,
 *     epoll_wait and eventfd write, which virtual machines differ in most;
 *   - one 300-byte frame over loopback TCP: send() on one socket of a
 *     connected pair and recv() on the other, both in this thread, so the
 *     figure holds the whole kernel path (TCP, the loopback device, the
 *     receiving socket) and no scheduling. A message between two online
 *     devices takes four of these: the message in, the push out, the
 *     recipient's ack in and the sender's ack out. (Before the delivery
 *     hold it was nearer three: the sender's ack left with the group
 *     commit, in the same send as a push to that connection.)
 * Each is the best of five rounds; the first round also warms up.
 * Figures are CPU time of this thread, so another process's load moves
 * them little. Loopback only: nothing leaves 127.0.0.1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#define ROUNDS 5
#define SYSCALLS 200000
#define FRAMES 50000
#define FRAME 300

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_machine: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* A connected TCP pair on 127.0.0.1, both ends with TCP_NODELAY, as the
 * server and the load generator set it. */
static void tcp_pair(int *a, int *b)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int one = 1;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0)
        die("socket");
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 1) < 0 ||
        getsockname(l, (struct sockaddr *)&sa, &len) < 0)
        die("listen");
    *a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*a < 0 || connect(*a, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("connect");
    *b = accept(l, NULL, NULL);
    if (*b < 0)
        die("accept");
    close(l);
    (void)setsockopt(*a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    (void)setsockopt(*b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static double null_syscall_ns(void)
{
    double best = 1e18;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = cpu_ns();
        for (int i = 0; i < SYSCALLS; i++)
            (void)syscall(SYS_getppid);
        double t = (cpu_ns() - t0) / SYSCALLS;
        best = t < best ? t : best;
    }
    return best;
}

static double frame_ns(void)
{
    int a, b;
    char out[FRAME], in[FRAME];
    double best = 1e18;
    memset(out, 'x', sizeof out);
    tcp_pair(&a, &b);
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = cpu_ns();
        for (int i = 0; i < FRAMES; i++) {
            if (send(a, out, sizeof out, 0) != (ssize_t)sizeof out)
                die("send");
            size_t got = 0;
            while (got < sizeof in) {
                ssize_t n = recv(b, in + got, sizeof in - got, 0);
                if (n <= 0)
                    die("recv");
                got += (size_t)n;
            }
        }
        double t = (cpu_ns() - t0) / FRAMES;
        best = t < best ? t : best;
    }
    close(a);
    close(b);
    return best;
}

int main(void)
{
    double sc = null_syscall_ns(), fr = frame_ns();
    printf("machine: a null system call %.0f ns\n", sc);
    printf("machine: one %d-byte frame over loopback TCP (send + recv) %.0f ns, "
           "%.1f null system calls' worth\n",
           FRAME, fr, fr / sc);
    printf("machine: four of those per message between online devices: %.1f us of kernel "
           "time, %.2f cores at 25,000 messages/s\n",
           4 * fr / 1e3, 4 * fr * 25000 / 1e9);
    return 0;
}
