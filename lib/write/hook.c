/*
 * The hook runner: one fork, one poll loop feeding stdin and keeping the
 * tail of the output, one deadline for the whole process group.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "write/hook.h"

/* Keeps the last HOOK_OUTPUT_MAX bytes. */
static void keep(struct hook_result *res, const char *buf, size_t n)
{
	if (n >= HOOK_OUTPUT_MAX) {
		memcpy(res->output, buf + n - HOOK_OUTPUT_MAX, HOOK_OUTPUT_MAX);
		res->outlen = HOOK_OUTPUT_MAX;
	} else {
		size_t drop =
			res->outlen + n > HOOK_OUTPUT_MAX ? res->outlen + n - HOOK_OUTPUT_MAX : 0;

		memmove(res->output, res->output + drop, res->outlen - drop);
		res->outlen -= drop;
		memcpy(res->output + res->outlen, buf, n);
		res->outlen += n;
	}
	res->output[res->outlen] = '\0';
}

/* The child: its own group, the pipes on 0, 1, 2, then the shell. */
static void child(const char *command, char *const *env, int in, int out)
{
	setpgid(0, 0);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(126);
	/* nothing of ours reaches the hook: the store, the lock, a socket */
	if (close_range(3, ~0U, 0) < 0)
		for (int fd = 3; fd < 65536; fd++)
			close(fd);
	execle("/bin/sh", "sh", "-c", command, (char *)NULL, env);
	_exit(127);
}

/* The parent's loop: input out, output in, until the shell has exited
 * (or the deadline passed and the kill is done). Returns its wait status. */
static int supervise(pid_t pid, int in, int out, const char *input, size_t inlen, int timeout_s,
		     volatile int *interrupted, struct hook_result *res)
{
	long long deadline = base_now_ms() + (long long)timeout_s * 1000, killed_at = 0;
	size_t sent = 0;
	int status = 0;
	char buf[4096];

	for (;;) {
		/* a closed pipe is polled as -1 (ignored): a hook whose output
		 * ended is waited for, not spun on */
		struct pollfd pf[2] = {{.fd = out, .events = POLLIN},
				       {.fd = in, .events = POLLOUT}};
		pid_t w = waitpid(pid, &status, WNOHANG);
		long long now = base_now_ms();

		if (w == pid)
			break;
		if (killed_at == 0 && (now >= deadline || (interrupted && *interrupted))) {
			res->timed_out = 1;
			kill(-pid, SIGTERM);
			killed_at = now;
		} else if (killed_at != 0 && now - killed_at >= HOOK_KILL_GRACE_MS) {
			kill(-pid, SIGKILL);
			killed_at = now + 3600 * 1000LL; /* once */
		}
		if (poll(pf, 2, 100) < 0 && errno != EINTR)
			continue;
		if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = read(out, buf, sizeof(buf));

			if (r > 0)
				keep(res, buf, (size_t)r);
			else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
				close(out);
				out = -1;
			}
		}
		if (in >= 0 && (pf[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t r = sent < inlen ? write(in, input + sent, inlen - sent) : 0;

			if (r > 0)
				sent += (size_t)r;
			if ((r < 0 && errno != EAGAIN && errno != EINTR) || sent >= inlen) {
				close(in);
				in = -1;
			}
		}
	}
	/* whatever the shell left running is the hook's too: killed first,
	 * so that a writer it left cannot keep the drain below going */
	kill(-pid, SIGKILL);
	/* what is still in the pipe (at most its capacity, 64 KiB) */
	for (int i = 0; out >= 0 && i < 16; i++) {
		ssize_t r = read(out, buf, sizeof(buf));

		if (r <= 0)
			break;
		keep(res, buf, (size_t)r);
	}
	if (out >= 0)
		close(out);
	if (in >= 0)
		close(in);
	return status;
}

int hook_run(const char *command, char *const *env, const char *input, size_t inlen, int timeout_s,
	     volatile int *interrupted, struct hook_result *res)
{
	int inp[2] = {-1, -1}, outp[2] = {-1, -1}, status;
	struct sigaction ign = {.sa_handler = SIG_IGN}, old;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	res->status = -1;
	if (pipe2(inp, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0)
		goto fail;
	if ((pid = fork()) < 0)
		goto fail;
	if (pid == 0)
		child(command, env, inp[0], outp[1]);
	setpgid(pid, pid);
	res->started = 1;
	close(inp[0]);
	close(outp[1]);
	fcntl(outp[0], F_SETFL, O_NONBLOCK);
	fcntl(inp[1], F_SETFL, O_NONBLOCK);
	/* a hook that does not read its stdin is no reason to die */
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, &old);
	/* supervise() closes both pipes */
	status = supervise(pid, inp[1], outp[0], input, inlen, timeout_s, interrupted, res);
	sigaction(SIGPIPE, &old, NULL);
	res->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return res->status == 0 && !res->timed_out ? 0 : -1;
fail:
	for (int i = 0; i < 2; i++) {
		if (inp[i] >= 0)
			close(inp[i]);
		if (outp[i] >= 0)
			close(outp[i]);
	}
	snprintf(res->output, sizeof(res->output), "cannot start: %s", strerror(errno));
	res->outlen = strlen(res->output);
	return -1;
}
