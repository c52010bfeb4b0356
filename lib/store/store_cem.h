/*
 * The store's side of certificate exchange messaging: which partner has not
 * yet been asked about which community's current certificates, the
 * requests written, and the partners' answers.
 */
#ifndef PKIROLL_STORE_CEM_H
#define PKIROLL_STORE_CEM_H

#include "base/fileio.h"
#include "store/store.h"

/* A current certificate a request covers. */
struct cem_cert {
	long long id;
	char usage[16]; /* signing, encryption */
	char serial[80];
	char issuer[1024];
	unsigned char *der; /* malloc'd */
	size_t len;
};

/* One partner and one community whose current certificates it has not
 * been asked about yet. */
struct cem_due {
	long long partner_id, community_id;
	char partner[256], partner_as2[160];
	char community[256], as2_id[160], response_url[1100];
	char ksdir[FILE_SAFE_NAME_MAX];
	struct cem_cert cert[2];
	int ncert;
	char replaced_serial[80]; /* the signing certificate the current one replaced */
};

typedef int store_cem_due_fn(void *arg, struct cem_due *d);

/* Calls fn for every (partner, community) pair due a request: linked, not
 * retired, with a current unrevoked certificate that no request to that
 * partner covers yet; with reissue, also when one does (a new request for
 * certificates asked about already). Filters: NULL for all. 0 or -1. */
int store_cem_due(struct pkiroll_store *s, const char *const *partners, int npartners,
		  const char *const *communities, int ncommunities, int reissue,
		  store_cem_due_fn *fn, void *arg);
void store_cem_due_clear(struct cem_due *d);

/* A request written: its id, the pair, the certificates it covers, its
 * file and whether it is signed. */
struct cem_written {
	char request_id[40];
	long long partner_id, community_id, cert_id[2];
	int ncert, is_signed;
	char partner[256];
	char path[2600];
};

/* Records n requests written, all or none (one transaction). 0 or -1. */
int store_cem_requests_add(struct pkiroll_store *s, const struct cem_written *w, size_t n);

/* One answer of a response. */
struct cem_answer {
	const char *status; /* Accepted, Rejected, Pending */
	const char *reason;
	const char *serial; /* upper-case hex */
	const char *issuer;
};

/*
 * Records a response's answers, all or none: the request must be ours, the
 * responder (as2, its TradingPartnerInfo/Name) the partner the request went
 * to (the partner's AS2 name, else its name), every certificate one it
 * covered, and no answer older than one recorded for that certificate
 * (originated, the response's MessageOriginated, is kept as answered_at;
 * the same time with another answer is refused too). Else err names the
 * element and nothing changes. 0, 1 refused (err says why), -1 error.
 */
int store_cem_answer(struct pkiroll_store *s, const char *request_id, const char *as2,
		     time_t originated, const struct cem_answer *a, int n, char *err,
		     size_t errlen);

/* The files of the requests a partner's latest rollover consists of (the
 * latest request per community), for its bundle. *paths is malloc'd. */
int store_cem_partner_files(struct pkiroll_store *s, long long partner_id, char ***paths,
			    size_t *n);

#endif
