/*
 * The framed messages between the parent and its workers: u32 length, u8
 * type, then fields (u16 tag, u32 length, bytes). Bounded; a malformed
 * frame is a bug, so readers fail hard on it.
 */
#ifndef PKIROLL_WIRE_H
#define PKIROLL_WIRE_H

#include <stddef.h>

#define WIRE_MAX (4 * 1024 * 1024)

/* Message types: zero is STOP, so EOF reads as STOP; __MAX bounds them. */
enum wire_type {
	WIRE_STOP = 0, /* parent -> worker: exit */
	WIRE_JOB,      /* parent -> worker: one community */
	WIRE_STEP,     /* worker -> parent: a step reached; wait for ACK */
	WIRE_ACK,      /* parent -> worker: the step is in the store */
	WIRE_RESULT,   /* worker -> parent: the job's outcome */
	WIRE__MAX
};

/* A message body being built or read. Secrets in it are cleansed on free. */
struct wbuf {
	unsigned char *p;
	size_t len, cap;
	size_t pos; /* read position */
};

void wbuf_int(struct wbuf *b, int tag, long long v);
void wbuf_str(struct wbuf *b, int tag, const char *s);
void wbuf_blob(struct wbuf *b, int tag, const void *p, size_t n);
/* 1 if every append succeeded (appends after a failure are dropped). */
int wbuf_ok(const struct wbuf *b);
void wbuf_free(struct wbuf *b);

/*
 * Next field from the read position: 1 with tag/value, 0 at the end, -1 if
 * malformed.
 */
int wbuf_next(struct wbuf *b, int *tag, const unsigned char **v, size_t *n);

/* Field helpers on a value from wbuf_next(). */
long long wire_int(const unsigned char *v, size_t n);
/* NUL-terminated copy into out (truncated to outlen - 1). */
void wire_str(const unsigned char *v, size_t n, char *out, size_t outlen);

/* Writes one frame. Matched by wire_read(). Returns 1, 0 if the peer went away, -1. */
int wire_write(int fd, int type, const struct wbuf *b);

/*
 * Reads one frame into b (reset first). Matched by wire_write(). Returns 1,
 * 0 on EOF before a frame (type STOP), -1 on error or a malformed frame.
 */
int wire_read(int fd, int *type, struct wbuf *b);

#endif
