/* The least a tool that runs a command as its own child pays: fork, exec
 * the command, wait for it. No namespaces, no checks. bench/jexec.sh
 * builds it static and times it beside jexec-rs, nsenter and the command
 * alone. Usage: forkexec PATH [ARG...] */
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2)
        return 64;
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[1], argv + 1);
        _exit(127);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) < 0)
        return 71;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
