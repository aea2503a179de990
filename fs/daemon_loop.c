/*
 * daemon_loop.c — the request loop: a pool of threads, each serving the
 * request it read before it reads the next.
 *
 * libfuse's multi-threaded loop keeps every idle thread blocked reading
 * /dev/fuse, and the kernel gives each request to the one that has waited
 * longest. A program making one request after another (a shell's open,
 * write, close; an ls) then has each served by another thread, often on
 * another CPU, with SQLite's pages and our nodes cold in its caches: 10%
 * of a created file (docs/performance.md). kvfs's handlers take turns on
 * fs->lock, so those threads bought little concurrency.
 *
 * Here one thread holds "the reading": it reads a request, serves it, and
 * reads again. A handler about to wait on the kernel — a cache
 * notification, which can wait for a request that only a reading thread
 * would serve — first passes the reading on (loop_pass_reading), to an idle
 * thread or a new one, up to the loop's limit, and goes idle once it has
 * replied. A handler waiting for fs->lock keeps the reading meanwhile; that
 * costs nothing, as every handler needs the lock, and no holder of the lock
 * waits on the kernel (notifications are sent after unlocking).
 */
#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "daemon.h"

struct worker {
	struct loop *loop;
	pthread_t thread;
	struct fuse_buf buf;
	bool reading; /* holds the reading */
	struct worker *next;
};

struct loop {
	struct fuse_session *se;
	pthread_mutex_t lock;
	pthread_cond_t wanted; /* the reading waits for an idle worker */
	sem_t ended;	       /* a worker saw the session end */
	struct worker *workers;
	unsigned count, idle, max;
	bool reader_wanted, stopping;
	int error;
};

static _Thread_local struct worker *this_worker;

static void *work(void *arg);

/* A new worker, holding the reading. Call with l->lock held. */
static int spawn(struct loop *l)
{
	if (l->stopping || l->count >= l->max)
		return -EAGAIN;
	struct worker *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->loop = l;
	w->reading = true;
	int r = pthread_create(&w->thread, NULL, work, w);
	if (r != 0) {
		free(w);
		return -r;
	}
	w->next = l->workers;
	l->workers = w;
	l->count++;
	return 0;
}

void loop_pass_reading(void)
{
	struct worker *w = this_worker;
	if (!w || !w->reading)
		return;
	struct loop *l = w->loop;
	w->reading = false;
	pthread_mutex_lock(&l->lock);
	/* With no thread to spare, the first to finish its request reads. */
	if (l->idle > 0 || spawn(l) < 0) {
		l->reader_wanted = true;
		pthread_cond_signal(&l->wanted);
	}
	pthread_mutex_unlock(&l->lock);
}

bool loop_holds_reading(void)
{
	return this_worker && this_worker->reading;
}

/* Wait idle until the reading is passed to us: false when stopping. */
static bool take_reading(struct loop *l)
{
	pthread_mutex_lock(&l->lock);
	l->idle++;
	while (!l->reader_wanted && !l->stopping)
		pthread_cond_wait(&l->wanted, &l->lock);
	l->idle--;
	bool taken = !l->stopping;
	if (taken)
		l->reader_wanted = false;
	pthread_mutex_unlock(&l->lock);
	return taken;
}

static void session_ended(struct loop *l, int error)
{
	pthread_mutex_lock(&l->lock);
	if (error < 0 && !l->error)
		l->error = error;
	pthread_mutex_unlock(&l->lock);
	fuse_session_exit(l->se);
	sem_post(&l->ended);
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct loop *l = w->loop;

	this_worker = w;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	for (;;) {
		if (!w->reading && !take_reading(l))
			break;
		w->reading = true;
		if (fuse_session_exited(l->se)) {
			session_ended(l, 0);
			break;
		}
		/* Only a read may be cancelled: the loop's end cancels the
		 * worker blocked here, never one serving a request. */
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		int res = fuse_session_receive_buf(l->se, &w->buf);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		if (res == -EINTR)
			continue;
		/* 0: unmounted (libfuse has ended the session) */
		if (res <= 0) {
			session_ended(l, res);
			break;
		}
		fuse_session_process_buf(l->se, &w->buf);
	}
	return NULL;
}

/*
 * libfuse's handlers for SIGHUP, SIGINT and SIGTERM end the session in
 * whichever thread takes the signal. The workers block them, so they reach
 * the main thread and interrupt its wait; it also looks at the session once
 * a second, for a signal another thread (the refresher) took.
 */
static void wait_for_end(struct loop *l)
{
	while (!fuse_session_exited(l->se)) {
		struct timespec t;
		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_sec += 1;
		sem_timedwait(&l->ended, &t);
	}
}

static void stop_workers(struct loop *l)
{
	pthread_mutex_lock(&l->lock);
	l->stopping = true;
	pthread_cond_broadcast(&l->wanted);
	pthread_mutex_unlock(&l->lock);
	/* No worker is spawned once stopping: the list is final. */
	for (struct worker *w = l->workers; w; w = w->next)
		pthread_cancel(w->thread);
	while (l->workers) {
		struct worker *w = l->workers;
		l->workers = w->next;
		pthread_join(w->thread, NULL);
		free(w->buf.mem);
		free(w);
	}
}

int loop_run(struct fuse_session *se, unsigned max_threads)
{
	struct loop l = {
		.se = se,
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.wanted = PTHREAD_COND_INITIALIZER,
		.max = max_threads ? max_threads : 1,
	};
	if (sem_init(&l.ended, 0, 0) != 0)
		return -errno;
	sigset_t ends, old;
	sigemptyset(&ends);
	sigaddset(&ends, SIGHUP);
	sigaddset(&ends, SIGINT);
	sigaddset(&ends, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &ends, &old);
	pthread_mutex_lock(&l.lock);
	int r = spawn(&l);
	pthread_mutex_unlock(&l.lock);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r == 0)
		wait_for_end(&l);
	stop_workers(&l);
	sem_destroy(&l.ended);
	return r < 0 ? r : l.error;
}
