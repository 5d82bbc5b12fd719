/* The system call loop of bench/peers.sh: nanoseconds per call of
 * getppid, a one-byte write and read on a pipe, ioctl(FIONREAD) on it, and
 * fork (clone) with the wait for the child's exit; the best of 7 batches
 * each, in the thread's CPU time (user and system), which time spent
 * preempted by the machine's other work does not count. Built static, so
 * that it runs in any root: syscalls [SCALE]. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv)
{
	long scale = argc > 1 ? atol(argv[1]) : 1;
	long n = 50000 * scale, forks = 300 * scale;
	int p[2], avail;
	char c = 'x';
	double best[4] = {1e18, 1e18, 1e18, 1e18};
	if (pipe(p))
		return 1;
	for (int b = 0; b < 7; b++) {
		double t = now();
		for (long i = 0; i < n; i++)
			syscall(SYS_getppid);
		double d = (now() - t) / n;
		best[0] = d < best[0] ? d : best[0];
		t = now();
		for (long i = 0; i < n; i++)
			if (write(p[1], &c, 1) != 1 || read(p[0], &c, 1) != 1)
				return 1;
		d = (now() - t) / n;
		best[1] = d < best[1] ? d : best[1];
		t = now();
		for (long i = 0; i < n; i++)
			ioctl(p[0], FIONREAD, &avail);
		d = (now() - t) / n;
		best[2] = d < best[2] ? d : best[2];
		t = now();
		for (long i = 0; i < forks; i++) {
			pid_t pid = fork();
			if (pid == 0)
				_exit(0);
			if (pid < 0 || waitpid(pid, NULL, 0) != pid)
				return 1;
		}
		d = (now() - t) / forks;
		best[3] = d < best[3] ? d : best[3];
	}
	printf("getppid %.1f\nread+write %.1f\nioctl %.1f\nclone %.1f\n", best[0], best[1], best[2], best[3]);
	return 0;
}
