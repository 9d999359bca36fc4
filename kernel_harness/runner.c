/*
 * damon-gym guest runner: executes one project workload inside the qemu guest of the
 * real-kernel harness (damon_gym/fidelity, docs/fidelity.md).  Written for damon-gym.
 *
 *   runner PLAN_FILE        run the workload the plan describes
 *   runner --flush USEC     sleep USEC in a loop (pinned beside the workload, it makes the
 *                           scheduler switch tasks, which under qemu TCG flushes the soft TLB
 *                           so that Accessed bits get set again after DAMON clears them)
 *
 * The plan is line based (one directive per line, '#' comments):
 *   policy bind N | policy interleave N,N,... | policy local
 *   unmovable pipe|mlock NODE BYTES     memory migration cannot move, placed on NODE
 *   region NAME BYTES POPULATE(0|1)     consecutive page-aligned slices of one mapping
 *   phase NAME MS                       then its patterns:
 *   pattern REGION RANDOM(0|1) STRIDE WEIGHT ro|wo|rw
 *   burst N                             accesses per pattern selection (masim: 131072)
 *   report_ms MS                        period of the KR_PAGES lines (0: start and end only)
 *   repeat 0|1                          loop over the phases until SIGTERM
 * Output lines (stdout, one write per line): KR_WL_* and KR_PAGES (page counts per region
 * and node from move_pages(2) in query mode).  Times are CLOCK_BOOTTIME seconds, the clock
 * of /proc/uptime, so they line up with what the guest init prints.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define MAX_REGIONS 64
#define MAX_PHASES 256
#define MAX_PATTERNS 64
#define MAX_NODES 16
#define MAX_UNMOV 16
#define POL_DEFAULT 0
#define POL_BIND 2
#define POL_INTERLEAVE 3

struct region { char name[128]; size_t off, size; int populate; };
struct pattern { int region, random, mode; size_t stride, cursor; long weight; };
struct phase { char name[128]; long ms; int nr; struct pattern pat[MAX_PATTERNS]; };
struct unmov { int pipe_mode, node; size_t bytes; };

static struct region regions[MAX_REGIONS];
static struct phase phases[MAX_PHASES];
static struct unmov unmovs[MAX_UNMOV];
static int nr_regions, nr_phases, nr_unmov, repeat;
static int policy = POL_DEFAULT;
static unsigned long policy_mask;
static long burst = 131072, report_ms = 1000;
static volatile sig_atomic_t stop;
static char *base;
static size_t total;
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static void out(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(1, line, n) < 0)
		_exit(3);
}

static void die(int lineno, const char *what, const char *got)
{
	out("KR_WL_ERROR plan line %d: %s (got '%s')", lineno, what, got);
	exit(2);
}

static double uptime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int find_region(const char *name)
{
	for (int i = 0; i < nr_regions; i++)
		if (!strcmp(regions[i].name, name))
			return i;
	return -1;
}

static long num(const char *s, int lineno, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0)
		die(lineno, what, s);
	return v;
}

static void parse_plan(const char *path)
{
	char buf[512], a[8][128];
	FILE *f = fopen(path, "r");
	int lineno = 0;

	if (!f) {
		out("KR_WL_ERROR cannot open plan %s: %s", path, strerror(errno));
		exit(2);
	}
	while (fgets(buf, sizeof(buf), f)) {
		int n;

		lineno++;
		if (buf[0] == '#' || buf[0] == '\n')
			continue;
		memset(a, 0, sizeof(a));
		n = sscanf(buf, "%127s %127s %127s %127s %127s %127s %127s", a[0], a[1], a[2],
			   a[3], a[4], a[5], a[6]);
		if (!strcmp(a[0], "region") && n == 4) {
			struct region *r = &regions[nr_regions];

			if (nr_regions == MAX_REGIONS)
				die(lineno, "too many regions", a[1]);
			snprintf(r->name, sizeof(r->name), "%s", a[1]);
			r->size = (num(a[2], lineno, "region bytes") + PAGE - 1) & ~(PAGE - 1);
			r->populate = num(a[3], lineno, "region populate") != 0;
			if (!r->size)
				die(lineno, "region bytes > 0", a[2]);
			r->off = total;
			total += r->size;
			nr_regions++;
		} else if (!strcmp(a[0], "phase") && n == 3) {
			if (nr_phases == MAX_PHASES)
				die(lineno, "too many phases", a[1]);
			snprintf(phases[nr_phases].name, sizeof(phases[0].name), "%s", a[1]);
			phases[nr_phases].ms = num(a[2], lineno, "phase ms");
			nr_phases++;
		} else if (!strcmp(a[0], "pattern") && n == 6) {
			struct phase *p;
			struct pattern *q;

			if (!nr_phases)
				die(lineno, "a pattern after a phase line", a[1]);
			p = &phases[nr_phases - 1];
			if (p->nr == MAX_PATTERNS)
				die(lineno, "too many patterns", a[1]);
			q = &p->pat[p->nr++];
			q->region = find_region(a[1]);
			if (q->region < 0)
				die(lineno, "pattern region: a region defined above", a[1]);
			q->random = num(a[2], lineno, "pattern random") != 0;
			q->stride = num(a[3], lineno, "pattern stride");
			q->weight = num(a[4], lineno, "pattern weight");
			if (!strcmp(a[5], "ro"))
				q->mode = 0;
			else if (!strcmp(a[5], "wo"))
				q->mode = 1;
			else if (!strcmp(a[5], "rw"))
				q->mode = 2;
			else
				die(lineno, "pattern mode ro|wo|rw", a[5]);
		} else if (!strcmp(a[0], "policy") && n >= 2) {
			if (!strcmp(a[1], "local")) {
				policy = POL_DEFAULT;
				continue;
			}
			if (n != 3)
				die(lineno, "policy bind N | interleave N,N | local", buf);
			policy = !strcmp(a[1], "bind") ? POL_BIND :
				 !strcmp(a[1], "interleave") ? POL_INTERLEAVE : -1;
			if (policy < 0)
				die(lineno, "policy bind|interleave|local", a[1]);
			for (char *t = strtok(a[2], ","); t; t = strtok(NULL, ",")) {
				long nd = num(t, lineno, "policy node");

				if (nd >= MAX_NODES)
					die(lineno, "policy node < 16", t);
				policy_mask |= 1UL << nd;
			}
		} else if (!strcmp(a[0], "unmovable") && n == 4) {
			struct unmov *u = &unmovs[nr_unmov];

			if (nr_unmov == MAX_UNMOV)
				die(lineno, "too many unmovable lines", a[1]);
			if (strcmp(a[1], "pipe") && strcmp(a[1], "mlock"))
				die(lineno, "unmovable pipe|mlock", a[1]);
			u->pipe_mode = !strcmp(a[1], "pipe");
			u->node = num(a[2], lineno, "unmovable node");
			u->bytes = num(a[3], lineno, "unmovable bytes");
			if (u->node >= MAX_NODES)
				die(lineno, "unmovable node < 16", a[2]);
			nr_unmov++;
		} else if (!strcmp(a[0], "burst") && n == 2) {
			burst = num(a[1], lineno, "burst");
		} else if (!strcmp(a[0], "report_ms") && n == 2) {
			report_ms = num(a[1], lineno, "report_ms");
		} else if (!strcmp(a[0], "repeat") && n == 2) {
			repeat = num(a[1], lineno, "repeat") != 0;
		} else {
			die(lineno, "a known directive with its arguments", buf);
		}
	}
	fclose(f);
	if (!nr_regions || !nr_phases)
		die(lineno, "at least one region and one phase", "");
	for (int i = 0; i < nr_phases; i++)
		if (!phases[i].nr)
			die(lineno, "every phase has a pattern", phases[i].name);
}

static int set_policy(int mode, unsigned long mask)
{
	return syscall(SYS_set_mempolicy, mode, mode == POL_DEFAULT ? NULL : &mask,
		       mode == POL_DEFAULT ? 0 : MAX_NODES + 1);
}

static void touch(size_t off, size_t size)
{
	for (size_t o = 0; o < size; o += PAGE)
		base[off + o] = 1;
}

/* unmovable memory: pipe buffers are kernel pages (not movable); mlock'ed pages are
 * user pages the kernel keeps resident (migration may still move them on some kernels) */
