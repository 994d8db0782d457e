/*
 * Connect-then-exec harness for the Workload API server's attestation tests (compiled by the tests with the machine's gcc).
 *
 *   connect-exec connect <workload-socket> <relay-socket> [exec-path]
 *     Connects to the Workload API socket, prints "connected <pid>", waits for a line on stdin, then either executes
 *     <exec-path> (which inherits the connected socket) as "<exec-path> serve <fd> <relay-socket>", or serves itself.
 *   connect-exec serve <fd> <relay-socket>
 *     Listens on <relay-socket>, prints "listening", accepts one client and relays bytes between it and <fd>.
 *
 * So a test's gRPC client, connected to the relay socket, makes its calls over the connection that the first program opened,
 * while the process on the other end of it runs whatever was executed since.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int unix_address(const char *path, struct sockaddr_un *address)
{
    memset(address, 0, sizeof *address);
    address->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof address->sun_path) {
        fprintf(stderr, "socket path too long: %s\n", path);
        return -1;
    }
    strcpy(address->sun_path, path);
    return 0;
}

static int write_all(int fd, const char *data, ssize_t length)
{
    while (length > 0) {
        ssize_t written = write(fd, data, (size_t)length);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return -1;
        data += written;
        length -= written;
    }
    return 0;
}

static int serve(int upstream, const char *relay_path)
{
    struct sockaddr_un address;
    int listener = socket(AF_UNIX, SOCK_STREAM, 0);
    if (listener < 0 || unix_address(relay_path, &address) != 0) return 2;
    unlink(relay_path);
    if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0 || listen(listener, 1) != 0) {
        perror("relay bind/listen");
        return 2;
    }
    printf("listening\n");
    fflush(stdout);
    int client = accept(listener, NULL, NULL);
    if (client < 0) {
        perror("relay accept");
        return 2;
    }
    struct pollfd fds[2] = { { client, POLLIN, 0 }, { upstream, POLLIN, 0 } };
    char buffer[65536];
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return 2;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t read_count = read(fds[i].fd, buffer, sizeof buffer);
                if (read_count <= 0) return 0;
                if (write_all(i == 0 ? upstream : client, buffer, read_count) != 0) return 0;
            }
        }
    }
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "serve") == 0) {
        return serve(atoi(argv[2]), argv[3]);
    }
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "connect") == 0) {
        struct sockaddr_un address;
        int connection = socket(AF_UNIX, SOCK_STREAM, 0); /* no SOCK_CLOEXEC: the executed program inherits it */
        if (connection < 0 || unix_address(argv[2], &address) != 0) return 2;
        if (connect(connection, (struct sockaddr *)&address, sizeof address) != 0) {
            perror("connect");
            return 2;
        }
        printf("connected %d\n", (int)getpid());
        fflush(stdout);
        char line[64];
        if (fgets(line, sizeof line, stdin) == NULL) return 3;
        if (argc == 5) {
            char fd[16];
            snprintf(fd, sizeof fd, "%d", connection);
            execl(argv[4], argv[4], "serve", fd, argv[3], (char *)NULL);
            perror("execl");
            return 4;
        }
        return serve(connection, argv[3]);
    }
    fprintf(stderr, "usage: %s connect <workload-socket> <relay-socket> [exec-path] | serve <fd> <relay-socket>\n", argv[0]);
    return 1;
}