static void place_unmovable(void)
{
	for (int i = 0; i < nr_unmov; i++) {
		struct unmov *u = &unmovs[i];
		size_t done = 0;

		if (set_policy(POL_BIND, 1UL << u->node))
			out("KR_WL_ERROR set_mempolicy(bind %d): %s", u->node, strerror(errno));
		if (u->pipe_mode) {
			static char chunk[1 << 16];

			memset(chunk, 0x5a, sizeof(chunk));
			while (done < u->bytes) {
				int fd[2];
				size_t cap = 1 << 20, put = 0;

				if (pipe(fd)) {
					out("KR_WL_ERROR pipe: %s", strerror(errno));
					break;
				}
				if (fcntl(fd[1], F_SETPIPE_SZ, (int)cap) < 0)
					cap = 1 << 16;
				fcntl(fd[1], F_SETFL, O_NONBLOCK);
				while (put < cap && done < u->bytes) {
					ssize_t w = write(fd[1], chunk, sizeof(chunk));

					if (w <= 0)
						break;
					put += w;
					done += w;
				}
				if (!put)
					break;
			}
		} else {
			char *m = mmap(NULL, u->bytes, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (m == MAP_FAILED || mlock(m, u->bytes)) {
				out("KR_WL_ERROR mlock %zu: %s", u->bytes, strerror(errno));
			} else {
				for (size_t o = 0; o < u->bytes; o += PAGE)
					m[o] = 1;
				done = u->bytes;
			}
		}
		out("KR_WL_UNMOVABLE mode=%s node=%d bytes=%zu placed=%zu",
		    u->pipe_mode ? "pipe" : "mlock", u->node, u->bytes, done);
	}
	set_policy(POL_DEFAULT, 0);
}

static void report(const char *tag)
{
	static void **pages;
	static int *status;
	size_t n = total / PAGE;
	double t = uptime();

	if (!pages) {
		pages = malloc(n * sizeof(*pages));
		status = malloc(n * sizeof(*status));
		if (!pages || !status) {
			out("KR_WL_ERROR no memory for the page report");
			exit(2);
		}
	}
	for (size_t i = 0; i < n; i++)
		pages[i] = base + i * PAGE;
	if (syscall(SYS_move_pages, 0, n, pages, NULL, status, 0)) {
		out("KR_WL_ERROR move_pages: %s", strerror(errno));
		return;
	}
	for (int r = 0; r < nr_regions; r++) {
		long cnt[MAX_NODES] = {0}, none = 0;
		char line[512];
		int len = 0;

		for (size_t i = regions[r].off / PAGE; i < (regions[r].off + regions[r].size) / PAGE; i++) {
			if (status[i] >= 0 && status[i] < MAX_NODES)
				cnt[status[i]]++;
			else
				none++;
		}
		for (int nd = 0; nd < MAX_NODES; nd++)
			if (cnt[nd])
				len += snprintf(line + len, sizeof(line) - len, " n%d=%ld", nd, cnt[nd]);
		out("KR_PAGES tag=%s up=%.3f region=%s none=%ld%s", tag, t, regions[r].name, none, line);
	}
}

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void run_burst(struct pattern *q)
{
	struct region *r = &regions[q->region];
	volatile char *p = (volatile char *)(base + r->off);
	size_t size = r->size, stride = q->stride, cur = q->cursor;

	/* one tight loop per kind: the sweep rate is what makes a page look hot to DAMON */
	if (q->random) {
		for (long i = 0; i < burst; i++) {
			size_t o = next_rand() % size;

			if (q->mode == 0)
				(void)p[o];
			else if (q->mode == 1)
				p[o] = 1;
			else
				p[o] = p[o] + 1;
		}
		return;
	}
	for (long i = 0; i < burst; i++) {
		cur += stride;
		if (cur >= size)
			cur = 0;
		if (q->mode == 0)
			(void)p[cur];
		else if (q->mode == 1)
			p[cur] = 1;
		else
			p[cur] = p[cur] + 1;
	}
	q->cursor = cur;
}

static int flush_helper(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	for (;;)
		nanosleep(&ts, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	double next_report, phase_end;
	long bursts = 0;

	if (argc == 3 && !strcmp(argv[1], "--flush"))
		return flush_helper(atol(argv[2]) > 0 ? atol(argv[2]) : 1000);
	if (argc != 2) {
		fprintf(stderr, "usage: runner PLAN | runner --flush USEC\n");
		return 2;
	}
	parse_plan(argv[1]);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	place_unmovable();
	base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		out("KR_WL_ERROR mmap %zu: %s", total, strerror(errno));
		return 2;
	}
	madvise(base, total, MADV_NOHUGEPAGE);
	if (policy != POL_DEFAULT && set_policy(policy, policy_mask))
		out("KR_WL_ERROR set_mempolicy: %s", strerror(errno));
	int lazy = 0;
	for (int i = 0; i < nr_regions; i++) {
		if (regions[i].populate)
			touch(regions[i].off, regions[i].size);
		else
			lazy = 1;
	}
	if (!lazy) /* everything placed: later migrations owe nothing to the policy */
		set_policy(POL_DEFAULT, 0);
	out("KR_WL_START pid=%d base=%lu size=%zu up=%.3f", getpid(), (unsigned long)base, total,
	    uptime());
	for (int i = 0; i < nr_regions; i++)
		out("KR_WL_REGION name=%s start=%lu end=%lu populate=%d", regions[i].name,
		    (unsigned long)(base + regions[i].off),
		    (unsigned long)(base + regions[i].off + regions[i].size), regions[i].populate);
	report("start");
	out("KR_WL_READY up=%.3f", uptime());
	next_report = uptime() + report_ms / 1000.0;
	do {
		for (int ph = 0; ph < nr_phases && !stop; ph++) {
			struct phase *p = &phases[ph];
			long sum = 0;

			for (int k = 0; k < p->nr; k++)
				sum += p->pat[k].weight;
			for (int k = 0; k < p->nr; k++)
				p->pat[k].cursor = 0;
			out("KR_WL_PHASE name=%s up=%.3f", p->name, uptime());
			phase_end = uptime() + p->ms / 1000.0;
			while (!stop && uptime() < phase_end) {
				if (sum > 0) {
					long pick = (long)(next_rand() % (uint64_t)sum), k = 0;

					while (pick >= p->pat[k].weight)
						pick -= p->pat[k++].weight;
					run_burst(&p->pat[k]);
					bursts++;
				}
				if (report_ms && uptime() >= next_report) {
					report("run");
					next_report += report_ms / 1000.0;
				}
			}
		}
	} while (repeat && !stop);
	while (!stop) /* the plan is over: stay idle (and reportable) until the init stops us */
		pause();
	report("end");
	out("KR_WL_END bursts=%ld up=%.3f", bursts, uptime());
	return 0;
}
